//! ACH relationships: creation from a processor token or manual details, approval seen on the
//! event stream, rejection through control, the one-active-relationship rule, deletion, and the
//! errors (401, 400, 404, 409, 422) with Alpaca's body and headers.

use std::time::Duration;

use funding_sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{is_event, spawn_sandbox, spawn_with};

fn is_rfc3339_nanos_z(value: &serde_json::Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn a_processor_token_relationship_is_queued_then_approved_on_the_stream() {
    let sandbox = spawn_with(SandboxConfig {
        relationship_approval_delay: Duration::from_millis(50),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let mut stream = sandbox.events("").await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(stream.content_type.starts_with("text/event-stream"));

    let account = Uuid::new_v4();
    let relationship = sandbox.relationship(account).await;
    let id = relationship["id"].as_str().unwrap().to_owned();
    assert!(Uuid::parse_str(&id).is_ok());
    assert_eq!(relationship["account_id"], account.to_string());
    assert_eq!(relationship["status"], "QUEUED");
    assert_eq!(
        relationship["account_owner_name"],
        "Alberta Bobbeth Charleson"
    );
    assert_eq!(relationship["bank_account_type"], "CHECKING");
    assert_eq!(relationship["bank_account_number"], "XXXXXXXXXXXX0000");
    assert_eq!(relationship["bank_routing_number"], "011401533");
    assert!(relationship.get("processor_token").is_none());
    assert!(is_rfc3339_nanos_z(&relationship["created_at"]));
    assert!(is_rfc3339_nanos_z(&relationship["updated_at"]));

    let events = stream.until(|e| is_event(e, &id, "APPROVED")).await;
    let queued = events.iter().find(|e| is_event(e, &id, "QUEUED")).unwrap();
    assert!(queued.get("status_from").is_none());
    assert!(queued.get("reason").is_none());
    let approved = events.last().unwrap();
    assert_eq!(approved["status_from"], "QUEUED");
    assert_eq!(approved["entity_type"], "BankRelationship");
    assert_eq!(approved["correspondent"], "LPCA");
    assert_eq!(approved["account_id"], account.to_string());
    assert!(ulid::Ulid::from_string(approved["event_id"].as_str().unwrap()).is_ok());
    assert!(is_rfc3339_nanos_z(&approved["at"]));
    assert_eq!(sandbox.relationship_status(account, &id).await, "APPROVED");
}

#[tokio::test]
async fn control_rejects_a_relationship_with_a_reason() {
    let sandbox = spawn_with(SandboxConfig {
        relationship_approval_delay: Duration::from_secs(3600),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reason = "bank account owner name does not match brokerage account name";
    sandbox
        .control
        .set_relationship_status(id.parse().unwrap(), "REJECTED", Some(reason.into()))
        .unwrap();
    let events = stream.until(|e| is_event(e, &id, "REJECTED")).await;
    let rejected = events.last().unwrap();
    assert_eq!(rejected["reason"], reason);
    assert_eq!(rejected["status_from"], "QUEUED");
    assert_eq!(sandbox.relationship_status(account, &id).await, "REJECTED");

    // A rejected relationship is not active: a new one may be created.
    sandbox.relationship(account).await;
}

#[tokio::test]
async fn a_second_active_relationship_on_an_account_is_a_conflict() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    sandbox.relationship(account).await;
    let token = sandbox.processor_token().await;
    let (status, body) = sandbox
        .alpaca_json(
            Method::POST,
            &format!("/v1/accounts/{account}/ach_relationships"),
            Some(json!({ "processor_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"code": 40910000, "message": "The account already has an active relationship"})
    );
}

#[tokio::test]
async fn deleting_a_relationship_cancels_it_in_two_steps() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    stream.until(|e| is_event(e, &id, "APPROVED")).await;

    let (status, body) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/ach_relationships/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let events = stream.until(|e| is_event(e, &id, "CANCELED")).await;
    assert!(events.iter().any(|e| is_event(e, &id, "CANCEL_REQUESTED")));
    assert_eq!(events.last().unwrap()["status_from"], "CANCEL_REQUESTED");

    // Canceled frees the account for a new relationship.
    sandbox.relationship(account).await;

    let unknown = Uuid::new_v4();
    let (status, body) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/ach_relationships/{unknown}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"code": 40410000, "message": "relationship not found"})
    );
}

#[tokio::test]
async fn the_list_filters_by_statuses() {
    let sandbox = spawn_with(SandboxConfig {
        relationship_approval_delay: Duration::from_secs(3600),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let account = Uuid::new_v4();
    let first = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sandbox
        .control
        .set_relationship_status(first.parse().unwrap(), "CANCELED", None)
        .unwrap();
    let second = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, all) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/ach_relationships"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, queued) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/ach_relationships?statuses=QUEUED,APPROVED"),
            None,
        )
        .await;
    let ids: Vec<&str> = queued
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.as_str()]);
}

/// alpaca-py 0.44's `ACHRelationship` requires `bank_account_type` (CHECKING, SAVINGS or ""),
/// `bank_account_number` and `bank_routing_number`: every answer carries them, taken from the
/// Plaid account behind the processor token (its subtype, and the numbers `/processor/auth/get`
/// shows, masked).
#[tokio::test]
async fn a_processor_token_relationship_carries_the_plaid_accounts_bank_details() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let token = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": linked.savings_account_id, "processor": "alpaca"}),
        )
        .await["processor_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = sandbox
        .plaid_ok("/processor/auth/get", json!({"processor_token": token}))
        .await;
    let ach = &auth["numbers"]["ach"];
    let full_number = ach["account"].as_str().unwrap().to_owned();
    assert_eq!(auth["account"]["subtype"], "savings");
    assert!(full_number.ends_with(auth["account"]["mask"].as_str().unwrap()));

    let account = Uuid::new_v4();
    let path = format!("/v1/accounts/{account}/ach_relationships");
    let (status, created) = sandbox
        .alpaca_json(
            Method::POST,
            &path,
            Some(json!({"processor_token": token, "nickname": "Savings"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let masked = format!(
        "{}{}",
        "X".repeat(full_number.len() - 4),
        &full_number[full_number.len() - 4..]
    );
    assert_eq!(created["bank_account_type"], "SAVINGS");
    assert_eq!(created["bank_account_number"], masked.as_str());
    assert_eq!(created["bank_routing_number"], ach["routing"]);
    assert_eq!(created["account_owner_name"], "Alberta Bobbeth Charleson");
    assert_eq!(created["nickname"], "Savings");

    let (_, list) = sandbox.alpaca_json(Method::GET, &path, None).await;
    let listed = &list.as_array().unwrap()[0];
    for key in [
        "id",
        "bank_account_type",
        "bank_account_number",
        "bank_routing_number",
        "account_owner_name",
        "nickname",
    ] {
        assert_eq!(listed[key], created[key], "{key}");
    }
    assert!(!list.to_string().contains(&full_number));
}

#[tokio::test]
async fn a_manual_relationship_validates_its_bank_details() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let path = format!("/v1/accounts/{account}/ach_relationships");
    let good = json!({
        "account_owner_name": "John Doe",
        "bank_account_type": "CHECKING",
        "bank_account_number": "32131231abc",
        "bank_routing_number": "121000358",
        "nickname": "Bank of America Checking",
        "some_future_field": true,
    });
    for (field, value, message) in [
        (
            "bank_routing_number",
            json!("121000359"),
            "bank_routing_number is invalid",
        ),
        (
            "bank_account_type",
            json!("BROKERAGE"),
            "bank_account_type must be one of CHECKING, SAVINGS",
        ),
        (
            "account_owner_name",
            json!(""),
            "account_owner_name is required",
        ),
        (
            "bank_account_number",
            json!("12"),
            "bank_account_number is invalid",
        ),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, error) = sandbox.alpaca_json(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(error, json!({"code": 42210000, "message": message}));
    }
    let (status, created) = sandbox.alpaca_json(Method::POST, &path, Some(good)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["bank_account_type"], "CHECKING");
    assert_eq!(created["bank_account_number"], "XXXXXXX1abc");
    assert_eq!(created["bank_routing_number"], "121000358");
    assert_eq!(created["nickname"], "Bank of America Checking");
}

#[tokio::test]
async fn only_processor_tokens_issued_for_alpaca_are_accepted() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let path = format!("/v1/accounts/{account}/ach_relationships");
    let (status, body) = sandbox
        .alpaca_json(
            Method::POST,
            &path,
            Some(json!({"processor_token": "processor-sandbox-forged"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"code": 42210000, "message": "invalid processor token"})
    );

    let linked = sandbox.link().await;
    let dwolla = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": linked.checking_account_id, "processor": "dwolla"}),
        )
        .await;
    let (status, _) = sandbox
        .alpaca_json(
            Method::POST,
            &path,
            Some(json!({"processor_token": dwolla["processor_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_closed_account_cannot_link_a_bank() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    sandbox
        .control
        .set_account_status(account, "ACCOUNT_CLOSED");
    let token = sandbox.processor_token().await;
    let (status, body) = sandbox
        .alpaca_json(
            Method::POST,
            &format!("/v1/accounts/{account}/ach_relationships"),
            Some(json!({ "processor_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], 40310000);
}
