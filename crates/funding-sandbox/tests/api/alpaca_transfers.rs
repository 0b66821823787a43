//! Transfers: the automatic QUEUED → SENT_TO_CLEARING → COMPLETE walk with its events and cash,
//! RETURNED through control, cancellation, listing, and the 403/422 refusals. Then: a transfer on a
//! relationship still QUEUED waits for its approval, a relationship that is not usable is 422
//! `invalid relationship_id`, a withdrawal above `cash_withdrawable` is 403, the trading account's
//! `cash_withdrawable` is net of pending withdrawals, control forces REJECTED, CANCELED and
//! RETURNED with ACH return codes, and a 500 injected after the effect still creates the transfer.

use std::str::FromStr;
use std::time::Duration;

use funding_sandbox::{Fault, FaultMode, Host, SandboxConfig};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestSandbox, eventually, is_event, spawn_sandbox, spawn_with};

fn held_transfers() -> SandboxConfig {
    SandboxConfig {
        transfer_step_delay: Duration::from_secs(3600),
        ..SandboxConfig::ephemeral()
    }
}

async fn approved_relationship(sandbox: &TestSandbox, account: Uuid) -> String {
    sandbox.approved_relationship(account).await
}

#[tokio::test]
async fn a_deposit_steps_to_complete_with_events_and_credits_cash() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let (status, transfer) = sandbox
        .transfer(account, &relationship, "500.00", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::OK, "{transfer}");
    let id = transfer["id"].as_str().unwrap().to_owned();
    assert_eq!(transfer["status"], "QUEUED");
    assert_eq!(transfer["type"], "ach");
    assert_eq!(transfer["direction"], "INCOMING");
    assert_eq!(transfer["relationship_id"], relationship.as_str());
    assert_eq!(transfer["account_id"], account.to_string());
    assert!(transfer["reason"].is_null());
    assert_eq!(
        Decimal::from_str(transfer["amount"].as_str().unwrap()).unwrap(),
        Decimal::new(500, 0)
    );
    assert_eq!(transfer["requested_amount"], transfer["amount"]);
    assert_eq!(transfer["fee"], "0");
    assert_eq!(transfer["fee_payment_method"], "invoice");
    let created =
        chrono::DateTime::parse_from_rfc3339(transfer["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(transfer["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(7));

    let events = stream.until(|e| is_event(e, &id, "COMPLETE")).await;
    let steps: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["entity_id"] == id.as_str())
        .map(|e| {
            (
                e.get("status_from").cloned().unwrap_or(Value::Null),
                e["status_to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("QUEUED")),
            (json!("QUEUED"), json!("SENT_TO_CLEARING")),
            (json!("SENT_TO_CLEARING"), json!("COMPLETE")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["entity_type"] == "Transfer" || e["entity_type"] == "BankRelationship")
    );
    assert_eq!(
        sandbox.find_transfer(account, &id).await["status"],
        "COMPLETE"
    );
    assert_eq!(sandbox.control.account(account).cash, Decimal::new(500, 0));

    let (_, trading) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/trading/accounts/{account}/account"),
            None,
        )
        .await;
    assert_eq!(
        Decimal::from_str(trading["cash"].as_str().unwrap()).unwrap(),
        Decimal::new(500, 0)
    );
}

#[tokio::test]
async fn a_return_after_complete_reverses_the_cash_and_carries_the_reason() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let (_, transfer) = sandbox
        .transfer(account, &relationship, "120.50", "INCOMING")
        .await;
    let id = transfer["id"].as_str().unwrap().to_owned();
    stream.until(|e| is_event(e, &id, "COMPLETE")).await;
    assert_eq!(
        sandbox.control.account(account).cash,
        Decimal::new(12050, 2)
    );

    sandbox
        .control
        .set_transfer_status(
            id.parse().unwrap(),
            "RETURNED",
            Some("R01 insufficient funds".into()),
        )
        .unwrap();
    let returned = stream
        .until(|e| is_event(e, &id, "RETURNED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(returned["status_from"], "COMPLETE");
    assert_eq!(returned["reason"], "R01 insufficient funds");
    let listed = sandbox.find_transfer(account, &id).await;
    assert_eq!(listed["status"], "RETURNED");
    assert_eq!(listed["reason"], "R01 insufficient funds");
    assert_eq!(sandbox.control.account(account).cash, Decimal::ZERO);
}

#[tokio::test]
async fn a_withdrawal_needs_the_cash_and_debits_it_when_complete() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let (status, body) = sandbox
        .transfer(account, &relationship, "10.00", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"code": 40310000, "message": "withdrawals are not permitted for this account"})
    );

    sandbox
        .control
        .set_account_cash(account, Decimal::new(100, 0));
    let (status, transfer) = sandbox
        .transfer(account, &relationship, "60", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = transfer["id"].as_str().unwrap().to_owned();
    eventually("the withdrawal completes", || async {
        (sandbox.find_transfer(account, &id).await["status"] == "COMPLETE").then_some(())
    })
    .await;
    assert_eq!(sandbox.control.account(account).cash, Decimal::new(40, 0));
}

#[tokio::test]
async fn a_pending_withdrawal_holds_its_cash() {
    let sandbox = spawn_with(held_transfers()).await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox
        .control
        .set_account_cash(account, Decimal::new(100, 0));
    let (status, _) = sandbox
        .transfer(account, &relationship, "70", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sandbox
        .transfer(account, &relationship, "40", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn transfer_requests_are_validated_like_alpaca() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let path = format!("/v1/accounts/{account}/transfers");
    let base = json!({
        "transfer_type": "ach",
        "relationship_id": relationship,
        "amount": "10.00",
        "direction": "INCOMING",
    });
    let cases = [
        (
            json!({"additional_information": "memo"}),
            "only wire transfer type can provide additional information for the transfer",
        ),
        (
            json!({"relationship_id": Uuid::new_v4().to_string()}),
            "invalid relationship_id",
        ),
        (
            json!({"relationship_id": "nope"}),
            "invalid relationship_id",
        ),
        (json!({"amount": "0"}), "amount must be greater than 0.00"),
        (json!({"amount": "-5"}), "amount must be greater than 0.00"),
        (
            json!({"amount": "10.001"}),
            "amount must have at most 2 decimal places",
        ),
        (json!({"amount": "1e3"}), "invalid amount"),
        (
            json!({"transfer_type": "instant_ach"}),
            "transfer_type must be either ach or wire",
        ),
        (
            json!({"direction": "SIDEWAYS"}),
            "direction must be either incoming or outgoing",
        ),
    ];
    for (patch, message) in cases {
        let mut body = base.clone();
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, error) = sandbox.alpaca_json(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert_eq!(error, json!({"code": 42210000, "message": message}));
    }
    let mut wire = base.clone();
    wire["transfer_type"] = json!("wire");
    let (status, error) = sandbox.alpaca_json(Method::POST, &path, Some(wire)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error,
        json!({"code": 40010001, "message": "cannot submit incoming wire transfer using this API"})
    );

    // The deprecated `timing` is accepted and ignored.
    let mut with_timing = base.clone();
    with_timing["timing"] = json!("immediate");
    let (status, _) = sandbox
        .alpaca_json(Method::POST, &path, Some(with_timing))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn transfers_on_a_rejected_relationship_are_refused() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox
        .control
        .set_relationship_status(relationship.parse().unwrap(), "REJECTED", None)
        .unwrap();
    let (status, body) = sandbox
        .transfer(account, &relationship, "1", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "invalid relationship_id");
}

#[tokio::test]
async fn a_queued_transfer_can_be_canceled_once() {
    let sandbox = spawn_with(held_transfers()).await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let (_, transfer) = sandbox
        .transfer(account, &relationship, "25", "INCOMING")
        .await;
    let id = transfer["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{account}/transfers/{id}");

    let (status, _) = sandbox.alpaca_json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let canceled = stream
        .until(|e| is_event(e, &id, "CANCELED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(canceled["status_from"], "QUEUED");
    assert_eq!(
        sandbox.find_transfer(account, &id).await["status"],
        "CANCELED"
    );

    let (status, body) = sandbox.alpaca_json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], 42210000);

    let unknown = format!("/v1/accounts/{account}/transfers/{}", Uuid::new_v4());
    let (status, body) = sandbox.alpaca_json(Method::DELETE, &unknown, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"code": 40410000, "message": "transfer not found"})
    );
}

#[tokio::test]
async fn a_completed_transfer_cannot_be_canceled() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let (_, transfer) = sandbox
        .transfer(account, &relationship, "5", "INCOMING")
        .await;
    let id = transfer["id"].as_str().unwrap().to_owned();
    eventually("completion", || async {
        (sandbox.find_transfer(account, &id).await["status"] == "COMPLETE").then_some(())
    })
    .await;
    let (status, _) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/transfers/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_list_is_newest_first_and_pages_with_direction_limit_offset() {
    let sandbox = spawn_with(held_transfers()).await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox
        .control
        .set_account_cash(account, Decimal::new(1000, 0));
    let mut ids = Vec::new();
    for (amount, direction) in [("1", "INCOMING"), ("2", "OUTGOING"), ("3", "INCOMING")] {
        let (_, t) = sandbox
            .transfer(account, &relationship, amount, direction)
            .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let list = |query: &'static str| {
        let sandbox = &sandbox;
        async move {
            let (status, body) = sandbox
                .alpaca_json(
                    Method::GET,
                    &format!("/v1/accounts/{account}/transfers{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            body.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("").await,
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        list("?direction=INCOMING").await,
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(list("?limit=1&offset=1").await, vec![ids[1].clone()]);
    assert!(list("?offset=3").await.is_empty());
    let (status, _) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/transfers?limit=x"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn held_relationships() -> SandboxConfig {
    SandboxConfig {
        relationship_approval_delay: Duration::from_secs(3600),
        ..SandboxConfig::ephemeral()
    }
}

/// The trading account's `cash`, `cash_withdrawable`, `pending_transfer_out`, `pending_transfer_in`.
async fn cash_picture(sandbox: &TestSandbox, account: Uuid) -> [Decimal; 4] {
    let (status, trading) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/trading/accounts/{account}/account"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trading}");
    [
        "cash",
        "cash_withdrawable",
        "pending_transfer_out",
        "pending_transfer_in",
    ]
    .map(|field| {
        let text = trading[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is a decimal string: {trading}"));
        Decimal::from_str(text).unwrap()
    })
}

fn dollars(units: i64) -> Decimal {
    Decimal::new(units, 0)
}

#[tokio::test]
async fn a_transfer_on_a_queued_relationship_is_accepted_and_waits_for_the_approval() {
    let sandbox = spawn_with(held_relationships()).await;
    let account = Uuid::new_v4();
    let relationship = sandbox.relationship(account).await;
    assert_eq!(relationship["status"], "QUEUED");
    let relationship = relationship["id"].as_str().unwrap().to_owned();

    let (status, transfer) = sandbox
        .transfer(account, &relationship, "25.00", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::OK, "{transfer}");
    let id = transfer["id"].as_str().unwrap().to_owned();
    assert_eq!(transfer["status"], "QUEUED");
    // Zero step delay: without the wait it would be COMPLETE by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sandbox.find_transfer(account, &id).await["status"],
        "QUEUED"
    );
    assert_eq!(sandbox.control.account(account).cash, Decimal::ZERO);

    sandbox.control.advance_clock(Duration::from_secs(3601));
    eventually("the approval lets the transfer complete", || async {
        (sandbox.find_transfer(account, &id).await["status"] == "COMPLETE").then_some(())
    })
    .await;
    assert_eq!(
        sandbox.relationship_status(account, &relationship).await,
        "APPROVED"
    );
    assert_eq!(sandbox.control.account(account).cash, dollars(25));
}

#[tokio::test]
async fn a_relationship_that_cannot_carry_a_transfer_is_alpacas_422_invalid_relationship_id() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let canceled = approved_relationship(&sandbox, account).await;
    let (status, _) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/ach_relationships/{canceled}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the cancel", || async {
        (sandbox.relationship_status(account, &canceled).await == "CANCELED").then_some(())
    })
    .await;
    let elsewhere = Uuid::new_v4();
    let foreign = approved_relationship(&sandbox, elsewhere).await;
    let invalid = json!({"code": 42210000, "message": "invalid relationship_id"});

    for (relationship, direction) in [
        (canceled.as_str(), "INCOMING"),
        (canceled.as_str(), "OUTGOING"),
        (foreign.as_str(), "INCOMING"),
    ] {
        let (status, body) = sandbox
            .transfer(account, relationship, "1.00", direction)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{relationship}");
        assert_eq!(body, invalid);
    }
    let (_, listed) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/transfers"),
            None,
        )
        .await;
    assert_eq!(listed, json!([]), "nothing was created");
}

#[tokio::test]
async fn a_withdrawal_above_the_withdrawable_cash_is_refused_by_one_cent() {
    let sandbox = spawn_with(held_transfers()).await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox.control.set_account_cash(account, dollars(100));
    let refused =
        json!({"code": 40310000, "message": "withdrawals are not permitted for this account"});

    let (status, body) = sandbox
        .transfer(account, &relationship, "100.01", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, refused);
    let (status, _) = sandbox
        .transfer(account, &relationship, "100.00", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sandbox
        .transfer(account, &relationship, "0.01", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, refused);
    // Deposits are not limited by the cash.
    let (status, _) = sandbox
        .transfer(account, &relationship, "0.01", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_trading_account_reports_cash_withdrawable_net_of_pending_withdrawals() {
    let sandbox = spawn_with(held_transfers()).await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox.control.set_account_cash(account, dollars(100));
    assert_eq!(
        cash_picture(&sandbox, account).await,
        [dollars(100), dollars(100), Decimal::ZERO, Decimal::ZERO]
    );

    let (_, withdrawal) = sandbox
        .transfer(account, &relationship, "70", "OUTGOING")
        .await;
    let withdrawal = withdrawal["id"].as_str().unwrap().to_owned();
    sandbox
        .transfer(account, &relationship, "50", "INCOMING")
        .await;
    assert_eq!(
        cash_picture(&sandbox, account).await,
        [dollars(100), dollars(30), dollars(70), dollars(50)],
        "a pending withdrawal is held; a pending deposit is not cash yet"
    );

    let (status, _) = sandbox
        .alpaca_json(
            Method::DELETE,
            &format!("/v1/accounts/{account}/transfers/{withdrawal}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        cash_picture(&sandbox, account).await,
        [dollars(100), dollars(100), Decimal::ZERO, dollars(50)]
    );

    let (_, second) = sandbox
        .transfer(account, &relationship, "40", "OUTGOING")
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    sandbox.control.advance_clock(Duration::from_secs(3601));
    eventually("SENT_TO_CLEARING", || async {
        (sandbox.find_transfer(account, &second).await["status"] == "SENT_TO_CLEARING")
            .then_some(())
    })
    .await;
    assert_eq!(
        cash_picture(&sandbox, account).await[..3],
        [dollars(100), dollars(60), dollars(40)],
        "still held while clearing"
    );
    sandbox.control.advance_clock(Duration::from_secs(3601));
    eventually("COMPLETE", || async {
        (sandbox.find_transfer(account, &second).await["status"] == "COMPLETE").then_some(())
    })
    .await;
    assert_eq!(
        cash_picture(&sandbox, account).await,
        [dollars(110), dollars(110), Decimal::ZERO, Decimal::ZERO],
        "100 + 50 deposited − 40 withdrawn"
    );
}

#[tokio::test]
async fn control_forces_rejected_canceled_and_returned_with_ach_return_codes() {
    let sandbox = spawn_with(held_transfers()).await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    sandbox.control.set_account_cash(account, dollars(100));
    let create = |amount: &'static str, direction: &'static str| {
        let sandbox = &sandbox;
        let relationship = relationship.clone();
        async move {
            let (status, transfer) = sandbox
                .transfer(account, &relationship, amount, direction)
                .await;
            assert_eq!(status, StatusCode::OK, "{transfer}");
            transfer["id"].as_str().unwrap().to_owned()
        }
    };

    // REJECTED through the in-process control, with a return code: the held cash is released.
    let rejected = create("60", "OUTGOING").await;
    assert_eq!(cash_picture(&sandbox, account).await[1], dollars(40));
    sandbox
        .control
        .set_transfer_status(
            rejected.parse().unwrap(),
            "REJECTED",
            Some("R03 no account/unable to locate account".into()),
        )
        .unwrap();
    let event = stream
        .until(|e| is_event(e, &rejected, "REJECTED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(event["status_from"], "QUEUED");
    assert_eq!(event["entity_type"], "Transfer");
    assert_eq!(event["reason"], "R03 no account/unable to locate account");
    let listed = sandbox.find_transfer(account, &rejected).await;
    assert_eq!(listed["status"], "REJECTED");
    assert_eq!(listed["reason"], "R03 no account/unable to locate account");
    assert_eq!(cash_picture(&sandbox, account).await[1], dollars(100));

    // CANCELED through the HTTP control API.
    let canceled = create("10", "INCOMING").await;
    let response = sandbox
        .http
        .post(sandbox.alpaca_url(&format!("/_sandbox/transfers/{canceled}/status")))
        .json(&json!({"status": "CANCELED", "reason": "R08 payment stopped"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let event = stream
        .until(|e| is_event(e, &canceled, "CANCELED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(event["reason"], "R08 payment stopped");
    assert_eq!(
        sandbox.find_transfer(account, &canceled).await["reason"],
        "R08 payment stopped"
    );

    // RETURNED after a withdrawal completed: the money comes back.
    let returned = create("30", "OUTGOING").await;
    for next in ["SENT_TO_CLEARING", "COMPLETE"] {
        sandbox.control.advance_clock(Duration::from_secs(3601));
        eventually(next, || async {
            (sandbox.find_transfer(account, &returned).await["status"] == next).then_some(())
        })
        .await;
    }
    assert_eq!(sandbox.control.account(account).cash, dollars(70));
    sandbox
        .control
        .set_transfer_status(
            returned.parse().unwrap(),
            "RETURNED",
            Some("R01 insufficient funds".into()),
        )
        .unwrap();
    let event = stream
        .until(|e| is_event(e, &returned, "RETURNED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(event["status_from"], "COMPLETE");
    assert_eq!(event["reason"], "R01 insufficient funds");
    assert_eq!(sandbox.control.account(account).cash, dollars(100));

    // Forced statuses stop automatic progress.
    sandbox.control.advance_clock(Duration::from_secs(3 * 3601));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for (id, status) in [
        (&rejected, "REJECTED"),
        (&canceled, "CANCELED"),
        (&returned, "RETURNED"),
    ] {
        assert_eq!(sandbox.find_transfer(account, id).await["status"], status);
    }
}

#[tokio::test]
async fn a_500_after_the_effect_on_create_still_creates_the_transfer() {
    let sandbox = spawn_with(held_transfers()).await;
    let account = Uuid::new_v4();
    let relationship = approved_relationship(&sandbox, account).await;
    let path = format!("/v1/accounts/{account}/transfers");
    sandbox.control.inject_fault(
        Fault::new(Host::Alpaca, &path, 500)
            .method(funding_sandbox::Method::POST)
            .mode(FaultMode::AfterEffect),
    );
    let (status, body) = sandbox
        .transfer(account, &relationship, "42.00", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"code": 50010000, "message": "internal server error occurred"})
    );

    let (_, listed) = sandbox.alpaca_json(Method::GET, &path, None).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "the transfer exists anyway");
    assert_eq!(listed[0]["status"], "QUEUED");
    assert_eq!(listed[0]["direction"], "INCOMING");
    assert_eq!(listed[0]["relationship_id"], relationship.as_str());
    assert_eq!(
        Decimal::from_str(listed[0]["amount"].as_str().unwrap()).unwrap(),
        dollars(42)
    );
    // The fault was used up: the next create answers normally.
    let (status, _) = sandbox
        .transfer(account, &relationship, "1", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::OK);
}
