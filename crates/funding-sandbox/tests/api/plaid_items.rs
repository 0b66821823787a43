//! Item state and Item webhooks: `/sandbox/item/reset_login` (ITEM_LOGIN_REQUIRED, the signed
//! `ITEM`/`ERROR` webhook, the reads that then fail, `/item/get`), update mode repairing it with no
//! webhook, `/sandbox/item/fire_webhook` and its refusals, and the control API's Item routes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use funding_sandbox::{ItemWebhookCode, SandboxConfig};

use crate::helpers::{Linked, TestSandbox, WebhookReceiver, spawn_sandbox, spawn_with};
use crate::plaid_link_tokens::link_token;
use crate::plaid_webhooks::verify;

/// A link made through Link (`complete_link`) whose link token named `webhook`.
async fn linked_with_webhook(sandbox: &TestSandbox, webhook: &str) -> Linked {
    let token = link_token(sandbox, |body| body["webhook"] = json!(webhook)).await;
    let success = sandbox.control.complete_link(&token, "ins_109508").unwrap();
    let exchanged = sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({"public_token": success.public_token}),
        )
        .await;
    let checking = success.accounts[0].account_id.clone();
    Linked {
        access_token: exchanged["access_token"].as_str().unwrap().to_owned(),
        item_id: success.item_id,
        checking_account_id: checking.clone(),
        savings_account_id: checking,
    }
}

fn body_of(webhook: &crate::helpers::ReceivedWebhook) -> Value {
    serde_json::from_slice(&webhook.body).unwrap()
}

#[tokio::test]
async fn reset_login_sends_a_signed_error_webhook_and_the_item_needs_a_login() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_sandbox().await;
    let linked = linked_with_webhook(&sandbox, &receiver.url).await;
    let processor = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": linked.checking_account_id, "processor": "alpaca"}),
        )
        .await["processor_token"]
        .clone();

    let answer = sandbox
        .plaid_ok(
            "/sandbox/item/reset_login",
            json!({"access_token": linked.access_token}),
        )
        .await;
    assert_eq!(answer["reset_login"], true);
    assert!(answer["request_id"].is_string());

    let webhook = receiver.next().await;
    verify(&sandbox, &webhook).await.unwrap();
    let text = std::str::from_utf8(&webhook.body).unwrap();
    assert!(
        text.starts_with("{\n  \"webhook_type\": \"ITEM\",\n  \"webhook_code\": \"ERROR\","),
        "{text}"
    );
    let body = body_of(&webhook);
    assert_eq!(body["item_id"], linked.item_id.as_str());
    assert_eq!(body["environment"], "sandbox");
    assert_eq!(body["error"]["error_type"], "ITEM_ERROR");
    assert_eq!(body["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    assert_eq!(body["error"]["status"], 400);

    let item = sandbox
        .plaid_ok("/item/get", json!({"access_token": linked.access_token}))
        .await;
    assert_eq!(item["item"]["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    assert_eq!(item["item"]["error"]["error_type"], "ITEM_ERROR");
    let access = json!({"access_token": linked.access_token});
    let reads = [
        ("/accounts/get", access.clone()),
        (
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": linked.checking_account_id, "processor": "alpaca"}),
        ),
        ("/processor/auth/get", json!({"processor_token": processor})),
        (
            "/processor/balance/get",
            json!({"processor_token": processor}),
        ),
    ];
    for (path, body) in reads {
        let (status, error) = sandbox.plaid(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            error["error_code"], "ITEM_LOGIN_REQUIRED",
            "{path}: {error}"
        );
        assert!(error["request_id"].is_string());
    }
    let deliveries = sandbox.control.webhook_deliveries();
    assert_eq!(deliveries.last().unwrap().webhook_code, "ERROR");
    assert_eq!(
        deliveries.last().unwrap().item_id.as_deref(),
        Some(linked.item_id.as_str())
    );

    // Update mode repairs it, and Plaid sends no webhook for a repair made in the app.
    let update = link_token(&sandbox, |body| {
        body.as_object_mut().unwrap().remove("products");
        body["access_token"] = json!(linked.access_token);
    })
    .await;
    sandbox
        .control
        .complete_link(&update, "ins_109508")
        .unwrap();
    let item = sandbox.plaid_ok("/item/get", access.clone()).await;
    assert!(item["item"]["error"].is_null());
    sandbox.plaid_ok("/accounts/get", access).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        receiver.try_next().is_none(),
        "no webhook after update mode"
    );
}

#[tokio::test]
async fn item_webhooks_go_to_the_configured_url_when_the_item_has_none() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_with(SandboxConfig {
        plaid_webhook_url: Some(receiver.url.clone()),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let linked = sandbox.link().await;
    sandbox.control.reset_login(&linked.item_id).unwrap();
    assert_eq!(body_of(&receiver.next().await)["webhook_code"], "ERROR");
    for code in ItemWebhookCode::ALL {
        sandbox
            .control
            .fire_item_webhook(&linked.item_id, code)
            .unwrap();
        let webhook = receiver.next().await;
        verify(&sandbox, &webhook).await.unwrap();
        let body = body_of(&webhook);
        assert_eq!(body["webhook_type"], "ITEM");
        assert_eq!(body["webhook_code"], code.as_str());
        assert_eq!(body["item_id"], linked.item_id.as_str());
    }
    assert_eq!(
        sandbox
            .control
            .item(&linked.item_id)
            .unwrap()
            .error_code
            .as_deref(),
        Some("ITEM_LOGIN_REQUIRED"),
        "firing webhooks changes nothing"
    );
}

#[tokio::test]
async fn fire_webhook_sends_plaids_item_webhooks_and_refuses_what_it_cannot() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_sandbox().await;
    let linked = linked_with_webhook(&sandbox, &receiver.url).await;
    let fire = |code: &str, kind: Option<&str>| {
        let mut body = json!({"access_token": linked.access_token, "webhook_code": code});
        if let Some(kind) = kind {
            body["webhook_type"] = json!(kind);
        }
        body
    };
    for (code, kind) in [
        ("NEW_ACCOUNTS_AVAILABLE", None),
        ("LOGIN_REPAIRED", Some("ITEM")),
        ("PENDING_DISCONNECT", None),
        ("USER_PERMISSION_REVOKED", None),
        ("USER_ACCOUNT_REVOKED", None),
        ("ERROR", Some("ITEM")),
    ] {
        let answer = sandbox
            .plaid_ok("/sandbox/item/fire_webhook", fire(code, kind))
            .await;
        assert_eq!(answer["webhook_fired"], true);
        let body = body_of(&receiver.next().await);
        assert_eq!(body["webhook_code"], code);
    }
    let (status, error) = sandbox
        .plaid(
            "/sandbox/item/fire_webhook",
            fire("SYNC_UPDATES_AVAILABLE", None),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "SANDBOX_ERROR");
    assert_eq!(error["error_code"], "SANDBOX_PRODUCT_NOT_ENABLED");
    let (_, error) = sandbox
        .plaid(
            "/sandbox/item/fire_webhook",
            fire("PENDING_EXPIRATION", None),
        )
        .await;
    assert_eq!(
        error["error_code"], "INVALID_FIELD",
        "not in Plaid's list for this endpoint"
    );
    let (_, error) = sandbox
        .plaid(
            "/sandbox/item/fire_webhook",
            fire("LOGIN_REPAIRED", Some("NOPE")),
        )
        .await;
    assert_eq!(error["error_code"], "INVALID_FIELD");
    let (_, error) = sandbox
        .plaid(
            "/sandbox/item/fire_webhook",
            json!({"access_token": "access-sandbox-x", "webhook_code": "LOGIN_REPAIRED"}),
        )
        .await;
    assert_eq!(error["error_code"], "INVALID_ACCESS_TOKEN");
    let (_, error) = sandbox.plaid("/sandbox/item/reset_login", json!({})).await;
    assert_eq!(error["error_code"], "MISSING_FIELDS");

    // An Item with no webhook, and no configured URL: nowhere to send it.
    let bare = sandbox.link().await;
    let (status, error) = sandbox
        .plaid(
            "/sandbox/item/fire_webhook",
            json!({"access_token": bare.access_token, "webhook_code": "LOGIN_REPAIRED"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_code"], "SANDBOX_WEBHOOK_INVALID");
    sandbox
        .plaid_ok(
            "/sandbox/item/reset_login",
            json!({"access_token": bare.access_token}),
        )
        .await;
}

#[tokio::test]
async fn the_control_api_shows_items_resets_logins_and_fires_webhooks() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_sandbox().await;
    let linked = linked_with_webhook(&sandbox, &receiver.url).await;
    let path = format!("/plaid/items/{}", linked.item_id);
    let (status, item) = sandbox.control_http(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["institution_name"], "First Platypus Bank");
    assert!(item["error_code"].is_null());
    assert_eq!(item["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(item["webhook"], receiver.url.as_str());

    let (status, _) = sandbox
        .control_http(Method::POST, &format!("{path}/reset_login"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body_of(&receiver.next().await)["webhook_code"], "ERROR");
    let (_, item) = sandbox.control_http(Method::GET, &path, None).await;
    assert_eq!(item["error_code"], "ITEM_LOGIN_REQUIRED");

    let (status, _) = sandbox
        .control_http(
            Method::POST,
            &format!("{path}/webhook"),
            Some(json!({"webhook_code": "PENDING_EXPIRATION"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let body = body_of(&receiver.next().await);
    assert_eq!(body["webhook_code"], "PENDING_EXPIRATION");
    assert!(
        body["consent_expiration_time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let (status, error) = sandbox
        .control_http(
            Method::POST,
            &format!("{path}/webhook"),
            Some(json!({"webhook_code": "NOPE"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"].as_str().unwrap().starts_with("webhook_code"));
    let (status, _) = sandbox
        .control_http(Method::GET, "/plaid/items/nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(sandbox.control.reset_login("nope").is_err());

    let token = link_token(&sandbox, |_| {}).await;
    let (status, success) = sandbox
        .control_http(
            Method::POST,
            "/plaid/link/complete",
            Some(json!({"link_token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{success}");
    assert!(
        success["public_token"]
            .as_str()
            .unwrap()
            .starts_with("public-sandbox-")
    );
    assert_eq!(success["accounts"][0]["subtype"], "checking");
    assert_eq!(
        success["metadata"]["institution"]["institution_id"],
        "ins_109508"
    );
}
