//! The optional Alpaca behaviours of `/_sandbox/alpaca/settings` ([`AlpacaSettings`]): an ACH
//! fee (requested_amount, fee, net amount), gross `cash_withdrawable` (accepted at create,
//! REJECTED later), a cap on list pages, and COMPLETE → SETTLED; and that the defaults are the
//! emulator's usual behaviour.

use std::str::FromStr;
use std::time::Duration;

use funding_sandbox::{AlpacaSettings, CashWithdrawable, INSUFFICIENT_FUNDS};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestSandbox, eventually, is_event, spawn_sandbox};

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

async fn settings(sandbox: &TestSandbox, body: Value) -> (StatusCode, Value) {
    sandbox
        .control_http(Method::POST, "/alpaca/settings", Some(body))
        .await
}

async fn trading_account(sandbox: &TestSandbox, account: Uuid) -> Value {
    let (status, body) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/trading/accounts/{account}/account"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    body
}

async fn status_of(sandbox: &TestSandbox, account: Uuid, id: &str) -> String {
    sandbox.find_transfer(account, id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_defaults_are_reported_and_a_post_changes_only_its_keys() {
    let sandbox = spawn_sandbox().await;
    let defaults = json!({"ach_fee": "0", "cash_withdrawable": "net", "list_page_cap": null, "settled_after_complete_ms": null});
    let (status, body) = sandbox
        .control_http(Method::GET, "/alpaca/settings", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, defaults);
    assert_eq!(sandbox.control.alpaca_settings(), AlpacaSettings::default());

    let (status, body) = settings(&sandbox, json!({"ach_fee": "2.50", "list_page_cap": 3})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ach_fee": "2.5", "cash_withdrawable": "net", "list_page_cap": 3, "settled_after_complete_ms": null})
    );
    let (_, body) = settings(
        &sandbox,
        json!({"cash_withdrawable": "gross", "settled_after_complete_ms": 250}),
    )
    .await;
    assert_eq!(
        body,
        json!({"ach_fee": "2.5", "cash_withdrawable": "gross", "list_page_cap": 3, "settled_after_complete_ms": 250})
    );
    assert_eq!(
        sandbox.control.alpaca_settings(),
        AlpacaSettings {
            ach_fee: dec("2.5"),
            cash_withdrawable: CashWithdrawable::Gross,
            list_page_cap: Some(3),
            settled_after_complete: Some(Duration::from_millis(250)),
        }
    );
    // null turns one off.
    let (_, body) = settings(
        &sandbox,
        json!({"ach_fee": null, "list_page_cap": null, "settled_after_complete_ms": null, "cash_withdrawable": "net"}),
    )
    .await;
    assert_eq!(body, defaults);
}

#[tokio::test]
async fn bad_settings_get_a_400_naming_the_field_and_change_nothing() {
    let sandbox = spawn_sandbox().await;
    let cases = [
        (json!({"ach_fee": 2}), "ach_fee"),
        (json!({"ach_fee": "two"}), "ach_fee"),
        (json!({"ach_fee": "-1"}), "ach_fee"),
        (json!({"cash_withdrawable": "both"}), "cash_withdrawable"),
        (json!({"list_page_cap": 0}), "list_page_cap"),
        (json!({"list_page_cap": -1}), "list_page_cap"),
        (
            json!({"settled_after_complete_ms": "soon"}),
            "settled_after_complete_ms",
        ),
        (json!({"page_cap": 2}), "page_cap"),
        (json!([1]), "object"),
    ];
    for (request, field) in cases {
        let (status, body) = settings(&sandbox, request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(field), "{request}: {message}");
    }
    assert_eq!(sandbox.control.alpaca_settings(), AlpacaSettings::default());
    let negative = AlpacaSettings {
        ach_fee: dec("-0.01"),
        ..AlpacaSettings::default()
    };
    assert!(sandbox.control.set_alpaca_settings(negative).is_err());
}

#[tokio::test]
async fn with_a_fee_transfers_report_requested_amount_fee_and_a_net_amount() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let (status, _) = settings(&sandbox, json!({"ach_fee": "2"})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, deposit) = sandbox
        .transfer(account, &relationship, "500", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::OK, "{deposit}");
    assert_eq!(deposit["requested_amount"], "500");
    assert_eq!(deposit["fee"], "2");
    assert_eq!(deposit["amount"], "498");
    assert_eq!(deposit["fee_payment_method"], "user");
    let id = deposit["id"].as_str().unwrap().to_owned();
    eventually("the deposit COMPLETE", || async {
        (status_of(&sandbox, account, &id).await == "COMPLETE").then_some(())
    })
    .await;
    // A deposit credits the net amount.
    assert_eq!(sandbox.control.account(account).cash, dec("498"));

    let (status, withdrawal) = sandbox
        .transfer(account, &relationship, "100.00", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawal}");
    assert_eq!(withdrawal["requested_amount"], "100");
    assert_eq!(withdrawal["fee"], "2");
    assert_eq!(withdrawal["amount"], "98");
    let id = withdrawal["id"].as_str().unwrap().to_owned();
    eventually("the withdrawal COMPLETE", || async {
        (status_of(&sandbox, account, &id).await == "COMPLETE").then_some(())
    })
    .await;
    // A withdrawal debits the requested amount.
    assert_eq!(sandbox.control.account(account).cash, dec("398"));

    // An amount that does not exceed the fee is refused.
    let (status, body) = sandbox
        .transfer(account, &relationship, "2", "INCOMING")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "amount must be greater than the fee");
}

#[tokio::test]
async fn net_cash_withdrawable_refuses_an_overdrawing_withdrawal_and_reports_pending_out() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    sandbox
        .control
        .set_transfer_step_delay(Duration::from_secs(3600));
    sandbox.control.set_account_cash(account, dec("100"));
    let (status, _) = sandbox
        .transfer(account, &relationship, "80", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK);
    let picture = trading_account(&sandbox, account).await;
    assert_eq!(picture["cash"], "100");
    assert_eq!(picture["cash_withdrawable"], "20");
    assert_eq!(picture["pending_transfer_out"], "80");
    // What alpaca-py's TradeAccount requires besides.
    for field in [
        "last_long_market_value",
        "last_short_market_value",
        "last_initial_margin",
        "last_regt_buying_power",
        "last_buying_power",
        "clearing_broker",
    ] {
        assert!(picture[field].is_string(), "{field}: {picture}");
    }
    let close =
        chrono::DateTime::parse_from_rfc3339(picture["previous_close"].as_str().unwrap()).unwrap();
    assert!(close < sandbox.control.now());
    let (status, _) = sandbox
        .transfer(account, &relationship, "80", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn gross_cash_withdrawable_accepts_an_overdrawing_withdrawal_and_rejects_it_later() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let mut stream = sandbox.events("").await;
    let step = Duration::from_secs(3600);
    sandbox.control.set_transfer_step_delay(step);
    sandbox.control.set_account_cash(account, dec("100"));
    sandbox
        .control
        .set_alpaca_settings(AlpacaSettings {
            cash_withdrawable: CashWithdrawable::Gross,
            ..AlpacaSettings::default()
        })
        .unwrap();

    let (status, first) = sandbox
        .transfer(account, &relationship, "80", "OUTGOING")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = sandbox
        .transfer(account, &relationship, "80", "OUTGOING")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "gross: accepted at create: {second}"
    );
    let picture = trading_account(&sandbox, account).await;
    assert_eq!(picture["cash"], "100");
    assert_eq!(
        picture["cash_withdrawable"], "100",
        "not net of the queued ones"
    );
    assert_eq!(picture["pending_transfer_out"], "160");

    // Their next step: the first goes to clearing, the second is not covered any more.
    sandbox.control.advance_clock(step);
    let first = first["id"].as_str().unwrap().to_owned();
    let second = second["id"].as_str().unwrap().to_owned();
    let rejected = stream
        .until(|e| is_event(e, &second, "REJECTED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(rejected["status_from"], "QUEUED");
    assert_eq!(rejected["reason"], INSUFFICIENT_FUNDS);
    let listed = sandbox.find_transfer(account, &second).await;
    assert_eq!(listed["status"], "REJECTED");
    assert_eq!(listed["reason"], INSUFFICIENT_FUNDS);
    assert_eq!(
        status_of(&sandbox, account, &first).await,
        "SENT_TO_CLEARING"
    );
    let picture = trading_account(&sandbox, account).await;
    assert_eq!(picture["pending_transfer_out"], "80");

    sandbox.control.advance_clock(step);
    stream.until(|e| is_event(e, &first, "COMPLETE")).await;
    assert_eq!(sandbox.control.account(account).cash, dec("20"));
}

#[tokio::test]
async fn a_page_cap_holds_whatever_limit_says_and_offset_pages_to_an_empty_page() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let mut created = Vec::new();
    for amount in ["1", "2", "3", "4", "5"] {
        let (_, transfer) = sandbox
            .transfer(account, &relationship, amount, "INCOMING")
            .await;
        created.push(transfer["id"].as_str().unwrap().to_owned());
    }
    created.reverse(); // newest first, as listed
    let (status, _) = settings(&sandbox, json!({"list_page_cap": 2})).await;
    assert_eq!(status, StatusCode::OK);

    let page = |query: String| {
        let sandbox = &sandbox;
        async move {
            let (status, list) = sandbox
                .alpaca_json(
                    Method::GET,
                    &format!("/v1/accounts/{account}/transfers{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            list.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(String::new()).await.len(), 2);
    assert_eq!(page("?limit=100".into()).await.len(), 2);
    assert_eq!(page("?limit=1".into()).await.len(), 1);
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let items = page(format!("?limit=100&offset={offset}")).await;
        if items.is_empty() {
            break;
        }
        offset += items.len();
        all.extend(items);
    }
    assert_eq!(all, created);
}

#[tokio::test]
async fn complete_transfers_settle_later_and_a_return_after_settled_reverses_the_cash() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let mut stream = sandbox.events("").await;
    let (status, _) = settings(&sandbox, json!({"settled_after_complete_ms": 50})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, deposit) = sandbox
        .transfer(account, &relationship, "75", "INCOMING")
        .await;
    let id = deposit["id"].as_str().unwrap().to_owned();
    let events = stream.until(|e| is_event(e, &id, "SETTLED")).await;
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
        [
            (Value::Null, json!("QUEUED")),
            (json!("QUEUED"), json!("SENT_TO_CLEARING")),
            (json!("SENT_TO_CLEARING"), json!("COMPLETE")),
            (json!("COMPLETE"), json!("SETTLED")),
        ]
    );
    assert_eq!(status_of(&sandbox, account, &id).await, "SETTLED");
    assert_eq!(sandbox.control.account(account).cash, dec("75"));

    sandbox
        .control
        .set_transfer_status(
            Uuid::parse_str(&id).unwrap(),
            "RETURNED",
            Some("R01 insufficient funds".into()),
        )
        .unwrap();
    let returned = stream
        .until(|e| is_event(e, &id, "RETURNED"))
        .await
        .pop()
        .unwrap();
    assert_eq!(returned["status_from"], "SETTLED");
    assert_eq!(sandbox.control.account(account).cash, Decimal::ZERO);
}
