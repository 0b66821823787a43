//! Transfer lists through the `Broker` port: every page oldest first, the lookup by id, the amounts
//! (requested amount and fee too), the list retried as a read; and a transfer that cannot be read
//! skipped, never failing the list.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{
    BASIC_AUTH, account, alpaca_error, broker, listed, transfer_id, transfer_json, transfers_path,
};
use funding_core::ports::{ProviderErrorKind, TransferDirection};
use funding_domain::{AlpacaTransferStatus, ProviderTransferId};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
    // Alpaca's sample: 500 asked for, a fee of 2, 498 received.
    assert_eq!(found.amount, Decimal::from(498));
    assert_eq!(found.requested_amount, Some(Decimal::from(500)));
    assert_eq!(found.fee, Some(Decimal::from(2)));
    assert_eq!(found.requested(), Decimal::from(500));
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
async fn the_list_is_a_read_retried_on_429_and_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(alpaca_error(42910000, "rate limit exceeded")),
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
