//! The processor rail's Bank Transfers endpoints, pinned on the wire, and Plaid's bank transfer and
//! event objects read field by field.

use chrono::{TimeZone, Utc};
use funding_domain::{
    AchClass, AchReturnCode, BankTransferDraft, BankTransferId, BankTransferRequest,
    BankTransferType, BankTransferUserDraft, Network, PlaidBankTransferStatus,
};
use funding_plaid::{
    BankTransferDirection, BankTransferFailure, OrUnknown, SimulatedBankTransferEvent,
};
use serde_json::json;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::*;

/// A request with every optional field set.
pub fn full_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-1".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "credit".into(),
        network: "same-day-ach".into(),
        amount: "12.3".into(),
        iso_currency_code: "USD".into(),
        description: "Payout".into(),
        ach_class: Some("ppd".into()),
        user: BankTransferUserDraft {
            legal_name: "John Smith".into(),
            email_address: Some("plaid@plaid.com".into()),
            routing_number: None,
        },
        custom_tag: Some("my tag".into()),
        metadata: vec![
            ("key1".into(), "value1".into()),
            ("key2".into(), "value2".into()),
        ],
        origination_account_id: Some("11111111-1111-1111-1111-111111111111".into()),
    })
    .unwrap()
}

/// A wire transfer with no optional field set.
pub fn minimal_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-2".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "debit".into(),
        network: "wire".into(),
        amount: "1000".into(),
        iso_currency_code: "USD".into(),
        description: "Deposit".into(),
        ach_class: None,
        user: BankTransferUserDraft {
            legal_name: "Acme Inc".into(),
            email_address: None,
            routing_number: None,
        },
        custom_tag: None,
        metadata: vec![],
        origination_account_id: None,
    })
    .unwrap()
}

fn transfer_id() -> BankTransferId {
    BankTransferId::parse(BANK_TRANSFER_ID).unwrap()
}

#[tokio::test]
async fn a_bank_transfer_create_sends_every_field_and_never_a_routing_number() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    client
        .create_processor_bank_transfer(&full_request())
        .await
        .unwrap();

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
        .create_processor_bank_transfer(&minimal_request())
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

    let transfer = client
        .create_processor_bank_transfer(&full_request())
        .await
        .unwrap();

    assert_eq!(transfer.id.as_str(), BANK_TRANSFER_ID);
    assert_eq!(transfer.ach_class, Some(OrUnknown::Known(AchClass::Ppd)));
    assert_eq!(transfer.account_id, "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B");
    assert_eq!(
        transfer.transfer_type,
        OrUnknown::Known(BankTransferType::Credit)
    );
    assert_eq!(transfer.user.legal_name, "John Smith");
    assert_eq!(
        transfer.user.email_address.as_deref(),
        Some("plaid@plaid.com")
    );
    assert_eq!(transfer.user.routing_number.as_deref(), Some("111111111"));
    assert_eq!(transfer.amount.to_string(), "12.34");
    assert_eq!(transfer.iso_currency_code, "USD");
    assert_eq!(transfer.description, "Testing2");
    assert_eq!(
        transfer.created,
        Utc.with_ymd_and_hms(2020, 8, 6, 17, 27, 15).unwrap()
    );
    assert_eq!(transfer.status, PlaidBankTransferStatus::Pending);
    assert_eq!(transfer.network, OrUnknown::Known(Network::Ach));
    assert!(transfer.cancellable);
    assert_eq!(transfer.failure_reason, None);
    assert_eq!(transfer.custom_tag.as_deref(), Some("my tag"));
    assert_eq!(transfer.metadata.unwrap()["key2"], "value2");
    assert_eq!(
        transfer.origination_account_id.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    assert_eq!(
        transfer.direction,
        Some(OrUnknown::Known(BankTransferDirection::Outbound))
    );
}

#[tokio::test]
async fn a_bank_transfer_is_fetched_by_id_and_an_unknown_status_is_kept() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::bank_transfer();
    answer["bank_transfer"]["status"] = json!("settled");
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

#[tokio::test]
async fn a_cancel_plaid_refuses_is_invalid_input_with_its_code() {
    let (server, client) = plaid().await;
    let refusal = fixtures::plaid_error(
        "BANK_TRANSFER_ERROR",
        "BANK_TRANSFER_NOT_CANCELLABLE",
        "bank transfer is not cancellable",
        "req-nc",
    );
    on(
        "/bank_transfer/cancel",
        wiremock::ResponseTemplate::new(400).set_body_json(refusal),
    )
    .mount(&server)
    .await;

    let error = client
        .cancel_bank_transfer(&transfer_id())
        .await
        .unwrap_err();

    assert_eq!(
        error.kind,
        funding_core::ports::ProviderErrorKind::InvalidInput
    );
    assert_eq!(error.code, "BANK_TRANSFER_NOT_CANCELLABLE");
}

#[tokio::test]
async fn events_are_synced_after_a_cursor_and_read_with_their_failure_reasons() {
    let (server, client) = plaid().await;
    on("/bank_transfer/event/sync", ok(fixtures::event_sync()))
        .mount(&server)
        .await;

    let events = client.sync_bank_transfer_events(0, Some(25)).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/event/sync");
    assert_eq!(body(&request), json!({"after_id": 0, "count": 25}));
    assert_eq!(events.len(), 2);
    let (first, second) = (&events[0], &events[1]);
    assert_eq!(first.event_id, 1);
    assert_eq!(first.event_type, PlaidBankTransferStatus::Pending);
    assert_eq!(first.bank_transfer_id.as_str(), BANK_TRANSFER_ID);
    assert_eq!(
        first.bank_transfer_type,
        OrUnknown::Known(BankTransferType::Credit)
    );
    assert_eq!(first.bank_transfer_amount.to_string(), "12.34");
    assert_eq!(first.bank_transfer_iso_currency_code, "USD");
    assert_eq!(first.origination_account_id.as_deref(), Some(""));
    assert_eq!(
        first.direction,
        Some(OrUnknown::Known(BankTransferDirection::Outbound))
    );
    assert_eq!(second.event_type, PlaidBankTransferStatus::Reversed);
    assert_eq!(second.direction, None);
    assert_eq!(second.origination_account_id, None);
    let failure = second.failure_reason.as_ref().unwrap();
    assert_eq!(failure.ach_return_code, Some(AchReturnCode::parse("R01")));
    assert_eq!(failure.description.as_deref(), Some("Insufficient funds"));
}

#[tokio::test]
async fn a_sync_without_a_count_leaves_it_out_and_counts_are_kept_within_plaids_range() {
    for (count, expected) in [
        (None, json!({"after_id": 7})),
        (Some(0), json!({"after_id": 7, "count": 1})),
        (Some(200), json!({"after_id": 7, "count": 25})),
    ] {
        let (server, client) = plaid().await;
        on("/bank_transfer/event/sync", ok(fixtures::event_sync()))
            .mount(&server)
            .await;

        client.sync_bank_transfer_events(7, count).await.unwrap();

        assert_eq!(body(&the_request(&server).await), expected, "{count:?}");
    }
}

#[tokio::test]
async fn a_sandbox_simulation_sends_the_event_and_only_the_failure_fields_given() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/bank_transfer/simulate",
        ok(fixtures::request_id_only()),
    )
    .mount(&server)
    .await;
    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".into()),
    };

    client
        .sandbox_simulate_bank_transfer(
            &transfer_id(),
            SimulatedBankTransferEvent::Reversed,
            Some(&failure),
        )
        .await
        .unwrap();
    client
        .sandbox_simulate_bank_transfer(&transfer_id(), SimulatedBankTransferEvent::Posted, None)
        .await
        .unwrap();

    let requests = received(&server, "/sandbox/bank_transfer/simulate").await;
    assert_eq!(requests.len(), 2);
    requests.iter().for_each(assert_plaid_headers);
    assert_eq!(
        body(&requests[0]),
        json!({
            "bank_transfer_id": BANK_TRANSFER_ID,
            "event_type": "reversed",
            "failure_reason": {"ach_return_code": "R01", "description": "Insufficient funds"}
        })
    );
    assert_eq!(
        body(&requests[1]),
        json!({"bank_transfer_id": BANK_TRANSFER_ID, "event_type": "posted"})
    );
}
