//! Every request the adapter sends, captured from the fake Plaid, held to the official spec's request
//! schema of its endpoint: every required property present, nothing undeclared or read-only, types,
//! enums and limits respected. Every fixture the tests serve is held to the response schema.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use funding_core::ports::{
    BankTransferFailure, BankTransferGateway, BankTransferSandbox, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, PlaidGateway, SimulatedBankTransferEvent,
};
use funding_domain::{
    AchReturnCode, BankTransferDirection, BankTransferType, PlaidBankTransferId,
    PlaidBankTransferStatus,
};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::spec::{Direction, component, request_schema, response_schema, violations};
use crate::support::bank_transfers::{full_request, minimal_request};
use crate::support::*;

fn assert_conforms(what: &str, found: Vec<String>) {
    assert!(
        found.is_empty(),
        "{what} breaks the spec:\n  {}",
        found.join("\n  ")
    );
}

#[tokio::test]
async fn every_request_the_adapter_sends_matches_the_spec() {
    let (server, client) = plaid().await;
    for (endpoint, answer) in fixtures::all_responses() {
        on(endpoint, ok(answer)).mount(&server).await;
    }
    let id = PlaidBankTransferId::parse(BANK_TRANSFER_ID).unwrap();
    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".into()),
    };

    client.exchange_public_token(&public_token()).await.unwrap();
    PlaidGateway::create_processor_token(&client, &access_token(), &account_id())
        .await
        .unwrap();
    client.list_accounts(&access_token()).await.unwrap();
    client
        .sandbox_create_public_token(INSTITUTION_ID)
        .await
        .unwrap();
    client.create_bank_transfer(&full_request()).await.unwrap();
    client
        .create_bank_transfer(&minimal_request())
        .await
        .unwrap();
    client.get_bank_transfer(&id).await.unwrap();
    client.cancel_bank_transfer(&id).await.unwrap();
    client
        .list_bank_transfers(&PlaidBankTransferListFilter {
            start_date: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            end_date: Some(Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap()),
            count: Some(25),
            offset: Some(25),
            origination_account_id: Some("8945fedc-e703-463d-86b1-dc0607b55460".into()),
            direction: Some(BankTransferDirection::Inbound),
        })
        .await
        .unwrap();
    client
        .list_bank_transfers(&PlaidBankTransferListFilter::default())
        .await
        .unwrap();
    client
        .list_bank_transfer_events(&PlaidBankTransferEventFilter {
            start_date: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            end_date: Some(Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap()),
            bank_transfer_id: Some(id.clone()),
            account_id: Some("6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B".into()),
            bank_transfer_type: Some(BankTransferType::Credit),
            event_types: vec![
                PlaidBankTransferStatus::Pending,
                PlaidBankTransferStatus::Cancelled,
                PlaidBankTransferStatus::Failed,
                PlaidBankTransferStatus::Posted,
                PlaidBankTransferStatus::Reversed,
            ],
            count: Some(1),
            offset: Some(3),
            origination_account_id: Some("8945fedc-e703-463d-86b1-dc0607b55460".into()),
            direction: Some(BankTransferDirection::Outbound),
        })
        .await
        .unwrap();
    client
        .list_bank_transfer_events(&PlaidBankTransferEventFilter::default())
        .await
        .unwrap();
    client.sync_bank_transfer_events(0, 25).await.unwrap();
    client.sync_bank_transfer_events(42, 0).await.unwrap();
    client
        .bank_transfer_balance(Some("8945fedc-e703-463d-86b1-dc0607b55460"))
        .await
        .unwrap();
    client.bank_transfer_balance(None).await.unwrap();
    client.processor_balance(&processor_token()).await.unwrap();
    client
        .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
        .await
        .unwrap();
    BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, None)
        .await
        .unwrap();
    client
        .simulate_bank_transfer(&id, SimulatedBankTransferEvent::Reversed, Some(&failure))
        .await
        .unwrap();
    client
        .simulate_bank_transfer(&id, SimulatedBankTransferEvent::Failed, None)
        .await
        .unwrap();
    client
        .fire_webhook("https://funding.example/webhooks/plaid")
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 22);
    let mut endpoints = BTreeSet::new();
    for request in &requests {
        let endpoint = request.url.path().to_owned();
        assert_plaid_headers(request);
        let sent = body(request);
        assert_conforms(
            &format!("POST {endpoint} {sent}"),
            violations(request_schema(&endpoint), &sent, Direction::Request),
        );
        endpoints.insert(endpoint);
    }
    let expected: BTreeSet<String> = fixtures::all_responses()
        .into_iter()
        .map(|(endpoint, _)| endpoint.to_owned())
        .collect();
    assert_eq!(endpoints, expected, "every endpoint is covered");
}

#[test]
fn every_response_fixture_has_every_field_the_spec_requires() {
    for (endpoint, answer) in fixtures::all_responses() {
        assert_conforms(
            &format!("the {endpoint} fixture"),
            violations(response_schema(endpoint), &answer, Direction::Response),
        );
    }
    let error = fixtures::plaid_error("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "expired", "req-1");
    assert_conforms(
        "the error fixture",
        violations(component("PlaidError"), &error, Direction::Response),
    );
}

#[test]
fn the_bank_transfer_object_has_the_specs_seventeen_fields() {
    let spec_fields: BTreeSet<&str> = component("BankTransfer")["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(spec_fields.len(), 17);
    let fixture = fixtures::bank_transfer_object();
    let fixture_fields: BTreeSet<&str> = fixture
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fixture_fields, spec_fields);
}

/// The checker itself: a body that breaks the spec is caught, so a green run means something.
#[test]
fn the_checker_catches_missing_unknown_read_only_and_out_of_enum_fields() {
    let schema = request_schema("/processor/bank_transfer/create");
    let body = serde_json::json!({
        "idempotency_key": "k".repeat(51),
        "processor_token": PROCESSOR_TOKEN,
        "type": "refund",
        "network": "ach",
        "amount": "1.00",
        "iso_currency_code": "USD",
        "user": {"legal_name": "A", "routing_number": "111111111"},
        "metadata": {"k": 1},
        "extra": true
    });
    let found = violations(schema, &body, Direction::Request).join("\n");
    for expected in [
        "$.description: required",
        "$.extra: not declared",
        "$.user.routing_number: read-only",
        "$.type: \"refund\" is not one of",
        "$.idempotency_key: longer than maxLength",
        "$.metadata.k: 1 is not a string",
    ] {
        assert!(
            found.contains(expected),
            "missing {expected:?} in:\n{found}"
        );
    }
    let processor = violations(
        request_schema("/processor/token/create"),
        &serde_json::json!({"access_token": ACCESS_TOKEN, "account_id": ACCOUNT_ID, "processor": "nope"}),
        Direction::Request,
    );
    assert_eq!(processor.len(), 1, "{processor:?}");
}

#[tokio::test]
async fn error_fixtures_served_by_the_tests_are_plaid_error_objects() {
    let (server, client) = plaid().await;
    let error = fixtures::plaid_error(
        "INVALID_INPUT",
        "INVALID_ACCESS_TOKEN",
        "bad token",
        "req-e",
    );
    assert_conforms(
        "the error fixture",
        violations(component("PlaidError"), &error, Direction::Response),
    );
    on(
        "/accounts/get",
        ResponseTemplate::new(400).set_body_json(error),
    )
    .mount(&server)
    .await;
    let refused = client.list_accounts(&access_token()).await.unwrap_err();
    assert_eq!(refused.code, "INVALID_ACCESS_TOKEN");
}
