//! Alpaca protocol behaviour shared by every endpoint: Basic auth (401 body), malformed ids and
//! bodies (400 naming the parameter), rate-limit headers, and unknown paths and methods.

use funding_sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_sandbox, spawn_with};

#[tokio::test]
async fn requests_without_valid_basic_auth_are_unauthorized() {
    let sandbox = spawn_with(SandboxConfig {
        alpaca_credentials: Some(("key".into(), "secret".into())),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let path = sandbox.alpaca_url(&format!(
        "/v1/accounts/{}/ach_relationships",
        Uuid::new_v4()
    ));
    for request in [
        sandbox.http.get(&path),
        sandbox.http.get(&path).basic_auth("key", Some("wrong")),
        sandbox.http.get(&path).header("authorization", "Basic !!!"),
        sandbox.http.get(&path).bearer_auth("token"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"code": 40110000, "message": "request is not authorized"})
        );
    }
    let ok = sandbox
        .http
        .get(&path)
        .basic_auth("key", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_ids_and_bodies_are_bad_requests() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .alpaca_json(
            Method::GET,
            "/v1/accounts/not-a-uuid/ach_relationships",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 40010000);
    assert!(body["message"].as_str().unwrap().contains("account_id"));

    let account = Uuid::new_v4();
    let (status, body) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/ach_relationships/12345"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("relationship_id")
    );

    let response = sandbox
        .alpaca(
            Method::POST,
            &format!("/v1/accounts/{account}/ach_relationships"),
        )
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 40010000);
}

#[tokio::test]
async fn every_alpaca_response_carries_rate_limit_headers() {
    let sandbox = spawn_sandbox().await;
    let response = sandbox
        .alpaca(
            Method::GET,
            &format!("/v1/accounts/{}/transfers", Uuid::new_v4()),
        )
        .send()
        .await
        .unwrap();
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        let value = response.headers().get(header).unwrap().to_str().unwrap();
        assert!(value.parse::<u64>().is_ok(), "{header}: {value}");
    }
    let unauthorized = sandbox
        .http
        .get(sandbox.alpaca_url("/v1/accounts/x/transfers"))
        .send()
        .await
        .unwrap();
    assert!(unauthorized.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn unknown_alpaca_paths_and_methods_answer_alpaca_errors() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox.alpaca_json(Method::GET, "/v1/teleport", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 40410000);
    let (status, body) = sandbox
        .alpaca_json(
            Method::PUT,
            &format!("/v1/accounts/{}/transfers", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["message"].is_string());
}
