//! Plaid's error answers and the port's error kinds: codes, HTTP statuses and request ids kept,
//! refusals not retried, unreadable bodies reported as such.

use funding_core::ports::{BankTransferGateway, PlaidGateway, Provider, ProviderErrorKind};
use funding_plaid::{PlaidApiError, PlaidErrorType};
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, plaid_error};
use crate::support::*;

fn answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

#[tokio::test]
async fn an_invalid_public_token_is_invalid_input_with_plaids_code_and_request_id_and_is_not_retried()
 {
    let (server, client) = plaid().await;
    let mut refusal = plaid_error(
        "INVALID_INPUT",
        "INVALID_PUBLIC_TOKEN",
        "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged",
        "req-public-1",
    );
    refusal["display_message"] = json!("Please link your account again");
    on("/item/public_token/exchange", answer(400, refusal))
        .mount(&server)
        .await;

    let error = client
        .exchange_public_token(&public_token())
        .await
        .unwrap_err();

    assert_eq!(error.provider, Provider::Plaid);
    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert_eq!(error.code, "INVALID_PUBLIC_TOKEN");
    assert_eq!(error.http_status, Some(400));
    assert_eq!(error.request_id.as_deref(), Some("req-public-1"));
    assert_eq!(
        error.display_message.as_deref(),
        Some("Please link your account again")
    );
    assert!(error.message.contains("expired"), "{}", error.message);
    assert!(!error.is_retryable());
    assert_eq!(
        received(&server, "/item/public_token/exchange").await.len(),
        1
    );
}

#[tokio::test]
async fn an_account_outside_the_item_is_invalid_input_invalid_account_id() {
    let (server, client) = plaid().await;
    let refusal = plaid_error(
        "INVALID_INPUT",
        "INVALID_ACCOUNT_ID",
        "provided account ID is not valid",
        "req-acct",
    );
    on("/processor/token/create", answer(400, refusal))
        .mount(&server)
        .await;

    let error = client
        .create_processor_token(&access_token(), &account_id())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert_eq!(error.code, "INVALID_ACCOUNT_ID");
    assert_eq!(error.request_id.as_deref(), Some("req-acct"));
    assert_eq!(received(&server, "/processor/token/create").await.len(), 1);
}

#[tokio::test]
async fn refused_credentials_are_unauthorized() {
    let (server, client) = plaid().await;
    let refusal = plaid_error(
        "INVALID_INPUT",
        "INVALID_API_KEYS",
        "invalid client_id or secret provided",
        "req-keys",
    );
    on("/accounts/get", answer(400, refusal))
        .mount(&server)
        .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unauthorized);
    assert_eq!(error.code, "INVALID_API_KEYS");
    assert_eq!(received(&server, "/accounts/get").await.len(), 1);
}

#[tokio::test]
async fn a_malformed_request_is_invalid_request() {
    let (server, client) = plaid().await;
    let refusal = plaid_error(
        "INVALID_REQUEST",
        "UNKNOWN_FIELDS",
        "the following fields are not recognized by this endpoint: extra",
        "req-unknown",
    );
    on("/sandbox/public_token/create", answer(400, refusal))
        .mount(&server)
        .await;

    let error = client
        .sandbox_create_public_token(INSTITUTION_ID)
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
    assert_eq!(error.code, "UNKNOWN_FIELDS");
}

#[tokio::test]
async fn an_item_error_is_invalid_input() {
    let (server, client) = plaid().await;
    let refusal = plaid_error(
        "ITEM_ERROR",
        "ITEM_LOGIN_REQUIRED",
        "the login details of this item have changed",
        "req-item",
    );
    on("/accounts/get", answer(400, refusal))
        .mount(&server)
        .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert_eq!(error.code, "ITEM_LOGIN_REQUIRED");
}

#[tokio::test]
async fn an_error_type_plaid_added_later_is_kept_and_the_error_still_classified() {
    let (server, client) = plaid().await;
    let refusal = plaid_error(
        "QUANTUM_ERROR",
        "SUPERPOSITION_COLLAPSED",
        "try observing less",
        "req-q",
    );
    on("/accounts/get", answer(400, refusal.clone()))
        .mount(&server)
        .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert_eq!(error.code, "SUPERPOSITION_COLLAPSED");
    assert!(error.message.contains("QUANTUM_ERROR"), "{}", error.message);
    let parsed = PlaidApiError::from_body(refusal.to_string().as_bytes()).unwrap();
    assert_eq!(
        parsed.error_type,
        PlaidErrorType::Unknown("QUANTUM_ERROR".into())
    );
    assert_eq!(
        parsed.documentation_url.as_deref(),
        Some("https://plaid.com/docs/errors/")
    );
}

#[tokio::test]
async fn a_non_json_error_body_is_reported_with_its_http_status_as_code() {
    let (server, client) = plaid().await;
    on(
        "/accounts/get",
        ResponseTemplate::new(400).set_body_string("<html>Bad Request</html>"),
    )
    .mount(&server)
    .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Decode);
    assert_eq!(error.code, "HTTP_400");
    assert_eq!(error.http_status, Some(400));
    assert_eq!(received(&server, "/accounts/get").await.len(), 1);
}

#[tokio::test]
async fn an_unreadable_success_body_is_a_decode_error_and_not_retried() {
    let (server, client) = plaid().await;
    on(
        "/accounts/get",
        ok(json!({"accounts": "not a list", "request_id": "req-odd"})),
    )
    .mount(&server)
    .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Decode);
    assert_eq!(error.code, "HTTP_200");
    assert_eq!(error.request_id.as_deref(), Some("req-odd"));
    assert_eq!(received(&server, "/accounts/get").await.len(), 1);
}

#[tokio::test]
async fn a_token_of_the_wrong_shape_in_an_answer_is_a_decode_error_that_does_not_echo_it() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::exchange();
    answer["access_token"] = json!("public-sandbox-notanaccesstoken77");
    on("/item/public_token/exchange", ok(answer))
        .mount(&server)
        .await;

    let error = client
        .exchange_public_token(&public_token())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Decode);
    assert!(error.message.contains("access_token"), "{}", error.message);
    assert!(!format!("{error} {error:?}").contains("notanaccesstoken77"));
}

#[tokio::test]
async fn a_missing_resource_is_not_found() {
    let (server, client) = plaid().await;
    let refusal = plaid_error("INVALID_REQUEST", "NOT_FOUND", "not found", "req-404");
    on("/bank_transfer/get", answer(404, refusal))
        .mount(&server)
        .await;

    let id = funding_domain::PlaidBankTransferId::parse(fixtures::BANK_TRANSFER_ID).unwrap();
    let error = client.get_bank_transfer(&id).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(error.code, "NOT_FOUND");
    assert_eq!(error.http_status, Some(404));
}
