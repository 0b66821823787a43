//! No secret shows anywhere: not in the `Debug` of the configuration or the client, not in any
//! error's `Display` or `Debug` (even when Plaid's own message echoes a token), and not in any log
//! line or span the adapter emits while working, retrying and failing (in this test or any other of
//! the binary: every test logs into the same capture).

use funding_core::ports::{BankTransferGateway, BankTransferSandbox, PlaidGateway, ProviderError};
use funding_plaid::{PlaidClient, PlaidConfig};
use secrecy::SecretString;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, plaid_error};
use crate::support::bank_transfers::full_request;
use crate::support::*;

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRET_PARTS {
        assert!(!text.contains(secret), "{what} shows {secret:?}:\n{text}");
    }
}

fn shown(error: &ProviderError) -> String {
    format!("{error}\n{error:?}\n{error:#?}")
}

#[test]
fn the_configuration_and_the_client_never_show_the_secret() {
    let config = PlaidConfig::sandbox(CLIENT_ID, SecretString::from(SECRET));
    assert_no_secret("PlaidConfig Debug", &format!("{config:?} {config:#?}"));
    let client = PlaidClient::new(config).unwrap();
    assert_no_secret("PlaidClient Debug", &format!("{client:?} {client:#?}"));
}

#[tokio::test]
async fn neither_errors_nor_logs_ever_show_a_token_or_the_secret() {
    let logs = crate::logs::captured();
    let (server, client) = plaid().await;
    let echoing = plaid_error(
        "INVALID_INPUT",
        "INVALID_ACCESS_TOKEN",
        &format!("provided access token {ACCESS_TOKEN} is invalid"),
        "req-echo",
    );
    let mut echoing_display = echoing.clone();
    echoing_display["display_message"] = json!(format!("token {PROCESSOR_TOKEN} rejected"));
    on(
        "/processor/token/create",
        ResponseTemplate::new(400).set_body_json(echoing_display),
    )
    .mount(&server)
    .await;
    on(
        "/accounts/get",
        ResponseTemplate::new(500).set_body_json(echoing),
    )
    .mount(&server)
    .await;
    let mut wrong_shape = fixtures::exchange();
    wrong_shape["access_token"] = json!(PUBLIC_TOKEN);
    on("/item/public_token/exchange", ok(wrong_shape))
        .mount(&server)
        .await;
    on(
        "/sandbox/public_token/create",
        ok(fixtures::sandbox_public_token()),
    )
    .mount(&server)
    .await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;
    on(
        "/sandbox/processor_token/create",
        ok(fixtures::sandbox_processor_token()),
    )
    .mount(&server)
    .await;

    let mut errors = vec![
        PlaidGateway::create_processor_token(&client, &access_token(), &account_id())
            .await
            .unwrap_err(),
        client.list_accounts(&access_token()).await.unwrap_err(),
        client
            .exchange_public_token(&public_token())
            .await
            .unwrap_err(),
    ];
    let sandbox_token = client
        .sandbox_create_public_token(INSTITUTION_ID)
        .await
        .unwrap();
    let transfer = client.create_bank_transfer(&full_request()).await.unwrap();
    let sandbox_processor_token =
        BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, None)
            .await
            .unwrap();
    let unreachable = PlaidClient::new(config("http://127.0.0.1:9")).unwrap();
    errors.push(
        unreachable
            .exchange_public_token(&public_token())
            .await
            .unwrap_err(),
    );

    for error in &errors {
        assert_no_secret("a provider error", &shown(error));
    }
    assert!(
        errors[0].message.contains("[REDACTED]"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0]
            .display_message
            .as_deref()
            .unwrap_or_default()
            .contains("[REDACTED]")
    );
    assert_no_secret(
        "a returned token's Debug",
        &format!("{sandbox_token:?} {sandbox_token}"),
    );
    assert_no_secret("the request's Debug", &format!("{:?}", full_request()));
    assert_no_secret("a bank transfer's Debug", &format!("{transfer:?}"));
    assert_no_secret(
        "a sandbox processor token's Debug",
        &format!("{sandbox_processor_token:?} {sandbox_processor_token}"),
    );

    let logged = logs.text();
    assert_no_secret("the logs", &logged);
    for expected in [
        "req-echo",
        "saKrIBuEB9qJZno",
        "/accounts/get",
        "attempt=3",
        "plaid call failed; retrying",
    ] {
        assert!(
            logged.contains(expected),
            "the logs should name {expected:?}:\n{logged}"
        );
    }
}
