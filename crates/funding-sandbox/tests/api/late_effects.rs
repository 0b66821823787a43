//! Late effects (the caller gets the fault at once, or no answer at all with status 0, and the
//! request's effect lands later), faults that answer the provider's own error object, and their
//! HTTP control shapes.

use std::time::Duration;

use funding_sandbox::{Fault, FaultMode, Host, Method};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestSandbox, eventually, is_event, spawn_sandbox};

/// Long enough that a caller has surely had its answer before the effect lands.
const LATE: Duration = Duration::from_millis(1500);

async fn transfers(sandbox: &TestSandbox, account: Uuid) -> Vec<Value> {
    let (status, list) = sandbox
        .alpaca_json(
            reqwest::Method::GET,
            &format!("/v1/accounts/{account}/transfers"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_late_transfer_create_answers_504_now_and_creates_the_transfer_later() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let mut stream = sandbox.events("").await;
    let path = format!("/v1/accounts/{account}/transfers");
    sandbox
        .control
        .inject_fault(Fault::late_effect(Host::Alpaca, &path, 504, LATE).method(Method::POST));

    let (status, body) = sandbox
        .transfer(account, &relationship, "500", "INCOMING")
        .await;
    let answered_at = sandbox.control.now();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        body,
        json!({"code": 50410000, "message": "gateway timeout"})
    );
    assert!(transfers(&sandbox, account).await.is_empty(), "nothing yet");

    let created = eventually("the late transfer", || async {
        transfers(&sandbox, account).await.pop()
    })
    .await;
    let created_at = chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(
        created_at > answered_at,
        "created at {created_at}, after the 504 at {answered_at}"
    );
    assert_eq!(created["requested_amount"], "500");
    let id = created["id"].as_str().unwrap().to_owned();
    // Then its normal lifecycle, with its events.
    let events = stream.until(|e| is_event(e, &id, "COMPLETE")).await;
    let steps: Vec<&Value> = events
        .iter()
        .filter(|e| e["entity_id"] == id.as_str())
        .map(|e| &e["status_to"])
        .collect();
    assert_eq!(steps, ["QUEUED", "SENT_TO_CLEARING", "COMPLETE"]);
    assert_eq!(
        sandbox.control.account(account).cash,
        rust_decimal::Decimal::new(500, 0)
    );
    // The call log has the one call, with the status its caller saw.
    let creates: Vec<u16> = sandbox
        .control
        .calls()
        .iter()
        .filter(|c| c.is("POST", &path))
        .map(|c| c.status)
        .collect();
    assert_eq!(creates, [504]);
}

#[tokio::test]
async fn status_0_closes_the_connection_without_an_answer_and_the_relationship_lands_later() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let token = sandbox.processor_token().await;
    let path = format!("/v1/accounts/{account}/ach_relationships");
    sandbox.control.inject_fault(Fault::late_effect(
        Host::Alpaca,
        &path,
        Fault::NO_ANSWER,
        LATE,
    ));

    let error = sandbox
        .alpaca(reqwest::Method::POST, &path)
        .json(&json!({ "processor_token": token }))
        .send()
        .await
        .expect_err("no answer at all");
    assert!(error.status().is_none(), "no HTTP status: {error:?}");
    assert!(
        error.is_request() && !error.is_timeout(),
        "a transport error: {error:?}"
    );
    let (_, list) = sandbox.alpaca_json(reqwest::Method::GET, &path, None).await;
    assert_eq!(list, json!([]), "nothing yet");

    let listed = eventually("the late relationship", || async {
        let (_, list) = sandbox.alpaca_json(reqwest::Method::GET, &path, None).await;
        list.as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(listed["account_id"], account.to_string());
    let statuses: Vec<u16> = sandbox
        .control
        .calls()
        .iter()
        .filter(|c| c.is("POST", &path))
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [0]);
}

#[tokio::test]
async fn status_0_before_the_effect_answers_nothing_and_changes_nothing() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let token = sandbox.processor_token().await;
    let path = format!("/v1/accounts/{account}/ach_relationships");
    sandbox
        .control
        .inject_fault(Fault::new(Host::Alpaca, &path, Fault::NO_ANSWER).method(Method::POST));
    let error = sandbox
        .alpaca(reqwest::Method::POST, &path)
        .json(&json!({ "processor_token": token }))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.status().is_none());
    // The next one goes through: the rule was used up, and the first had no effect.
    let (status, _) = sandbox
        .alpaca_json(
            reqwest::Method::POST,
            &path,
            Some(json!({ "processor_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = sandbox.alpaca_json(reqwest::Method::GET, &path, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_late_plaid_exchange_uses_up_the_public_token_after_the_caller_gave_up() {
    let sandbox = spawn_sandbox().await;
    let public_token = sandbox.public_token().await;
    sandbox.control.inject_fault(Fault::late_effect(
        Host::Plaid,
        "/item/public_token/exchange",
        500,
        LATE,
    ));
    let (status, body) = sandbox
        .plaid(
            "/item/public_token/exchange",
            json!({ "public_token": public_token }),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error_code"], "INTERNAL_SERVER_ERROR");
    assert!(sandbox.control.issued_tokens().access_tokens.is_empty());

    eventually("the late exchange", || async {
        (!sandbox.control.issued_tokens().access_tokens.is_empty()).then_some(())
    })
    .await;
    // Single-use: a retry now finds the token spent.
    let (status, body) = sandbox
        .plaid(
            "/item/public_token/exchange",
            json!({ "public_token": public_token }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PUBLIC_TOKEN");
}

#[tokio::test]
async fn a_fault_answers_the_plaid_error_object_it_carries_with_a_request_id() {
    let sandbox = spawn_sandbox().await;
    let given = json!({
        "error_type": "ITEM_ERROR",
        "error_code": "ITEM_LOGIN_REQUIRED",
        "error_message": "the login details of this item have changed",
        "display_message": null,
    });
    sandbox
        .control
        .inject_fault(Fault::new(Host::Plaid, "/accounts/get", 400).body(given.clone()));
    let (status, body) = sandbox.plaid("/accounts/get", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut expected = given;
    expected["request_id"] = body["request_id"].clone();
    assert_eq!(body, expected);
    assert_eq!(body["request_id"].as_str().unwrap().len(), 15);

    // A request_id the caller gave is kept; after the effect works the same.
    sandbox.control.inject_fault(
        Fault::new(Host::Plaid, "/item/get", 503)
            .mode(FaultMode::AfterEffect)
            .body(json!({"error_type": "API_ERROR", "error_code": "PLANNED_MAINTENANCE", "error_message": "down", "display_message": null, "request_id": "abc"})),
    );
    let (status, body) = sandbox.plaid("/item/get", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["request_id"], "abc");
    assert_eq!(body["error_code"], "PLANNED_MAINTENANCE");
}

#[tokio::test]
async fn a_fault_answers_the_alpaca_error_object_it_carries() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let (status, _) = sandbox
        .control_http(
            reqwest::Method::POST,
            "/faults",
            Some(json!({
                "host": "alpaca",
                "method": "POST",
                "path_prefix": format!("/v1/accounts/{account}/transfers"),
                "status": 403,
                "body": {"code": 40310000, "message": "withdrawals are not permitted for this account"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = sandbox
        .transfer(account, &Uuid::new_v4().to_string(), "1", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"code": 40310000, "message": "withdrawals are not permitted for this account"})
    );
}

#[tokio::test]
async fn late_effect_and_no_answer_faults_are_set_over_http() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let path = format!("/v1/accounts/{account}/transfers");
    let (status, _) = sandbox
        .control_http(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"host": "alpaca", "method": "POST", "path_prefix": path, "status": 0, "mode": "late_effect", "delay_ms": 300})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let error = sandbox
        .alpaca(reqwest::Method::POST, &path)
        .json(&json!({"transfer_type": "ach", "relationship_id": relationship, "amount": "10", "direction": "INCOMING"}))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.status().is_none());
    eventually("the late transfer", || async {
        transfers(&sandbox, account).await.pop()
    })
    .await;
}

#[tokio::test]
async fn bad_fault_requests_get_a_400_naming_the_field() {
    let sandbox = spawn_sandbox().await;
    let cases = [
        (json!({"host": "plaid", "status": 42}), "status"),
        (json!({"host": "plaid", "status": 600}), "status"),
        (json!({"status": 500}), "host"),
        (json!({"host": "bank", "status": 500}), "host"),
        (json!({"host": "plaid"}), "status"),
        (
            json!({"host": "plaid", "status": 500, "mode": "later"}),
            "mode",
        ),
        (
            json!({"host": "plaid", "status": 500, "delay_ms": "soon"}),
            "delay_ms",
        ),
        (
            json!({"host": "plaid", "status": 500, "body": "oops"}),
            "body",
        ),
        (
            json!({"host": "plaid", "status": 500, "method": "NOT A METHOD"}),
            "method",
        ),
        (
            json!({"host": "plaid", "status": 500, "dealy_ms": 5}),
            "dealy_ms",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = sandbox
            .control_http(reqwest::Method::POST, "/faults", Some(request.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(field), "{request}: {message}");
    }
    // Nothing was added.
    sandbox.public_token().await;
}
