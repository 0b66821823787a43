//! Plaid's legacy Bank Transfers rail: create (processor token and access token variants) with
//! idempotency, the field rules, get/list/cancel, simulate transitions, the event sync cursor and
//! the origination account's balance.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, spawn_sandbox};

fn create_body(processor_token: &str, key: &str) -> Value {
    json!({
        "idempotency_key": key,
        "processor_token": processor_token,
        "type": "credit",
        "network": "ach",
        "amount": "12.3",
        "iso_currency_code": "USD",
        "description": "payout",
        "ach_class": "ppd",
        "user": {"legal_name": "Ada Lovelace", "email_address": "ada@example.com"},
        "custom_tag": "tag-1",
        "metadata": {"order": "42"},
    })
}

async fn create(sandbox: &TestSandbox, key: &str) -> Value {
    let token = sandbox.processor_token().await;
    sandbox
        .plaid_ok("/processor/bank_transfer/create", create_body(&token, key))
        .await["bank_transfer"]
        .clone()
}

async fn sync(sandbox: &TestSandbox, after_id: u64) -> Vec<Value> {
    sandbox
        .plaid_ok("/bank_transfer/event/sync", json!({"after_id": after_id}))
        .await["bank_transfer_events"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_bank_transfer_is_created_pending_with_plaids_shape() {
    let sandbox = spawn_sandbox().await;
    let transfer = create(&sandbox, "key-1").await;
    assert_eq!(transfer["status"], "pending");
    assert_eq!(transfer["cancellable"], true);
    assert_eq!(transfer["amount"], "12.30");
    assert_eq!(transfer["type"], "credit");
    assert_eq!(transfer["network"], "ach");
    assert_eq!(transfer["ach_class"], "ppd");
    assert_eq!(transfer["direction"], "outbound");
    assert!(transfer["failure_reason"].is_null());
    assert_eq!(transfer["user"]["legal_name"], "Ada Lovelace");
    assert_eq!(
        transfer["user"]["routing_number"].as_str().unwrap().len(),
        9
    );
    assert_eq!(transfer["metadata"], json!({"order": "42"}));
    assert!(transfer["created"].as_str().unwrap().ends_with('Z'));

    let events = sync(&sandbox, 0).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], 1);
    assert_eq!(events[0]["event_type"], "pending");
    assert_eq!(events[0]["bank_transfer_id"], transfer["id"]);
    // plaid-python 46 requires receiver_details on every event.
    assert_eq!(
        events[0]["receiver_details"],
        json!({"available_balance": null})
    );
    assert_eq!(
        events[0]["origination_account_id"],
        transfer["origination_account_id"]
    );
}

#[tokio::test]
async fn an_event_written_raw_is_synced_exactly_as_given_in_its_place() {
    let sandbox = spawn_sandbox().await;
    let transfer = create(&sandbox, "key-raw").await;
    let mut malformed = sync(&sandbox, 0).await[0].clone();
    malformed
        .as_object_mut()
        .unwrap()
        .remove("event_id")
        .unwrap();
    malformed["bank_transfer_amount"] = json!({"not": "a decimal"});
    let placed = sandbox
        .control
        .emit_raw_bank_transfer_event(malformed.clone());
    assert_eq!(placed, 2, "the next place in the log");
    let unreadable_id = json!({"event_id": "three", "event_type": "posted"});
    assert_eq!(
        sandbox
            .control
            .emit_raw_bank_transfer_event(unreadable_id.clone()),
        3
    );
    let posted = sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/simulate",
            json!({"bank_transfer_id": transfer["id"], "event_type": "posted"}),
        )
        .await;
    assert!(posted.get("request_id").is_some());

    let events = sync(&sandbox, 0).await;
    assert_eq!(events.len(), 4);
    malformed["event_id"] = json!(2);
    assert_eq!(events[1], malformed, "as given, with its event_id");
    assert_eq!(events[2], unreadable_id, "an event_id given is kept");
    assert_eq!(events[3]["event_id"], 4, "later events go on counting");
    assert_eq!(sync(&sandbox, 2).await.len(), 2, "after_id counts places");
    assert_eq!(sync(&sandbox, 3).await, vec![events[3].clone()]);
}

#[tokio::test]
async fn a_wire_without_ach_class_shows_a_class_from_the_enum() {
    let sandbox = spawn_sandbox().await;
    let token = sandbox.processor_token().await;
    let mut body = create_body(&token, "wire");
    body["network"] = json!("wire");
    body.as_object_mut().unwrap().remove("ach_class");
    let created = sandbox
        .plaid_ok("/processor/bank_transfer/create", body)
        .await;
    assert_eq!(created["bank_transfer"]["network"], "wire");
    assert_eq!(created["bank_transfer"]["ach_class"], "ccd");
}

async fn balance(sandbox: &TestSandbox) -> String {
    let answer = sandbox
        .plaid_ok("/bank_transfer/balance/get", json!({}))
        .await;
    assert_eq!(
        answer["origination_account_id"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert!(answer["request_id"].is_string());
    assert_eq!(
        answer["balance"]["transactable"], answer["balance"]["available"],
        "no minimum balance"
    );
    answer["balance"]["available"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_balance_counts_posted_debits_and_live_credits() {
    let sandbox = spawn_sandbox().await;
    assert_eq!(balance(&sandbox).await, "0.00");
    let token = sandbox.processor_token().await;
    let transfer = |key: &str, kind: &str, amount: &str| {
        let mut body = create_body(&token, key);
        body["type"] = json!(kind);
        body["amount"] = json!(amount);
        body["ach_class"] = json!(if kind == "debit" { "web" } else { "ppd" });
        let sandbox = &sandbox;
        async move {
            sandbox
                .plaid_ok("/processor/bank_transfer/create", body)
                .await["bank_transfer"]["id"]
                .clone()
        }
    };
    let simulate = |id: Value, event_type: &'static str| {
        let sandbox = &sandbox;
        async move {
            sandbox
                .plaid_ok(
                    "/sandbox/bank_transfer/simulate",
                    json!({"bank_transfer_id": id, "event_type": event_type}),
                )
                .await;
        }
    };

    let debit = transfer("d1", "debit", "100").await;
    assert_eq!(balance(&sandbox).await, "0.00", "a pending debit");
    simulate(debit.clone(), "posted").await;
    assert_eq!(balance(&sandbox).await, "100.00");
    let credit = transfer("c1", "credit", "30.5").await;
    assert_eq!(
        balance(&sandbox).await,
        "69.50",
        "a credit counts when created"
    );
    sandbox
        .plaid_ok("/bank_transfer/cancel", json!({"bank_transfer_id": credit}))
        .await;
    assert_eq!(balance(&sandbox).await, "100.00", "a cancelled credit");
    let failed = transfer("c2", "credit", "20.00").await;
    assert_eq!(balance(&sandbox).await, "80.00");
    simulate(failed, "failed").await;
    assert_eq!(balance(&sandbox).await, "100.00", "a failed credit");
    let paid = transfer("c3", "credit", "40.00").await;
    simulate(paid, "posted").await;
    assert_eq!(balance(&sandbox).await, "60.00", "a posted credit");
    let unposted = transfer("d2", "debit", "5.00").await;
    simulate(unposted, "failed").await;
    simulate(debit, "reversed").await;
    assert_eq!(balance(&sandbox).await, "-40.00", "a reversed debit");

    let answer = sandbox
        .plaid_ok(
            "/bank_transfer/balance/get",
            json!({"origination_account_id": "11111111-1111-1111-1111-111111111111"}),
        )
        .await;
    assert_eq!(answer["balance"]["available"], "-40.00");
    sandbox
        .plaid_ok(
            "/bank_transfer/balance/get",
            json!({"origination_account_id": null}),
        )
        .await;
    let (status, error) = sandbox
        .plaid(
            "/bank_transfer/balance/get",
            json!({"origination_account_id": "not-ours"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error_code"],
        "BANK_TRANSFER_INVALID_ORIGINATION_ACCOUNT"
    );
    let (_, error) = sandbox
        .plaid("/bank_transfer/balance/get", json!({"count": 1}))
        .await;
    assert_eq!(error["error_code"], "UNKNOWN_FIELDS");
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_transfer_and_refuses_a_different_payload() {
    let sandbox = spawn_sandbox().await;
    let token = sandbox.processor_token().await;
    let body = create_body(&token, "same-key");
    let first = sandbox
        .plaid_ok("/processor/bank_transfer/create", body.clone())
        .await;
    let second = sandbox
        .plaid_ok("/processor/bank_transfer/create", body.clone())
        .await;
    assert_eq!(first["bank_transfer"]["id"], second["bank_transfer"]["id"]);
    let list = sandbox.plaid_ok("/bank_transfer/list", json!({})).await;
    assert_eq!(list["bank_transfers"].as_array().unwrap().len(), 1);

    let mut different = body;
    different["amount"] = json!("99.00");
    let (status, error) = sandbox
        .plaid("/processor/bank_transfer/create", different)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_code"], "INVALID_FIELD");
    assert!(
        error["error_message"]
            .as_str()
            .unwrap()
            .contains("idempotency_key")
    );
}

#[tokio::test]
async fn field_rules_refuse_bad_transfers_with_invalid_field() {
    let sandbox = spawn_sandbox().await;
    let token = sandbox.processor_token().await;
    let patches = [
        json!({"description": "elevenchars"}),
        json!({"amount": "10.001"}),
        json!({"amount": "0"}),
        json!({"iso_currency_code": "EUR"}),
        json!({"ach_class": "web"}),
        json!({"user": {"legal_name": "Ada", "routing_number": "011401533"}}),
        json!({"user": {"legal_name": "Ada", "email_address": "nope"}}),
        json!({"custom_tag": "x".repeat(101)}),
        json!({"metadata": {"k": 1}}),
        json!({"idempotency_key": "k".repeat(51)}),
    ];
    for patch in patches {
        let mut body = create_body(&token, "rules");
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, error) = sandbox.plaid("/processor/bank_transfer/create", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
        assert_eq!(error["error_code"], "INVALID_FIELD", "{patch}: {error}");
    }
    let mut missing_class = create_body(&token, "rules");
    missing_class.as_object_mut().unwrap().remove("ach_class");
    let (_, error) = sandbox
        .plaid("/processor/bank_transfer/create", missing_class)
        .await;
    assert_eq!(error["error_code"], "INVALID_FIELD");

    let mut origination = create_body(&token, "rules");
    origination["origination_account_id"] = json!("not-ours");
    let (_, error) = sandbox
        .plaid("/processor/bank_transfer/create", origination)
        .await;
    assert_eq!(error["error_type"], "BANK_TRANSFER_ERROR");
    assert_eq!(
        error["error_code"],
        "BANK_TRANSFER_INVALID_ORIGINATION_ACCOUNT"
    );

    let (_, error) = sandbox
        .plaid(
            "/processor/bank_transfer/create",
            create_body("processor-sandbox-nope", "x"),
        )
        .await;
    assert_eq!(error["error_code"], "INVALID_PROCESSOR_TOKEN");
}

#[tokio::test]
async fn simulate_walks_the_lifecycle_and_sync_pages_by_after_id() {
    let sandbox = spawn_sandbox().await;
    let transfer = create(&sandbox, "walk").await;
    let id = transfer["id"].clone();
    let simulate = |event_type: &'static str, failure: Value| {
        let sandbox = &sandbox;
        let id = id.clone();
        async move {
            let mut body = json!({"bank_transfer_id": id, "event_type": event_type});
            if !failure.is_null() {
                body["failure_reason"] = failure;
            }
            sandbox.plaid("/sandbox/bank_transfer/simulate", body).await
        }
    };
    let (status, _) = simulate("reversed", Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = simulate("posted", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = simulate(
        "reversed",
        json!({"ach_return_code": "R01", "description": "Insufficient funds"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = simulate("posted", Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "SANDBOX_ERROR");
    assert_eq!(
        error["error_code"],
        "SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID"
    );

    let got = sandbox
        .plaid_ok("/bank_transfer/get", json!({"bank_transfer_id": id}))
        .await["bank_transfer"]
        .clone();
    assert_eq!(got["status"], "reversed");
    assert_eq!(got["failure_reason"]["ach_return_code"], "R01");
    assert_eq!(got["cancellable"], false);

    let all = sync(&sandbox, 0).await;
    let kinds: Vec<&str> = all
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["pending", "posted", "reversed"]);
    let ids: Vec<u64> = all
        .iter()
        .map(|e| e["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(sync(&sandbox, 2).await.len(), 1);
    assert!(sync(&sandbox, 3).await.is_empty());
    let one = sandbox
        .plaid_ok(
            "/bank_transfer/event/sync",
            json!({"after_id": 0, "count": 1}),
        )
        .await;
    assert_eq!(one["bank_transfer_events"].as_array().unwrap().len(), 1);

    let listed = sandbox
        .plaid_ok(
            "/bank_transfer/event/list",
            json!({"bank_transfer_id": id, "event_types": ["reversed"]}),
        )
        .await;
    let events = listed["bank_transfer_events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["failure_reason"]["ach_return_code"], "R01");
}

#[tokio::test]
async fn only_pending_transfers_can_be_cancelled() {
    let sandbox = spawn_sandbox().await;
    let pending = create(&sandbox, "cancel-me").await;
    sandbox
        .plaid_ok(
            "/bank_transfer/cancel",
            json!({"bank_transfer_id": pending["id"]}),
        )
        .await;
    let (status, error) = sandbox
        .plaid(
            "/bank_transfer/cancel",
            json!({"bank_transfer_id": pending["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "BANK_TRANSFER_ERROR");
    assert_eq!(error["error_code"], "BANK_TRANSFER_NOT_CANCELLABLE");
    let kinds: Vec<Value> = sync(&sandbox, 0)
        .await
        .iter()
        .map(|e| e["event_type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("pending"), json!("cancelled")]);

    let (_, error) = sandbox
        .plaid("/bank_transfer/get", json!({"bank_transfer_id": "unknown"}))
        .await;
    assert_eq!(error["error_code"], "INVALID_FIELD");
}

#[tokio::test]
async fn the_access_token_variant_and_the_list_work_newest_first() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let mut ids = Vec::new();
    for key in ["a", "b"] {
        let mut body = create_body("", key);
        let map = body.as_object_mut().unwrap();
        map.remove("processor_token");
        map.insert("access_token".into(), json!(linked.access_token));
        map.insert("account_id".into(), json!(linked.checking_account_id));
        let created = sandbox.plaid_ok("/bank_transfer/create", body).await;
        assert_eq!(
            created["bank_transfer"]["account_id"],
            linked.checking_account_id.as_str()
        );
        ids.push(created["bank_transfer"]["id"].clone());
    }
    let list = sandbox
        .plaid_ok("/bank_transfer/list", json!({"count": 1}))
        .await;
    assert_eq!(list["bank_transfers"][0]["id"], ids[1]);
    let list = sandbox
        .plaid_ok("/bank_transfer/list", json!({"count": 1, "offset": 1}))
        .await;
    assert_eq!(list["bank_transfers"][0]["id"], ids[0]);
    let (_, error) = sandbox
        .plaid("/bank_transfer/list", json!({"count": 26}))
        .await;
    assert_eq!(error["error_code"], "INVALID_FIELD");
}

#[tokio::test]
async fn many_bank_transfers_are_simulated_at_once_for_load_generation() {
    let sandbox = spawn_sandbox().await;
    let first = create(&sandbox, "bulk-1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = create(&sandbox, "bulk-2").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = vec![first.clone(), second.clone(), "unknown".to_owned()];
    assert_eq!(
        sandbox
            .control
            .simulate_bank_transfers(&ids, "posted", None),
        2
    );
    // Only what simulate allows: posted → reversed, not posted again.
    assert_eq!(
        sandbox
            .control
            .simulate_bank_transfers(&ids, "posted", None),
        0
    );
    assert_eq!(
        sandbox
            .control
            .simulate_bank_transfers(&ids[..1], "reversed", Some("R01")),
        1
    );
    let events = sync(&sandbox, 0).await;
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["bank_transfer_id"].as_str().unwrap().to_owned(),
                e["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (first.clone(), "pending".to_owned()),
            (second.clone(), "pending".to_owned()),
            (first.clone(), "posted".to_owned()),
            (second, "posted".to_owned()),
            (first, "reversed".to_owned()),
        ]
    );
    assert_eq!(events[4]["failure_reason"]["ach_return_code"], "R01");
}
