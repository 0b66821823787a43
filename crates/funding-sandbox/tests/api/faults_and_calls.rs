//! Fault injection (429 with Retry-After, 5xx before and after the effect, method and path
//! matching, `times`) and the call log.

use funding_sandbox::{Fault, FaultMode, Host, Method};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::spawn_sandbox;

#[tokio::test]
async fn a_plaid_429_carries_retry_after_and_plaids_rate_limit_error() {
    let sandbox = spawn_sandbox().await;
    sandbox
        .control
        .inject_fault(Fault::new(Host::Plaid, "/sandbox/public_token/create", 429));
    let response = sandbox
        .http
        .post(sandbox.plaid_url("/sandbox/public_token/create"))
        .header("PLAID-CLIENT-ID", "a")
        .header("PLAID-SECRET", "b")
        .json(&json!({"institution_id": "ins_109508", "initial_products": ["auth"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(body["error_code"], "RATE_LIMIT");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 15);
    // Only once.
    sandbox.public_token().await;
}

#[tokio::test]
async fn plaid_5xx_faults_use_api_error_codes() {
    let sandbox = spawn_sandbox().await;
    sandbox
        .control
        .inject_fault(Fault::new(Host::Plaid, "/accounts/get", 500));
    sandbox
        .control
        .inject_fault(Fault::new(Host::Plaid, "/item/get", 503));
    let (status, body) = sandbox.plaid("/accounts/get", json!({})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error_type"], "API_ERROR");
    assert_eq!(body["error_code"], "INTERNAL_SERVER_ERROR");
    let (status, body) = sandbox.plaid("/item/get", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error_code"], "PLANNED_MAINTENANCE");
}

#[tokio::test]
async fn an_alpaca_429_carries_retry_after_and_rate_limit_headers() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    sandbox.control.inject_fault(
        Fault::new(Host::Alpaca, "/v1/accounts/", 429)
            .method(Method::GET)
            .times(2),
    );
    let path = format!("/v1/accounts/{account}/transfers");
    for _ in 0..2 {
        let response = sandbox
            .alpaca(reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
        assert!(response.headers().contains_key("x-ratelimit-reset"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 42910000);
        assert!(body["message"].is_string());
    }
    let response = sandbox
        .alpaca(reqwest::Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_500_before_the_effect_creates_nothing() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let token = sandbox.processor_token().await;
    let path = format!("/v1/accounts/{account}/ach_relationships");
    sandbox
        .control
        .inject_fault(Fault::new(Host::Alpaca, &path, 500).method(Method::POST));
    let (status, body) = sandbox
        .alpaca_json(
            reqwest::Method::POST,
            &path,
            Some(json!({ "processor_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], 50010000);
    let (_, list) = sandbox.alpaca_json(reqwest::Method::GET, &path, None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_500_after_the_effect_is_a_dropped_response() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let token = sandbox.processor_token().await;
    let path = format!("/v1/accounts/{account}/ach_relationships");
    sandbox.control.inject_fault(
        Fault::new(Host::Alpaca, &path, 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect),
    );
    let (status, _) = sandbox
        .alpaca_json(
            reqwest::Method::POST,
            &path,
            Some(json!({ "processor_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (_, list) = sandbox.alpaca_json(reqwest::Method::GET, &path, None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the relationship exists anyway"
    );
}

#[tokio::test]
async fn the_call_log_records_method_path_and_status_only() {
    let sandbox = spawn_sandbox().await;
    sandbox.control.reset_calls();
    assert!(sandbox.control.calls().is_empty());
    let account = Uuid::new_v4();
    sandbox.relationship(account).await;
    let calls = sandbox.control.calls();
    let hosts: Vec<Host> = calls.iter().map(|c| c.host).collect();
    assert_eq!(
        hosts,
        vec![
            Host::Plaid,
            Host::Plaid,
            Host::Plaid,
            Host::Plaid,
            Host::Alpaca
        ]
    );
    let creates = calls
        .iter()
        .filter(|c| c.is("POST", &format!("/v1/accounts/{account}/ach_relationships")))
        .count();
    assert_eq!(creates, 1, "exactly one relationship creation");
    assert!(calls.iter().all(|c| c.status == 200));
    assert!(calls[0].is("POST", "/sandbox/public_token/create"));

    // Control calls are not recorded; refused calls are, with their status.
    sandbox.control.reset_calls();
    let response = sandbox
        .http
        .get(sandbox.alpaca_url("/_sandbox/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    let _ = sandbox
        .http
        .get(sandbox.alpaca_url("/v1/accounts/x/transfers"))
        .send()
        .await;
    let calls = sandbox.control.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 401);
    assert_eq!(calls[0].path, "/v1/accounts/x/transfers");
}

#[tokio::test]
async fn clear_faults_removes_pending_rules() {
    let sandbox = spawn_sandbox().await;
    sandbox
        .control
        .inject_fault(Fault::new(Host::Plaid, "/", 503).times(100));
    sandbox.control.clear_faults();
    sandbox.public_token().await;
}
