//! One bank transfer on the wire: the create sends every field given (never a routing number) and
//! leaves out every unset one; the transfer Plaid returns is read field by field, values Plaid
//! added later kept as sent; fetched and cancelled by id.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use funding_core::ports::{BankTransferFailure, BankTransferGateway};
use funding_domain::OrUnknown::{Known, Unknown};
use funding_domain::{
    AchClass, AchReturnCode, BankTransferDirection, BankTransferType, Network,
    PlaidBankTransferStatus,
};
use serde_json::json;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::bank_transfers::{full_request, minimal_request, transfer_id};
use crate::support::*;

#[tokio::test]
async fn a_bank_transfer_create_sends_every_field_and_never_a_routing_number() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    client.create_bank_transfer(&full_request()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/processor/bank_transfer/create");
    let sent = body(&request);
    assert_eq!(
        sent,
        json!({
            "idempotency_key": "key-1",
            "processor_token": PROCESSOR_TOKEN,
            "type": "credit",
            "network": "same-day-ach",
            "amount": "12.30",
            "iso_currency_code": "USD",
            "description": "Payout",
            "ach_class": "ppd",
            "user": {"legal_name": "John Smith", "email_address": "plaid@plaid.com"},
            "custom_tag": "my tag",
            "metadata": {"key1": "value1", "key2": "value2"},
            "origination_account_id": "11111111-1111-1111-1111-111111111111"
        })
    );
    assert!(sent["user"].get("routing_number").is_none());
}

#[tokio::test]
async fn a_bank_transfer_create_leaves_out_every_unset_optional_field() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    client
        .create_bank_transfer(&minimal_request())
        .await
        .unwrap();

    assert_eq!(
        body(&the_request(&server).await),
        json!({
            "idempotency_key": "key-2",
            "processor_token": PROCESSOR_TOKEN,
            "type": "debit",
            "network": "wire",
            "amount": "1000.00",
            "iso_currency_code": "USD",
            "description": "Deposit",
            "user": {"legal_name": "Acme Inc"}
        })
    );
}

#[tokio::test]
async fn the_bank_transfer_plaid_returns_is_read_field_by_field() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    let transfer = client.create_bank_transfer(&full_request()).await.unwrap();

    assert_eq!(transfer.id.as_str(), BANK_TRANSFER_ID);
    assert_eq!(transfer.ach_class, Some(Known(AchClass::Ppd)));
    assert_eq!(transfer.account_id, "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B");
    assert_eq!(transfer.transfer_type, Known(BankTransferType::Credit));
    assert_eq!(transfer.user_legal_name, "John Smith");
    assert_eq!(
        transfer.user_email_address.as_deref(),
        Some("plaid@plaid.com")
    );
    assert_eq!(transfer.user_routing_number.as_deref(), Some("111111111"));
    assert_eq!(transfer.amount.to_string(), "12.34");
    assert_eq!(transfer.iso_currency_code, "USD");
    assert_eq!(transfer.description, "Testing2");
    assert_eq!(
        transfer.created,
        Utc.with_ymd_and_hms(2020, 8, 6, 17, 27, 15).unwrap()
    );
    assert_eq!(transfer.status, PlaidBankTransferStatus::Pending);
    assert_eq!(transfer.network, Known(Network::Ach));
    assert!(transfer.cancellable);
    assert_eq!(transfer.failure_reason, None);
    assert_eq!(transfer.custom_tag.as_deref(), Some("my tag"));
    assert_eq!(
        transfer.metadata,
        BTreeMap::from([
            ("key1".to_owned(), "value1".to_owned()),
            ("key2".to_owned(), "value2".to_owned())
        ])
    );
    assert_eq!(
        transfer.origination_account_id.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    assert_eq!(
        transfer.direction,
        Some(Known(BankTransferDirection::Outbound))
    );
}

#[tokio::test]
async fn a_bank_transfer_is_fetched_by_id_and_values_plaid_added_later_are_kept_as_sent() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::bank_transfer();
    let transfer = &mut answer["bank_transfer"];
    transfer["status"] = json!("settled");
    transfer["network"] = json!("rtp");
    transfer["ach_class"] = json!("iat");
    transfer["type"] = json!("refund");
    transfer["direction"] = json!("sideways");
    transfer["failure_reason"] =
        json!({"ach_return_code": "R99", "description": "new", "extra": 1});
    transfer["metadata"] = json!(null);
    transfer["originator_client_id"] = json!("569ed2f36b3a3a021713abc1");
    on("/bank_transfer/get", ok(answer)).mount(&server).await;

    let transfer = client.get_bank_transfer(&transfer_id()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/get");
    assert_eq!(
        body(&request),
        json!({"bank_transfer_id": BANK_TRANSFER_ID})
    );
    assert_eq!(
        transfer.status,
        PlaidBankTransferStatus::Unknown("settled".into())
    );
    assert_eq!(transfer.network, Unknown("rtp".into()));
    assert_eq!(transfer.ach_class, Some(Unknown("iat".into())));
    assert_eq!(transfer.transfer_type, Unknown("refund".into()));
    assert_eq!(transfer.direction, Some(Unknown("sideways".into())));
    assert!(transfer.metadata.is_empty());
    assert_eq!(
        transfer.failure_reason,
        Some(BankTransferFailure {
            ach_return_code: Some(AchReturnCode::Unknown("R99".into())),
            description: Some("new".into()),
        })
    );
}

#[tokio::test]
async fn a_bank_transfer_is_cancelled_by_id() {
    let (server, client) = plaid().await;
    on("/bank_transfer/cancel", ok(fixtures::request_id_only()))
        .mount(&server)
        .await;

    client.cancel_bank_transfer(&transfer_id()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/cancel");
    assert_eq!(
        body(&request),
        json!({"bank_transfer_id": BANK_TRANSFER_ID})
    );
}
