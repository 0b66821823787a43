//! Transfer calls: the ACH create sends exactly four fields and never `timing`, the list sends only
//! the spec's query parameters, the cancel is a DELETE, and a `Transfer` with fields Alpaca left
//! out is still read. Then the same through the `Broker` port: every page of the list oldest first,
//! the lookup by id, the documented refusals (403, 422, 404), a 429 retried, a 500 on create not
//! resent and reported as outcome-unknown, and `cash_withdrawable`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{
    BASIC_AUTH, RELATIONSHIP, TRANSFER, account, alpaca_error, client, relationship_id,
    transfer_id, transfer_json, transfers_path,
};
use funding_alpaca::{NewAchTransfer, TransferDirection, TransferQuery, TransferType};
use funding_core::ports::ProviderErrorKind;
use funding_domain::{AlpacaTransferStatus, Amount};
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn deposit(amount: &str) -> NewAchTransfer {
    NewAchTransfer {
        relationship_id: relationship_id(),
        amount: Amount::parse(amount).unwrap(),
        direction: TransferDirection::Incoming,
    }
}

#[tokio::test]
async fn a_deposit_sends_the_four_ach_fields_and_never_timing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .and(header("authorization", BASIC_AUTH))
        .and(body_json(json!({
            "transfer_type": "ach",
            "relationship_id": RELATIONSHIP,
            "amount": "500.00",
            "direction": "INCOMING"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "INCOMING")))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server.uri())
        .create_transfer(account(), &deposit("500"))
        .await
        .unwrap();

    assert_eq!(created.id, transfer_id());
    assert_eq!(created.status, AlpacaTransferStatus::Queued);
    assert_eq!(created.transfer_type, TransferType::Ach);
    assert_eq!(created.direction, TransferDirection::Incoming);
    assert_eq!(created.amount, Decimal::from(498));
    assert_eq!(created.amount_usd().unwrap().to_string(), "498.00");
    assert_eq!(created.requested_amount, Some(Decimal::from(500)));
    assert_eq!(created.relationship_id, Some(relationship_id()));
    let body: serde_json::Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert!(body.get("timing").is_none());
}

#[tokio::test]
async fn a_withdrawal_is_outgoing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .and(body_json(json!({
            "transfer_type": "ach",
            "relationship_id": RELATIONSHIP,
            "amount": "12.34",
            "direction": "OUTGOING"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "OUTGOING")))
        .expect(1)
        .mount(&server)
        .await;
    let withdrawal = NewAchTransfer {
        direction: TransferDirection::Outgoing,
        ..deposit("12.34")
    };
    let created = client(&server.uri())
        .create_transfer(account(), &withdrawal)
        .await
        .unwrap();
    assert_eq!(created.direction, TransferDirection::Outgoing);
}

#[tokio::test]
async fn an_unknown_direction_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let odd = NewAchTransfer {
        direction: TransferDirection::Unknown("SIDEWAYS".into()),
        ..deposit("1")
    };
    let error = client(&server.uri())
        .create_transfer(account(), &odd)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn refusals_of_a_transfer_keep_alpacas_message_and_a_server_error_is_not_resent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .respond_with(ResponseTemplate::new(403).set_body_json(alpaca_error(
            40310000,
            "deposits are not permitted for this account",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(alpaca_error(50300000, "unavailable")),
        )
        .mount(&server)
        .await;
    let client = client(&server.uri());

    let forbidden = client
        .create_transfer(account(), &deposit("5"))
        .await
        .unwrap_err();
    assert_eq!(forbidden.kind, ProviderErrorKind::Forbidden);
    assert_eq!(
        forbidden.message,
        "deposits are not permitted for this account"
    );
    let unavailable = client
        .create_transfer(account(), &deposit("5"))
        .await
        .unwrap_err();
    assert_eq!(unavailable.kind, ProviderErrorKind::Unavailable);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn listing_sends_direction_limit_and_offset_and_reads_a_bare_array() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .and(query_param("direction", "OUTGOING"))
        .and(query_param("limit", "50"))
        .and(query_param("offset", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([transfer_json("COMPLETE", "OUTGOING")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let query = TransferQuery {
        direction: Some(TransferDirection::Outgoing),
        limit: Some(50),
        offset: Some(100),
    };
    let listed = client(&server.uri())
        .list_transfers(account(), &query)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, AlpacaTransferStatus::Complete);
    assert_eq!(
        server.received_requests().await.unwrap()[0]
            .url
            .query_pairs()
            .count(),
        3
    );
}

#[tokio::test]
async fn listing_without_filters_sends_no_query_and_reads_transfers_missing_optional_fields() {
    let server = MockServer::start().await;
    // alpaca-py#219: requested_amount, fee and fee_payment_method were absent.
    let sparse = json!({
        "id": TRANSFER, "account_id": common::ACCOUNT, "type": "ach", "status": "SETTLED",
        "amount": "100.00", "direction": "INCOMING", "created_at": "2021-05-05T07:55:31Z"
    });
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([sparse])))
        .expect(1)
        .mount(&server)
        .await;
    let listed = client(&server.uri())
        .list_transfers(account(), &TransferQuery::default())
        .await
        .unwrap();
    let transfer = &listed[0];
    assert_eq!(
        transfer.status,
        AlpacaTransferStatus::Unknown("SETTLED".into())
    );
    assert_eq!(transfer.requested_amount, None);
    assert_eq!(transfer.fee, None);
    assert_eq!(transfer.fee_payment_method, None);
    assert_eq!(transfer.relationship_id, None);
    assert_eq!(transfer.updated_at, None);
    assert_eq!(transfer.expires_at, None);
    assert_eq!(
        server.received_requests().await.unwrap()[0].url.query(),
        None
    );
}

#[tokio::test]
async fn cancelling_sends_a_delete_and_an_unknown_transfer_is_not_found() {
    let server = MockServer::start().await;
    let transfer_path = format!("{}/{TRANSFER}", transfers_path());
    Mock::given(method("DELETE"))
        .and(path(transfer_path.as_str()))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(transfer_path.as_str()))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(alpaca_error(40410000, "Transfer Not Found")),
        )
        .mount(&server)
        .await;
    let client = client(&server.uri());

    client
        .cancel_transfer(account(), transfer_id())
        .await
        .unwrap();
    let error = client
        .cancel_transfer(account(), transfer_id())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(error.message, "Transfer Not Found");
}

// ---- the Broker port ----------------------------------------------------------------------------

mod port {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Duration, Utc};
    use funding_core::ports::{Broker, ProviderErrorKind, TransferDirection};
    use funding_domain::{AlpacaTransferStatus, Amount, ProviderTransferId};
    use rust_decimal::Decimal;
    use serde_json::{Value, json};
    use uuid::Uuid;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::common::{
        ACCOUNT, BASIC_AUTH, KEY_ID, RELATIONSHIP, SECRET, TRANSFER, account, alpaca_error, client,
        relationship_id, transfer_id, transfer_json, transfers_path,
    };

    /// The client as the port: the inherent calls of the same names take other arguments.
    fn broker(base_url: &str) -> Box<dyn Broker> {
        Box::new(client(base_url))
    }

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn trading_path() -> String {
        format!("/v1/trading/accounts/{ACCOUNT}/account")
    }

    /// A transfer of the account with its own id, created `minutes` after a fixed instant.
    fn listed(id: Uuid, minutes: i64) -> Value {
        let mut transfer = transfer_json("COMPLETE", "INCOMING");
        transfer["id"] = json!(id);
        let created = at("2025-01-01T00:00:00Z") + Duration::minutes(minutes);
        transfer["created_at"] = json!(created.to_rfc3339());
        transfer
    }

    async fn deposit(server: &MockServer) -> funding_core::ports::ProviderError {
        broker(&server.uri())
            .create_transfer(
                account(),
                relationship_id(),
                &amount("100"),
                TransferDirection::Deposit,
            )
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_deposit_is_exactly_the_documented_request_and_the_full_answer_is_read() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(transfers_path()))
            .and(header("authorization", BASIC_AUTH))
            .and(header("content-type", "application/json"))
            .and(header("accept", "application/json"))
            .and(body_json(json!({
                "transfer_type": "ach",
                "relationship_id": RELATIONSHIP,
                "amount": "100.00",
                "direction": "INCOMING"
            })))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "INCOMING")),
            )
            .expect(1)
            .mount(&server)
            .await;

        let created = broker(&server.uri())
            .create_transfer(
                account(),
                relationship_id(),
                &amount("100"),
                TransferDirection::Deposit,
            )
            .await
            .unwrap();

        assert_eq!(created.id, transfer_id());
        assert_eq!(created.account_id, account());
        assert_eq!(created.relationship_id, Some(relationship_id()));
        assert_eq!(created.amount, Decimal::from(498));
        assert_eq!(created.direction, TransferDirection::Deposit);
        assert_eq!(created.status, AlpacaTransferStatus::Queued);
        assert_eq!(created.reason, None);
        assert_eq!(created.created_at, at("2021-05-05T07:55:31.190788Z"));
        assert_eq!(created.updated_at, Some(at("2021-05-05T08:13:33.029539Z")));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].url.query(), None);
        let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 4);
        assert!(body.get("timing").is_none(), "timing is never sent");
    }

    #[tokio::test]
    async fn a_withdrawal_is_outgoing_and_an_answer_without_the_optional_fields_is_read() {
        let server = MockServer::start().await;
        let sparse = json!({
            "id": TRANSFER, "account_id": ACCOUNT, "type": "ach", "status": "QUEUED",
            "amount": "12.34", "direction": "OUTGOING", "created_at": "2025-04-11T19:52:24Z"
        });
        Mock::given(method("POST"))
            .and(path(transfers_path()))
            .and(body_json(json!({
                "transfer_type": "ach",
                "relationship_id": RELATIONSHIP,
                "amount": "12.34",
                "direction": "OUTGOING"
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(sparse))
            .expect(1)
            .mount(&server)
            .await;
        let created = broker(&server.uri())
            .create_transfer(
                account(),
                relationship_id(),
                &amount("12.34"),
                TransferDirection::Withdrawal,
            )
            .await
            .unwrap();
        assert_eq!(created.direction, TransferDirection::Withdrawal);
        assert_eq!(created.amount, Decimal::new(1234, 2));
        assert_eq!(created.relationship_id, None);
        assert_eq!(created.reason, None);
        assert_eq!(created.updated_at, None);
        assert_eq!(created.created_at, at("2025-04-11T19:52:24Z"));
    }

    #[tokio::test]
    async fn a_return_reason_and_an_unknown_status_are_kept_and_an_unknown_direction_is_refused() {
        let server = MockServer::start().await;
        let mut returned = transfer_json("RETURNED", "INCOMING");
        returned["reason"] = json!("R01 insufficient funds");
        let mut odd = listed(Uuid::new_v4(), 1);
        odd["status"] = json!("SETTLED");
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([returned, odd])))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        let mut sideways = transfer_json("QUEUED", "SIDEWAYS");
        sideways["id"] = json!(Uuid::new_v4());
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([sideways])))
            .mount(&server)
            .await;
        let client = broker(&server.uri());

        let transfers = client.list_transfers(account(), None).await.unwrap();
        assert_eq!(transfers.len(), 2);
        assert_eq!(transfers[0].status, AlpacaTransferStatus::Returned);
        assert_eq!(
            transfers[0].reason.as_deref(),
            Some("R01 insufficient funds")
        );
        assert_eq!(
            transfers[1].status,
            AlpacaTransferStatus::Unknown("SETTLED".into())
        );

        let error = client.list_transfers(account(), None).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode);
        assert!(error.message.contains("SIDEWAYS"), "{}", error.message);
    }

    #[tokio::test]
    async fn the_list_reads_every_page_and_gives_the_transfers_oldest_first() {
        let server = MockServer::start().await;
        let page_size = funding_alpaca::TRANSFER_PAGE_SIZE as usize;
        // Alpaca's emulator lists newest first: minutes page_size … 0.
        let ids: Vec<Uuid> = (0..=page_size).map(|_| Uuid::new_v4()).collect();
        let newest_first: Vec<Value> = ids
            .iter()
            .enumerate()
            .rev()
            .map(|(minutes, id)| listed(*id, minutes as i64))
            .collect();
        let (first, second) = newest_first.split_at(page_size);
        let limit = page_size.to_string();
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .and(header("authorization", BASIC_AUTH))
            .and(query_param("direction", "INCOMING"))
            .and(query_param("limit", limit.as_str()))
            .and(query_param("offset", "0"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(first)))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .and(query_param("direction", "INCOMING"))
            .and(query_param("limit", limit.as_str()))
            .and(query_param("offset", limit.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(second)))
            .expect(1)
            .mount(&server)
            .await;

        let transfers = broker(&server.uri())
            .list_transfers(account(), Some(TransferDirection::Deposit))
            .await
            .unwrap();

        let got: Vec<Uuid> = transfers.iter().map(|t| t.id.as_uuid()).collect();
        assert_eq!(got, ids, "every transfer once, oldest first");
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            assert_eq!(request.method.as_str(), "GET");
            assert_eq!(request.url.query_pairs().count(), 3);
        }
    }

    #[tokio::test]
    async fn a_transfer_seen_on_two_pages_is_kept_once_and_an_ignored_offset_is_an_error() {
        let page_size = funding_alpaca::TRANSFER_PAGE_SIZE as usize;
        let page: Vec<Value> = (0..page_size)
            .map(|minutes| listed(Uuid::new_v4(), minutes as i64))
            .collect();

        // The second page repeats the last of the first (a new transfer shifted the list).
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("offset", "0"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(page)))
            .mount(&server)
            .await;
        let repeated = page[page_size - 1].clone();
        Mock::given(method("GET"))
            .and(query_param("offset", page_size.to_string().as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([repeated])))
            .mount(&server)
            .await;
        let transfers = broker(&server.uri())
            .list_transfers(account(), None)
            .await
            .unwrap();
        assert_eq!(transfers.len(), page_size);

        // A server that answers the same full page whatever the offset.
        let stuck = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(page)))
            .mount(&stuck)
            .await;
        let error = broker(&stuck.uri())
            .list_transfers(account(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode);
        assert_eq!(stuck.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn get_transfer_finds_the_id_in_the_list_and_none_when_it_is_not_there() {
        let server = MockServer::start().await;
        let other = Uuid::new_v4();
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .and(query_param("offset", "0"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                listed(other, 2),
                transfer_json("SENT_TO_CLEARING", "OUTGOING"),
            ])))
            .mount(&server)
            .await;
        let client = broker(&server.uri());

        let found = client
            .get_transfer(account(), transfer_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, transfer_id());
        assert_eq!(found.status, AlpacaTransferStatus::SentToClearing);
        assert_eq!(found.direction, TransferDirection::Withdrawal);
        let missing = client
            .get_transfer(account(), ProviderTransferId::from_uuid(Uuid::new_v4()))
            .await
            .unwrap();
        assert_eq!(missing, None);
        let requests = server.received_requests().await.unwrap();
        assert!(
            requests
                .iter()
                .all(|r| r.method.as_str() == "GET" && r.url.path() == transfers_path()),
            "no GET by id: Alpaca has none"
        );
    }

    #[tokio::test]
    async fn a_forbidden_deposit_or_withdrawal_is_forbidden_with_alpacas_message() {
        for (direction, message) in [
            (
                TransferDirection::Deposit,
                "deposits are not permitted for this account",
            ),
            (
                TransferDirection::Withdrawal,
                "withdrawals are not permitted for this account",
            ),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(403)
                        .insert_header("x-request-id", "req-403")
                        .set_body_json(alpaca_error(40310000, message)),
                )
                .mount(&server)
                .await;
            let error = broker(&server.uri())
                .create_transfer(account(), relationship_id(), &amount("5"), direction)
                .await
                .unwrap_err();
            assert_eq!(error.kind, ProviderErrorKind::Forbidden);
            assert_eq!(error.message, message);
            assert_eq!(error.code, "40310000");
            assert_eq!(error.http_status, Some(403));
            assert_eq!(error.request_id.as_deref(), Some("req-403"));
            assert!(!error.outcome_unknown());
            assert_eq!(server.received_requests().await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn an_invalid_relationship_is_invalid_input_and_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(422)
                    .set_body_json(alpaca_error(42210000, "invalid relationship_id")),
            )
            .mount(&server)
            .await;
        let error = deposit(&server).await;
        assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
        assert_eq!(error.message, "invalid relationship_id");
        assert!(!error.outcome_unknown() && !error.is_retryable());
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_500_on_create_is_not_resent_and_leaves_the_outcome_unknown() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(500)
                    .set_body_json(alpaca_error(50010000, "internal server error occurred")),
            )
            .mount(&server)
            .await;
        let error = deposit(&server).await;
        assert_eq!(error.kind, ProviderErrorKind::Unavailable);
        assert!(error.outcome_unknown());
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "a create whose outcome is unknown is never resent"
        );
    }

    #[tokio::test]
    async fn a_429_on_create_is_retried_since_alpaca_did_not_process_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .set_body_json(alpaca_error(42910000, "rate limit exceeded")),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "INCOMING")),
            )
            .mount(&server)
            .await;
        let created = broker(&server.uri())
            .create_transfer(
                account(),
                relationship_id(),
                &amount("1"),
                TransferDirection::Deposit,
            )
            .await
            .unwrap();
        assert_eq!(created.id, transfer_id());
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_list_is_a_read_retried_on_429_and_5xx() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(429)
                    .set_body_json(alpaca_error(42910000, "rate limit exceeded")),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).set_body_json(alpaca_error(50310000, "x")))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([transfer_json("COMPLETE", "INCOMING")])),
            )
            .mount(&server)
            .await;
        let transfers = broker(&server.uri())
            .list_transfers(account(), None)
            .await
            .unwrap();
        assert_eq!(transfers.len(), 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn cancelling_is_a_delete_answered_204_and_an_unknown_transfer_is_not_found() {
        let server = MockServer::start().await;
        let transfer_path = format!("{}/{TRANSFER}", transfers_path());
        Mock::given(method("DELETE"))
            .and(path(transfer_path.as_str()))
            .and(header("authorization", BASIC_AUTH))
            .respond_with(ResponseTemplate::new(204))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(transfer_path.as_str()))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(alpaca_error(40410000, "Transfer Not Found")),
            )
            .mount(&server)
            .await;
        let client = broker(&server.uri());

        client
            .cancel_transfer(account(), transfer_id())
            .await
            .unwrap();
        let error = client
            .cancel_transfer(account(), transfer_id())
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::NotFound);
        assert_eq!(error.message, "Transfer Not Found");
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        assert!(requests[0].body.is_empty());
    }

    #[tokio::test]
    async fn withdrawable_cash_is_the_trading_accounts_cash_withdrawable() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(trading_path()))
            .and(header("authorization", BASIC_AUTH))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": ACCOUNT, "account_number": "935142145", "status": "ACTIVE", "currency": "USD",
                "cash": "24861.91", "cash_withdrawable": "17861.91", "cash_transferable": "24861.91",
                "pending_transfer_out": "0", "pending_transfer_in": "500", "buying_power": "1",
                "transfers_blocked": false, "created_at": "2021-03-01T13:28:49.270232Z"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let cash = broker(&server.uri())
            .withdrawable_cash(account())
            .await
            .unwrap();
        assert_eq!(cash, Decimal::new(1_786_191, 2));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests[0].method.as_str(), "GET");
        assert_eq!(requests[0].url.query(), None);
    }

    #[tokio::test]
    async fn withdrawable_cash_without_decimals_is_read_and_a_missing_one_is_a_decode_error() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(trading_path()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"cash": "0", "cash_withdrawable": "0"})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(trading_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"cash": "10"})))
            .mount(&server)
            .await;
        let client = broker(&server.uri());
        assert_eq!(
            client.withdrawable_cash(account()).await.unwrap(),
            Decimal::ZERO
        );
        let error = client.withdrawable_cash(account()).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode);
    }

    #[tokio::test]
    async fn withdrawable_cash_of_an_unknown_account_is_not_found_after_retrying_a_429() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(429)
                    .set_body_json(alpaca_error(42910000, "rate limit exceeded")),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(alpaca_error(40410000, "account not found")),
            )
            .mount(&server)
            .await;
        let error = broker(&server.uri())
            .withdrawable_cash(account())
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::NotFound);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    /// Captures every log line at every level on this thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn no_error_or_log_line_of_the_transfer_calls_shows_a_credential() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let server = MockServer::start().await;
        let echo = format!("key {KEY_ID} secret {SECRET} refused");
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(403).set_body_json(alpaca_error(40310000, &echo)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(transfers_path()))
            .respond_with(ResponseTemplate::new(503).set_body_json(alpaca_error(50310000, &echo)))
            .mount(&server)
            .await;
        let mut unknown = transfer_json("ON_HOLD", "INCOMING");
        unknown["id"] = json!(Uuid::new_v4());
        Mock::given(method("GET"))
            .and(path(trading_path()))
            .respond_with(ResponseTemplate::new(422).set_body_json(alpaca_error(42210000, &echo)))
            .mount(&server)
            .await;
        let client = broker(&server.uri());

        let errors = [
            deposit(&server).await,
            client.list_transfers(account(), None).await.unwrap_err(),
            client.withdrawable_cash(account()).await.unwrap_err(),
        ];
        let credentials = BASIC_AUTH.trim_start_matches("Basic ");
        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                for secret in [KEY_ID, SECRET, credentials] {
                    assert!(!text.contains(secret), "{text}");
                }
            }
        }

        let logs_server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([unknown])))
            .mount(&logs_server)
            .await;
        broker(&logs_server.uri())
            .list_transfers(account(), None)
            .await
            .unwrap();

        // Only absences are asserted here: other tests of this binary share the log callsites,
        // which makes a thread-local subscriber miss lines now and then (the unknown status is
        // seen logged by a unit test of src/transfers.rs, the retry by tests/secrets.rs).
        let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        for secret in [KEY_ID, SECRET, credentials] {
            assert!(!logs.contains(secret), "the logs show {secret}");
        }
    }
}
