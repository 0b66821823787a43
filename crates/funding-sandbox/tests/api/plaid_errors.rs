//! Plaid error bodies: shape, codes and HTTP statuses for bad headers, bodies, fields and keys.

use funding_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{spawn_sandbox, spawn_with};

/// Every Plaid error body has exactly Plaid's keys.
fn assert_plaid_error(body: &Value, error_type: &str, error_code: &str) {
    assert_eq!(body["error_type"], error_type, "{body}");
    assert_eq!(body["error_code"], error_code, "{body}");
    assert!(body["error_message"].is_string());
    assert!(body["display_message"].is_null());
    assert!(body["suggested_action"].is_null());
    assert_eq!(body["request_id"].as_str().unwrap().len(), 15);
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://plaid.com/docs/")
    );
}

#[tokio::test]
async fn unknown_fields_are_refused_and_named() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .plaid(
            "/sandbox/public_token/create",
            json!({
                "institution_id": "ins_109508", "initial_products": ["auth"],
                "colour": "blue", "options": {"webhook": "https://x.test", "flavour": 1},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_REQUEST", "UNKNOWN_FIELDS");
    assert_eq!(
        body["error_message"],
        "the following fields are not recognized by this endpoint: colour, options.flavour"
    );
}

#[tokio::test]
async fn missing_required_fields_are_listed() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox.plaid("/processor/token/create", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(
        body["error_message"],
        "the following required fields are missing: access_token, account_id, processor"
    );
}

#[tokio::test]
async fn wrong_types_are_invalid_fields() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .plaid("/item/public_token/exchange", json!({ "public_token": 42 }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_REQUEST", "INVALID_FIELD");

    let (_, body) = sandbox
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_1", "initial_products": []}),
        )
        .await;
    assert_plaid_error(&body, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn an_unknown_institution_is_invalid_input() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "bank_of_nowhere", "initial_products": ["auth"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_INPUT", "INVALID_INSTITUTION");
}

#[tokio::test]
async fn an_unknown_public_token_is_invalid_input() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .plaid(
            "/item/public_token/exchange",
            json!({ "public_token": "public-sandbox-unknown" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN");
    assert_eq!(
        body["error_message"],
        "could not find matching public token"
    );
}

#[tokio::test]
async fn a_body_without_the_json_content_type_is_refused() {
    let sandbox = spawn_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.plaid_url("/item/public_token/exchange"))
        .header("PLAID-CLIENT-ID", "a")
        .header("PLAID-SECRET", "b")
        .body(r#"{"public_token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_plaid_error(&body, "INVALID_REQUEST", "INVALID_HEADERS");
}

#[tokio::test]
async fn malformed_json_is_an_invalid_body() {
    let sandbox = spawn_sandbox().await;
    for raw in ["{not json", "[1,2]", "", "\"text\""] {
        let response = sandbox
            .http
            .post(sandbox.plaid_url("/item/public_token/exchange"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{raw:?}");
        let body: Value = response.json().await.unwrap();
        assert_plaid_error(&body, "INVALID_REQUEST", "INVALID_BODY");
    }
}

#[tokio::test]
async fn a_huge_body_is_refused_without_harm() {
    let sandbox = spawn_sandbox().await;
    let huge = format!(r#"{{"public_token":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let response = sandbox
        .http
        .post(sandbox.plaid_url("/item/public_token/exchange"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_plaid_error(&body, "INVALID_REQUEST", "INVALID_BODY");
    // Still serving.
    sandbox.public_token().await;
}

#[tokio::test]
async fn missing_credentials_are_missing_fields() {
    let sandbox = spawn_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.plaid_url("/item/public_token/exchange"))
        .json(&json!({ "public_token": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_plaid_error(&body, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(
        body["error_message"],
        "the following required fields are missing: client_id, secret"
    );
}

#[tokio::test]
async fn configured_credentials_refuse_other_keys() {
    let config = SandboxConfig {
        plaid_credentials: Some(("right-id".into(), "right-secret".into())),
        ..SandboxConfig::ephemeral()
    };
    let sandbox = spawn_with(config).await;
    let (status, body) = sandbox
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["auth"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_plaid_error(&body, "INVALID_INPUT", "INVALID_API_KEYS");
    assert_eq!(
        body["error_message"],
        "invalid client_id or secret provided"
    );

    let ok = sandbox
        .http
        .post(sandbox.plaid_url("/sandbox/public_token/create"))
        .header("PLAID-CLIENT-ID", "right-id")
        .header("PLAID-SECRET", "right-secret")
        .json(&json!({"institution_id": "ins_109508", "initial_products": ["auth"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_plaid_errors() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox.plaid("/transactions/teleport", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_plaid_error(&body, "INVALID_REQUEST", "NOT_FOUND");

    let response = sandbox
        .http
        .get(sandbox.plaid_url("/accounts/get"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert!(body["request_id"].is_string());
}
