//! Link tokens, Item health and Item webhooks against the official OpenAPI schemas (the
//! verbatim excerpts in `tests/fixtures/plaid-schemas.yaml`): `LinkTokenCreateResponse`,
//! `SandboxItemResetLoginResponse`, `SandboxItemFireWebhookResponse`, `ItemGetResponse` with an
//! `ITEM_LOGIN_REQUIRED` error, the error answer itself, and every Item webhook body.

use funding_sandbox::{ItemWebhookCode, SandboxConfig};
use serde_json::{Value, json};

use crate::helpers::{WebhookReceiver, spawn_with};
use crate::plaid_link_tokens::token_request;
use crate::schema_checker::Schemas;

fn schema_of(code: ItemWebhookCode) -> &'static str {
    match code {
        ItemWebhookCode::Error => "ItemErrorWebhook",
        ItemWebhookCode::PendingExpiration => "PendingExpirationWebhook",
        ItemWebhookCode::PendingDisconnect => "PendingDisconnectWebhook",
        ItemWebhookCode::UserPermissionRevoked => "UserPermissionRevokedWebhook",
        ItemWebhookCode::UserAccountRevoked => "UserAccountRevokedWebhook",
        ItemWebhookCode::LoginRepaired => "ItemLoginRepairedWebhook",
        ItemWebhookCode::NewAccountsAvailable => "NewAccountsAvailableWebhook",
        ItemWebhookCode::WebhookUpdateAcknowledged => "WebhookUpdateAcknowledgedWebhook",
    }
}

#[tokio::test]
async fn link_and_item_answers_and_item_webhooks_match_the_official_schemas() {
    let plaid = Schemas::load("plaid-schemas.yaml");
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_with(SandboxConfig {
        plaid_webhook_url: Some(receiver.url.clone()),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let created = sandbox
        .plaid_ok("/link/token/create", token_request())
        .await;
    plaid.assert_valid(&created, "LinkTokenCreateResponse");
    let mut hosted = token_request();
    hosted["hosted_link"] = json!({});
    plaid.assert_valid(
        &sandbox.plaid_ok("/link/token/create", hosted).await,
        "LinkTokenCreateResponse",
    );

    let linked = sandbox.link().await;
    let access = json!({"access_token": linked.access_token});
    plaid.assert_valid(
        &sandbox
            .plaid_ok("/sandbox/item/reset_login", access.clone())
            .await,
        "SandboxItemResetLoginResponse",
    );
    plaid.assert_valid(
        &sandbox.plaid_ok("/item/get", access.clone()).await,
        "ItemGetResponse",
    );
    let (_, error) = sandbox.plaid("/accounts/get", access).await;
    plaid.assert_valid(&error, "PlaidError");
    let fired = sandbox
        .plaid_ok(
            "/sandbox/item/fire_webhook",
            json!({"access_token": linked.access_token, "webhook_code": "NEW_ACCOUNTS_AVAILABLE"}),
        )
        .await;
    plaid.assert_valid(&fired, "SandboxItemFireWebhookResponse");
    assert_eq!(fired["webhook_fired"], true);

    let first: Value = serde_json::from_slice(&receiver.next().await.body).unwrap();
    plaid.assert_valid(&first, "ItemErrorWebhook");
    let second: Value = serde_json::from_slice(&receiver.next().await.body).unwrap();
    plaid.assert_valid(&second, "NewAccountsAvailableWebhook");
    for code in ItemWebhookCode::ALL {
        sandbox
            .control
            .fire_item_webhook(&linked.item_id, code)
            .unwrap();
        let body: Value = serde_json::from_slice(&receiver.next().await.body).unwrap();
        assert_eq!(body["webhook_code"], code.as_str());
        plaid.assert_valid(&body, schema_of(code));
    }
}
