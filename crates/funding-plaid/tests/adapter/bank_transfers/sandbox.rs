//! The sandbox's endpoints: processor tokens for an institution (a chosen account refused without
//! asking Plaid), simulated events with only the failure fields given, and fired webhooks.

use funding_core::ports::{
    BankTransferFailure, BankTransferSandbox, ProviderErrorKind, SimulatedBankTransferEvent,
};
use funding_domain::AchReturnCode;
use serde_json::json;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::bank_transfers::transfer_id;
use crate::support::*;

#[tokio::test]
async fn a_sandbox_processor_token_is_created_for_an_institution() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/processor_token/create",
        ok(fixtures::sandbox_processor_token()),
    )
    .mount(&server)
    .await;

    let token = BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, None)
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/sandbox/processor_token/create");
    assert_eq!(body(&request), json!({"institution_id": INSTITUTION_ID}));
    assert_eq!(token.expose_secret(), PROCESSOR_TOKEN);
}

#[tokio::test]
async fn a_sandbox_processor_token_for_a_chosen_account_is_refused_without_asking_plaid() {
    // The spec's request has `institution_id` and `options` (test credentials) only.
    let (server, client) = plaid().await;

    let error =
        BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, Some(ACCOUNT_ID))
            .await
            .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
    assert_eq!(error.code, funding_plaid::ACCOUNT_SELECTION_UNSUPPORTED);
    assert!(server.received_requests().await.unwrap().is_empty());
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
    let code_only = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R10")),
        description: None,
    };

    client
        .simulate_bank_transfer(
            &transfer_id(),
            SimulatedBankTransferEvent::Reversed,
            Some(&failure),
        )
        .await
        .unwrap();
    client
        .simulate_bank_transfer(&transfer_id(), SimulatedBankTransferEvent::Posted, None)
        .await
        .unwrap();
    client
        .simulate_bank_transfer(
            &transfer_id(),
            SimulatedBankTransferEvent::Failed,
            Some(&code_only),
        )
        .await
        .unwrap();

    let requests = received(&server, "/sandbox/bank_transfer/simulate").await;
    assert_eq!(requests.len(), 3);
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
    assert_eq!(
        body(&requests[2]),
        json!({
            "bank_transfer_id": BANK_TRANSFER_ID,
            "event_type": "failed",
            "failure_reason": {"ach_return_code": "R10"}
        })
    );
}

#[tokio::test]
async fn a_sandbox_webhook_is_fired_at_the_url_given() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/bank_transfer/fire_webhook",
        ok(fixtures::request_id_only()),
    )
    .mount(&server)
    .await;

    client
        .fire_webhook("https://funding.example/webhooks/plaid")
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/sandbox/bank_transfer/fire_webhook");
    assert_eq!(
        body(&request),
        json!({"webhook": "https://funding.example/webhooks/plaid"})
    );
}
