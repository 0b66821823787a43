//! The inherent transfer calls: the ACH create sends exactly four fields and never `timing`, the list
//! sends only the spec's query parameters, the cancel is a DELETE, and a `Transfer` with fields
//! Alpaca left out is still read. The same through the `Broker` port is in `port_transfers.rs` and
//! `port_transfer_lists.rs`; the trading account's figures in `account_funds.rs`.
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
