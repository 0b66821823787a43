//! `/link/token/create`: Plaid's response, the checks that name the field at fault, update mode
//! with an Item's access token, the expiration on the emulator clock, and the link tokens the
//! control API lists.

use std::time::Duration;

use chrono::DateTime;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, spawn_sandbox};

pub fn token_request() -> Value {
    json!({
        "client_name": "Funding Demo",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "user-42"},
        "products": ["auth"],
    })
}

/// A link token made with `token_request()` changed by `change`.
pub async fn link_token(sandbox: &TestSandbox, change: impl FnOnce(&mut Value)) -> String {
    let mut body = token_request();
    change(&mut body);
    let created = sandbox.plaid_ok("/link/token/create", body).await;
    created["link_token"].as_str().unwrap().to_owned()
}

/// A change to `token_request()`.
type Change = Box<dyn FnOnce(&mut Value)>;

async fn refused(sandbox: &TestSandbox, change: impl FnOnce(&mut Value)) -> Value {
    let mut body = token_request();
    change(&mut body);
    let (status, error) = sandbox.plaid("/link/token/create", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    error
}

#[tokio::test]
async fn a_link_token_is_link_sandbox_uuid_and_expires_four_hours_later() {
    let sandbox = spawn_sandbox().await;
    let before = sandbox.control.now();
    let created = sandbox
        .plaid_ok("/link/token/create", token_request())
        .await;
    let token = created["link_token"].as_str().unwrap();
    let uuid = token.strip_prefix("link-sandbox-").unwrap();
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{token}");
    assert_eq!(created["request_id"].as_str().unwrap().len(), 15);
    assert!(created.get("hosted_link_url").is_none());
    let expiration = DateTime::parse_from_rfc3339(created["expiration"].as_str().unwrap()).unwrap();
    let hours = (expiration.timestamp() - before.timestamp()) as f64 / 3600.0;
    assert!((hours - 4.0).abs() < 0.01, "{hours}");

    let listed = sandbox.control.link_tokens();
    assert_eq!(listed.len(), 1);
    let snapshot = &listed[0];
    assert_eq!(snapshot.link_token, token);
    assert_eq!(snapshot.client_name, "Funding Demo");
    assert_eq!(snapshot.client_user_id.as_deref(), Some("user-42"));
    assert_eq!(snapshot.products, vec!["auth"]);
    assert_eq!(snapshot.country_codes, vec!["US"]);
    assert!(!snapshot.is_update_mode());
    assert!(snapshot.public_tokens.is_empty());
    let (status, over_http) = sandbox
        .control_http(Method::GET, "/plaid/link_tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(over_http[0]["link_token"], token);
}

#[tokio::test]
async fn webhook_redirect_uri_and_android_package_name_are_remembered() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |body| {
        body["webhook"] = json!("https://example.com/plaid/webhooks");
        body["redirect_uri"] = json!("https://app.example.com/oauth");
        body["android_package_name"] = json!("com.example.app");
        body["account_filters"] = json!({"depository": {"account_subtypes": ["checking"]}});
        body["update"] = json!({"account_selection_enabled": true});
    })
    .await;
    let snapshot = sandbox.control.link_token(&token).unwrap();
    assert_eq!(
        snapshot.webhook.as_deref(),
        Some("https://example.com/plaid/webhooks")
    );
    assert_eq!(
        snapshot.redirect_uri.as_deref(),
        Some("https://app.example.com/oauth")
    );
    assert_eq!(
        snapshot.android_package_name.as_deref(),
        Some("com.example.app")
    );
}

#[tokio::test]
async fn bad_requests_get_plaids_error_naming_the_field() {
    let sandbox = spawn_sandbox().await;
    let cases: Vec<(Change, &str, &str)> = vec![
        (
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("client_name"))),
            "MISSING_FIELDS",
            "client_name",
        ),
        (
            Box::new(|b| b["client_name"] = json!("  ")),
            "INVALID_FIELD",
            "client_name",
        ),
        (
            Box::new(|b| b["language"] = json!("xx")),
            "INVALID_FIELD",
            "language",
        ),
        (
            Box::new(|b| b["country_codes"] = json!([])),
            "INVALID_FIELD",
            "country_codes",
        ),
        (
            Box::new(|b| b["country_codes"] = json!(["ZZ"])),
            "INVALID_FIELD",
            "country_codes[0]",
        ),
        (
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("user"))),
            "MISSING_FIELDS",
            "user",
        ),
        (
            Box::new(|b| b["user"] = json!({})),
            "MISSING_FIELDS",
            "user.client_user_id",
        ),
        (
            Box::new(|b| b["user"] = json!({"client_user_id": ""})),
            "INVALID_FIELD",
            "user.client_user_id",
        ),
        (
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("products"))),
            "MISSING_FIELDS",
            "products",
        ),
        (
            Box::new(|b| b["products"] = json!(["balance"])),
            "INVALID_FIELD",
            "balance",
        ),
        (
            Box::new(|b| b["products"] = json!(["cake"])),
            "INVALID_FIELD",
            "products[0]",
        ),
        (
            Box::new(|b| b["webhook"] = json!("not a url")),
            "INVALID_FIELD",
            "webhook",
        ),
        (
            Box::new(|b| b["redirect_uri"] = json!("javascript:alert(1)")),
            "INVALID_FIELD",
            "redirect_uri",
        ),
        (
            Box::new(|b| b["update"] = json!({"account_selection_enabled": "yes"})),
            "INVALID_FIELD",
            "update.account_selection_enabled",
        ),
        (
            Box::new(|b| b["surprise"] = json!(1)),
            "UNKNOWN_FIELDS",
            "surprise",
        ),
    ];
    for (change, code, field) in cases {
        let error = refused(&sandbox, change).await;
        assert_eq!(error["error_type"], "INVALID_REQUEST", "{error}");
        assert_eq!(error["error_code"], code, "{error}");
        let message = error["error_message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
        assert!(error["request_id"].is_string());
    }
    let unknown = refused(&sandbox, |b| {
        b["access_token"] = json!("access-sandbox-00000000-0000-0000-0000-000000000000");
    })
    .await;
    assert_eq!(unknown["error_type"], "INVALID_INPUT");
    assert_eq!(unknown["error_code"], "INVALID_ACCESS_TOKEN");
    assert!(sandbox.control.link_tokens().is_empty());
}

#[tokio::test]
async fn update_mode_takes_an_access_token_without_products_and_lasts_thirty_minutes() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let before = sandbox.control.now();
    let created = sandbox
        .plaid_ok(
            "/link/token/create",
            json!({
                "client_name": "Funding Demo",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "user-42"},
                "access_token": linked.access_token,
            }),
        )
        .await;
    let expiration = DateTime::parse_from_rfc3339(created["expiration"].as_str().unwrap()).unwrap();
    assert_eq!((expiration.timestamp() - before.timestamp() + 30) / 60, 30);
    let token = created["link_token"].as_str().unwrap();
    let snapshot = sandbox.control.link_token(token).unwrap();
    assert!(snapshot.is_update_mode());
    assert_eq!(
        snapshot.update_item_id.as_deref(),
        Some(linked.item_id.as_str())
    );
    assert!(snapshot.products.is_empty());
}

#[tokio::test]
async fn hosted_link_answers_a_url_of_the_emulators_link_page() {
    let sandbox = spawn_sandbox().await;
    let mut body = token_request();
    body["hosted_link"] = json!({"completion_redirect_uri": "https://app.example.com/done?x=1"});
    let created = sandbox.plaid_ok("/link/token/create", body).await;
    let url = created["hosted_link_url"].as_str().unwrap();
    let token = created["link_token"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "{}/link?token={token}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fdone%3Fx%3D1",
            sandbox.handle.plaid_url()
        )
    );
    let page = sandbox.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_link_token_no_longer_opens_link() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |_| {}).await;
    assert!(sandbox.control.complete_link(&token, "ins_109508").is_ok());
    sandbox
        .control
        .advance_clock(Duration::from_secs(4 * 3600 + 1));
    let error = sandbox
        .control
        .complete_link(&token, "ins_109508")
        .unwrap_err();
    assert!(error.to_string().contains("INVALID_LINK_TOKEN"), "{error}");
    let unknown = sandbox
        .control
        .complete_link("link-sandbox-nope", "ins_109508")
        .unwrap_err();
    assert!(
        unknown.to_string().contains("INVALID_LINK_TOKEN"),
        "{unknown}"
    );
}
