//! The HTTP control API under `/_sandbox`, on both listeners: it drives the same state as
//! [`funding_sandbox::SandboxControl`].

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestSandbox, is_event, spawn_sandbox};

async fn control(
    sandbox: &TestSandbox,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = sandbox.http.request(
        method,
        format!("{}/_sandbox{path}", sandbox.handle.plaid_url()),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn delays_are_read_and_set_over_http() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = control(
        &sandbox,
        Method::POST,
        "/delays",
        Some(json!({"transfer_step_delay_ms": 250, "relationship_approval_delay_ms": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["transfer_step_delay_ms"], 250);
    assert_eq!(
        sandbox.control.delays().transfer_step_delay,
        Duration::from_millis(250)
    );
    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/delays",
        Some(json!({"typo_ms": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn statuses_faults_calls_and_clock_work_over_http() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    stream.until(|e| is_event(e, &id, "APPROVED")).await;

    let (status, _) = control(
        &sandbox,
        Method::POST,
        &format!("/relationships/{id}/status"),
        Some(json!({"status": "CANCELED", "reason": "closed by ops"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let event = stream
        .until(|e| is_event(e, &id, "CANCELED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(event["reason"], "closed by ops");

    let (status, body) = control(
        &sandbox,
        Method::POST,
        &format!("/transfers/{}/status", Uuid::new_v4()),
        Some(json!({"status": "RETURNED"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());

    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/faults",
        Some(json!({"host": "plaid", "method": "post", "path_prefix": "/item/", "status": 503, "mode": "after_effect"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = sandbox
        .plaid("/item/get", json!({"access_token": "x"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let (_, calls) = control(&sandbox, Method::GET, "/calls", None).await;
    let last = calls.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"host": "plaid", "method": "POST", "path": "/item/get", "status": 503})
    );
    let (status, _) = control(&sandbox, Method::DELETE, "/calls", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sandbox.control.calls().is_empty());

    let before = sandbox.control.now();
    let (status, body) = control(
        &sandbox,
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 3600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["now"].is_string());
    assert!(sandbox.control.now() - before >= chrono::Duration::seconds(3600));
}

#[tokio::test]
async fn accounts_public_tokens_and_disconnects_work_over_the_alpaca_listener_too() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let url = |path: &str| format!("{}/_sandbox{path}", sandbox.handle.alpaca_url());
    let response = sandbox
        .http
        .post(url(&format!("/accounts/{account}")))
        .json(&json!({"cash": "250.00", "status": "ACTIVE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cash"], "250");
    assert_eq!(
        sandbox.control.account(account).cash,
        rust_decimal::Decimal::new(250, 0)
    );

    let link: Value = sandbox
        .http
        .post(url("/plaid/public_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(link["accounts"].as_array().unwrap().len(), 2);
    let exchanged = sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({"public_token": link["public_token"]}),
        )
        .await;
    assert_eq!(exchanged["item_id"], link["item_id"]);

    let mut stream = sandbox.events("").await;
    let response = sandbox
        .http
        .post(url("/streams/disconnect"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(stream.next_event().await.is_none());

    let response = sandbox.http.get(url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_issued_access_and_processor_token_is_listed_for_a_leak_scan() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = control(&sandbox, Method::GET, "/plaid/tokens", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"access_tokens": [], "processor_tokens": []}));
    let linked = sandbox.link().await;
    let processor = sandbox.processor_token().await;
    let (_, body) = control(&sandbox, Method::GET, "/plaid/tokens", None).await;
    // `processor_token` links a second item of its own first.
    let access = body["access_tokens"].as_array().unwrap();
    assert_eq!(access.len(), 2);
    assert_eq!(access[0], linked.access_token.as_str());
    assert_eq!(body["processor_tokens"], json!([processor]));
    assert_eq!(
        sandbox.control.issued_tokens().processor_tokens,
        vec![processor]
    );
}

#[tokio::test]
async fn every_bad_control_body_gets_a_400_naming_the_field() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let transfer = Uuid::new_v4();
    let cases = [
        (
            "/delays",
            json!({"transfer_step_delay_ms": "fast"}),
            "transfer_step_delay_ms",
        ),
        ("/delays", json!({"typo_ms": 1}), "typo_ms"),
        (
            &format!("/accounts/{account}") as &str,
            json!({"cash": 100.5}),
            "cash",
        ),
        (
            &format!("/accounts/{account}"),
            json!({"cash": "lots"}),
            "cash",
        ),
        (
            &format!("/accounts/{account}"),
            json!({"status": 7}),
            "status",
        ),
        (
            &format!("/transfers/{transfer}/status"),
            json!({"reason": "x"}),
            "status",
        ),
        ("/clock/advance", json!({"seconds": "soon"}), "seconds"),
        ("/clock/advance", json!({"seconds": -1}), "seconds"),
        (
            "/plaid/public_token",
            json!({"institution_id": 1}),
            "institution_id",
        ),
        ("/plaid/webhook", json!({"url": false}), "url"),
        ("/plaid/webhook_faults", json!({"times": "twice"}), "times"),
        ("/delays", json!("not an object"), "object"),
    ];
    for (path, request, field) in cases {
        let (status, body) = control(&sandbox, Method::POST, path, Some(request.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {request}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(field), "{path} {request}: {message}");
    }
    // Nothing was applied: the account still has its default zero cash.
    assert_eq!(
        sandbox.control.account(account).cash,
        rust_decimal::Decimal::ZERO
    );
}
