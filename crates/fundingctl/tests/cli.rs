//! The built `fundingctl` binary against a real `fundingd` in sandbox mode, started in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use funding_client::v1;
use funding_tests::{AppOptions, TestApp};
use serde_json::Value;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `fundingctl --addr <app> ARGS…` off the runtime's threads.
async fn fundingctl(app: &TestApp, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fundingctl"));
    command
        .env_remove("FUNDING_ADDR")
        .env_remove("FUNDING_TOKEN")
        .arg("--addr")
        .arg(&app.address)
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("fundingctl runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs it with `--json`, expects success and one JSON document.
async fn fundingctl_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = fundingctl(app, &all).await;
    assert_eq!(out.code, 0, "{args:?} failed: {}", out.stderr);
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!("{args:?} printed no JSON ({e}): {}", out.stdout);
    })
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .to_owned()
}

/// Public token → link through the CLI → APPROVED seen through `links`. Returns (account, link id).
async fn linked_account(app: &TestApp) -> (String, String) {
    let token = fundingctl_json(app, &["sandbox", "public-token"]).await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let link = fundingctl_json(
        app,
        &[
            "link",
            "--account-id",
            &account_id,
            "--public-token",
            &text(&token, "public_token"),
            "--plaid-account-id",
            &text(&token, "checking_account_id"),
            "--nickname",
            "Checking",
        ],
    )
    .await;
    let link_id = text(&link, "id");
    for _ in 0..100 {
        let links = fundingctl_json(app, &["links", "--account-id", &account_id]).await;
        let approved = links
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == link_id.as_str() && l["status"] == "BANK_LINK_STATUS_APPROVED");
        if approved {
            let human = fundingctl(app, &["links", "--account-id", &account_id]).await;
            assert_eq!(human.code, 0, "{}", human.stderr);
            assert!(human.stdout.starts_with("ID "), "{}", human.stdout);
            assert!(
                human
                    .stdout
                    .lines()
                    .any(|l| l.starts_with(&link_id) && l.contains("APPROVED")),
                "{}",
                human.stdout
            );
            return (account_id, link_id);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the link never became APPROVED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_deposit_and_watch_to_complete() {
    let app = TestApp::spawn().await;
    let (account_id, link_id) = linked_account(&app).await;

    // Human form: a table, then one line per change ending at COMPLETE.
    let deposit = fundingctl(
        &app,
        &[
            "deposit",
            "--account-id",
            &account_id,
            "--bank-link-id",
            &link_id,
            "--amount",
            "100.00",
        ],
    )
    .await;
    assert_eq!(deposit.code, 0, "{}", deposit.stderr);
    let mut lines = deposit.stdout.lines();
    let header = lines.next().unwrap();
    for column in ["ID", "STATUS", "AMOUNT", "DIRECTION", "CREATED"] {
        assert!(header.contains(column), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.contains("100.00") && row.contains("DEPOSIT"), "{row}");
    let transfer_id = row.split_whitespace().next().unwrap().to_owned();

    let watch = fundingctl(
        &app,
        &[
            "watch",
            "--account-id",
            &account_id,
            "--transfer-id",
            &transfer_id,
        ],
    )
    .await;
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    let last = watch.stdout.lines().last().unwrap();
    assert!(
        last.contains(&transfer_id) && last.contains("COMPLETE"),
        "{}",
        watch.stdout
    );

    // JSON form: NDJSON, statuses in lifecycle order, ending at COMPLETE.
    let deposit = fundingctl_json(
        &app,
        &[
            "deposit",
            "--account-id",
            &account_id,
            "--bank-link-id",
            &link_id,
            "--amount",
            "12.34",
        ],
    )
    .await;
    assert_eq!(deposit["direction"], "TRANSFER_DIRECTION_DEPOSIT");
    assert_eq!(deposit["amount"], "12.34");
    let transfer_id = text(&deposit, "id");
    let watch = fundingctl(
        &app,
        &[
            "--json",
            "watch",
            "--account-id",
            &account_id,
            "--transfer-id",
            &transfer_id,
        ],
    )
    .await;
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    let statuses: Vec<String> = watch
        .stdout
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            assert!(!text(&event, "event_id").is_empty());
            assert_eq!(event["transfer"]["id"], transfer_id.as_str());
            text(&event["transfer"], "status")
        })
        .collect();
    let ranks: Vec<i32> = statuses
        .iter()
        .map(|s| {
            v1::TransferStatus::from_str_name(s).unwrap_or_else(|| panic!("unknown status {s}"))
                as i32
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {statuses:?}"
    );
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("TRANSFER_STATUS_COMPLETE"),
        "{statuses:?}"
    );
    assert!(statuses.len() > 1, "only {statuses:?}");

    // Both transfers are listed, and the filter works.
    let listed = fundingctl_json(
        &app,
        &[
            "transfers",
            "--account-id",
            &account_id,
            "--status",
            "complete",
        ],
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let one = fundingctl_json(&app, &["transfer", &transfer_id]).await;
    assert_eq!(one["status"], "TRANSFER_STATUS_COMPLETE");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_amount_names_the_field_and_exits_non_zero() {
    let app = TestApp::spawn().await;
    let (account_id, link) = app.approved_link().await;
    let out = fundingctl(
        &app,
        &[
            "deposit",
            "--account-id",
            &account_id,
            "--bank-link-id",
            &link.id,
            "--amount",
            "10.001",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let first = out.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("error: INVALID_ARGUMENT: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().any(|l| l.starts_with("  amount: ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("  reason: "), "{}", out.stderr);
    assert!(!out.stderr.contains("Status {"), "{}", out.stderr);
    assert!(!out.stderr.contains("details:"), "{}", out.stderr);

    // Not found is another code, exit 1.
    let missing = fundingctl(&app, &["transfer", &uuid::Uuid::new_v4().to_string()]).await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with("error: NOT_FOUND: "),
        "{}",
        missing.stderr
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_transfer_is_created_and_read_back() {
    let app = TestApp::spawn().await;
    let token = fundingctl_json(&app, &["sandbox", "processor-token"]).await;
    let processor_token = text(&token, "processor_token");
    let created = fundingctl_json(
        &app,
        &[
            "bank-transfer",
            "create",
            "--processor-token",
            &processor_token,
            "--type",
            "debit",
            "--network",
            "ach",
            "--amount",
            "25.00",
            "--description",
            "Deposit",
            "--ach-class",
            "web",
            "--legal-name",
            "Jane Doe",
            "--email",
            "jane@example.com",
            "--custom-tag",
            "cli",
            "--metadata",
            "purpose=test",
        ],
    )
    .await;
    let id = text(&created, "id");
    assert_eq!(created["type"], "BANK_TRANSFER_TYPE_DEBIT");
    assert_eq!(created["network"], "BANK_TRANSFER_NETWORK_ACH");
    assert_eq!(created["ach_class"], "ACH_CLASS_WEB");

    let got = fundingctl_json(&app, &["bank-transfer", "get", &id]).await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["amount"], "25.00");
    assert_eq!(got["user"]["legal_name"], "Jane Doe");
    assert_eq!(got["metadata"]["purpose"], "test");
    assert!(
        got["status"]
            .as_str()
            .unwrap()
            .starts_with("BANK_TRANSFER_STATUS_")
    );

    let listed = fundingctl_json(&app, &["bank-transfer", "list"]).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == id.as_str()),
        "{listed}"
    );
    let human = fundingctl(&app, &["bank-transfer", "get", &id]).await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.lines().nth(1).unwrap().starts_with(&id));
    app.stop().await;
}

/// The bearer token of the `risk-desk` client that the risk tests configure.
const RISK_DESK_TOKEN: &str = "fundingctl-risk-desk-token";

/// An app whose only caller is `risk-desk` (token [`RISK_DESK_TOKEN`]), allowed the risk scopes, so
/// that the audit trail and the overrides name it.
async fn risk_desk_app() -> TestApp {
    // `ClientSettings` is fundingd's; built from its serialized form, as a settings file gives it.
    let client = serde_json::from_value(serde_json::json!({
        "name": "risk-desk",
        // The SHA-256 of RISK_DESK_TOKEN.
        "token_sha256": "34362cd4251c0caa02510eb3b9ee3354891c18ff3175f855fd4d1bd9fca745b2",
        "scopes": ["risk:read", "risk:write", "review"],
    }))
    .unwrap();
    TestApp::spawn_with(AppOptions {
        clients: vec![client],
        token: Some(RISK_DESK_TOKEN.to_owned()),
        ..AppOptions::default()
    })
    .await
}

/// `fundingctl --token RISK_DESK_TOKEN ARGS…`.
async fn as_risk_desk(app: &TestApp, args: &[&str]) -> Output {
    let mut all = vec!["--token", RISK_DESK_TOKEN];
    all.extend_from_slice(args);
    fundingctl(app, &all).await
}

/// The same with `--json`: expects success and one JSON document.
async fn as_risk_desk_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["--token", RISK_DESK_TOKEN];
    all.extend_from_slice(args);
    fundingctl_json(app, &all).await
}

/// The line of a table whose cells start with `first` and `second`.
fn row<'a>(table: &'a str, first: &str, second: &str) -> &'a str {
    table
        .lines()
        .find(|line| {
            let mut cells = line.split_whitespace();
            cells.next() == Some(first) && cells.next() == Some(second)
        })
        .unwrap_or_else(|| panic!("no {first} {second} row in\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_freeze_and_the_audit_trail_through_the_cli() {
    let app = risk_desk_app().await;
    let account_id = uuid::Uuid::new_v4().to_string();

    // Limits set: the answer is the account's flows, the deposit's overridden by the caller.
    let set = as_risk_desk(
        &app,
        &[
            "risk",
            "limits",
            &account_id,
            "--rail",
            "alpaca",
            "--direction",
            "deposit",
            "--per-transfer-soft",
            "500.00",
            "--per-transfer-hard",
            "1000.00",
            "--daily-hard",
            "2500.00",
            "--reason",
            "VIP customer",
        ],
    )
    .await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    let deposit = row(&set.stdout, "ALPACA", "DEPOSIT");
    assert!(deposit.contains("500.00/1000.00"), "{deposit}");
    assert!(deposit.contains("-/2500.00"), "{deposit}");
    assert!(deposit.ends_with("risk-desk: VIP customer"), "{deposit}");

    // `risk funding`: not frozen, the limits in force, who set them and why, nothing used.
    let funding = as_risk_desk(&app, &["risk", "funding", &account_id]).await;
    assert_eq!(funding.code, 0, "{}", funding.stderr);
    let mut lines = funding.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("account           {account_id}").as_str())
    );
    assert_eq!(
        lines.next(),
        Some("frozen            no"),
        "{}",
        funding.stdout
    );
    assert!(
        funding.stdout.contains("pending deposits  0.00"),
        "{}",
        funding.stdout
    );
    let header = funding
        .stdout
        .lines()
        .find(|line| line.starts_with("RAIL"))
        .unwrap();
    for column in [
        "DIRECTION",
        "PER TRANSFER",
        "DAILY",
        "30 DAYS",
        "USED TODAY",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let deposit = row(&funding.stdout, "ALPACA", "DEPOSIT");
    assert!(deposit.contains("500.00/1000.00"), "{deposit}");
    assert!(deposit.ends_with("risk-desk: VIP customer"), "{deposit}");
    let withdrawal = row(&funding.stdout, "ALPACA", "WITHDRAWAL");
    assert!(withdrawal.ends_with(" -"), "not overridden: {withdrawal}");

    let funding = as_risk_desk_json(&app, &["risk", "funding", &account_id]).await;
    assert_eq!(funding["account_id"], account_id.as_str());
    assert_eq!(funding["frozen"], false);
    assert_eq!(funding["frozen_at"], Value::Null);
    let flows = funding["flows"].as_array().unwrap();
    let deposit = flows
        .iter()
        .find(|f| f["direction"] == "TRANSFER_DIRECTION_DEPOSIT")
        .unwrap();
    assert_eq!(deposit["rail"], "FUNDING_RAIL_ALPACA");
    assert_eq!(deposit["limits"]["per_transfer"]["soft"], "500.00");
    assert_eq!(deposit["limits"]["per_transfer"]["hard"], "1000.00");
    assert_eq!(deposit["limits"]["daily"]["soft"], "");
    assert_eq!(deposit["limits"]["daily"]["hard"], "2500.00");
    assert_eq!(deposit["overridden"], true);
    assert_eq!(deposit["overridden_by"], "risk-desk");
    assert_eq!(deposit["override_reason"], "VIP customer");
    assert_eq!(deposit["used_today"], "0.00");
    assert_eq!(deposit["used_last_30_days"], "0.00");

    // Frozen: `risk funding` says so, why and by whom; a second freeze changes nothing.
    let freeze = as_risk_desk(
        &app,
        &[
            "risk",
            "freeze",
            &account_id,
            "--reason",
            "chargeback storm",
        ],
    )
    .await;
    assert_eq!(freeze.code, 0, "{}", freeze.stderr);
    assert_eq!(
        freeze.stdout.trim(),
        format!("account {account_id} frozen: chargeback storm")
    );
    let funding = as_risk_desk(&app, &["risk", "funding", &account_id]).await;
    let frozen = funding.stdout.lines().nth(1).unwrap();
    assert!(
        frozen.starts_with("frozen            yes, by risk-desk at ")
            && frozen.ends_with(": chargeback storm"),
        "{}",
        funding.stdout
    );
    let funding = as_risk_desk_json(&app, &["risk", "funding", &account_id]).await;
    assert_eq!(funding["frozen"], true);
    assert_eq!(funding["frozen_reason"], "chargeback storm");
    assert_eq!(funding["frozen_by"], "risk-desk");
    assert!(funding["frozen_at"].is_string(), "{funding}");
    let again = as_risk_desk_json(
        &app,
        &["risk", "freeze", &account_id, "--reason", "still stormy"],
    )
    .await;
    assert_eq!(again["frozen"], true);
    assert_eq!(again["changed"], false);
    assert_eq!(again["frozen_reason"], "chargeback storm");

    // Unfrozen.
    let unfreeze = as_risk_desk(
        &app,
        &[
            "risk",
            "unfreeze",
            &account_id,
            "--reason",
            "cleared by ops",
        ],
    )
    .await;
    assert_eq!(unfreeze.code, 0, "{}", unfreeze.stderr);
    assert_eq!(
        unfreeze.stdout.trim(),
        format!("account {account_id} unfrozen")
    );
    let funding = as_risk_desk(&app, &["risk", "funding", &account_id]).await;
    assert_eq!(
        funding.stdout.lines().nth(1),
        Some("frozen            no"),
        "{}",
        funding.stdout
    );

    // The audit trail: each change once, in order, by the caller, with its reason.
    let audit = as_risk_desk(&app, &["risk", "audit", "--account-id", &account_id]).await;
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let mut lines = audit.stdout.lines();
    let header = lines.next().unwrap();
    for column in ["SEQ", "AT", "ACTOR", "ACTION", "RESOURCE", "REASON"] {
        assert!(header.contains(column), "{header}");
    }
    let rows: Vec<&str> = lines.collect();
    let expected = [
        ("limits.set", "VIP customer"),
        ("account.frozen", "chargeback storm"),
        ("account.unfrozen", "cleared by ops"),
    ];
    assert_eq!(rows.len(), expected.len(), "{}", audit.stdout);
    for (line, (action, reason)) in rows.iter().zip(expected) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[2], "risk-desk", "{line}");
        assert_eq!(cells[3], action, "{line}");
        assert_eq!(cells[4], format!("accounts/{account_id}"), "{line}");
        assert!(line.ends_with(reason), "{line}");
    }

    // `audit` is `risk audit`.
    let top = as_risk_desk(&app, &["audit", "--account-id", &account_id]).await;
    assert_eq!(top.stdout, audit.stdout);
    // `returns`: the service's 60-day rates, one row per rail (no debit reached the network here).
    let returns = as_risk_desk(&app, &["returns"]).await;
    assert_eq!(returns.code, 0, "{}", returns.stderr);
    let mut rows = returns.stdout.lines();
    assert!(
        rows.next().unwrap().contains("OVER CEILING"),
        "{}",
        returns.stdout
    );
    let alpaca: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(alpaca[..3], ["ALPACA", "0", "0"], "{}", returns.stdout);
    let returns = as_risk_desk_json(&app, &["returns"]).await;
    assert_eq!(returns[0]["rail"], "FUNDING_RAIL_ALPACA", "{returns}");
    let audit = as_risk_desk_json(&app, &["risk", "audit", "--account-id", &account_id]).await;
    assert_eq!(audit["next_page_token"], "");
    let events = audit["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["limits.set", "account.frozen", "account.unfrozen"],
        "{audit}"
    );
    for pair in events.windows(2) {
        assert!(
            pair[0]["sequence"].as_i64().unwrap() < pair[1]["sequence"].as_i64().unwrap(),
            "{audit}"
        );
    }
    let limits_set = &events[0];
    assert_eq!(limits_set["actor"], "risk-desk");
    assert_eq!(limits_set["account_id"], account_id.as_str());
    assert_eq!(limits_set["reason"], "VIP customer");
    assert!(limits_set["at"].is_string(), "{limits_set}");
    assert!(!text(limits_set, "hash").is_empty(), "{limits_set}");
    let details: Value = serde_json::from_str(&text(limits_set, "details_json")).unwrap();
    assert!(details.is_object(), "{details}");
    assert!(limits_set.get("previous_hash").is_some(), "{limits_set}");

    // One page at a time: the table names the next page, which holds the rest.
    let first = as_risk_desk(
        &app,
        &[
            "risk",
            "audit",
            "--account-id",
            &account_id,
            "--page-size",
            "2",
        ],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let last = first.stdout.lines().last().unwrap();
    let token = last
        .strip_prefix("next page: --page-token ")
        .unwrap_or_else(|| panic!("no next page in\n{}", first.stdout));
    let rest = as_risk_desk_json(
        &app,
        &[
            "risk",
            "audit",
            "--account-id",
            &account_id,
            "--page-token",
            token,
        ],
    )
    .await;
    assert_eq!(rest["events"][0]["action"], "account.unfrozen", "{rest}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_decisions_and_their_errors_through_the_cli() {
    let app = TestApp::spawn().await;

    // No checks on in sandbox: nothing is held, an empty table (its header only).
    for args in [
        vec!["risk", "reviews"],
        vec!["risk", "reviews", "--state", "open", "--page-size", "10"],
    ] {
        let reviews = fundingctl(&app, &args).await;
        assert_eq!(reviews.code, 0, "{}", reviews.stderr);
        let lines: Vec<&str> = reviews.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{}", reviews.stdout);
        let header = lines[0];
        for column in [
            "ID",
            "RESOURCE",
            "ACCOUNT",
            "STATE",
            "RULE",
            "REASON",
            "AMOUNT",
            "EXPIRES",
            "DECIDED BY",
        ] {
            assert!(header.contains(column), "{header}");
        }
    }
    let reviews = fundingctl_json(&app, &["risk", "reviews", "--state", "approved"]).await;
    assert_eq!(reviews["reviews"], serde_json::json!([]), "{reviews}");
    assert_eq!(reviews["next_page_token"], "");

    // Approving a review that does not exist: NOT_FOUND, exit 1, nothing on stdout.
    let unknown = uuid::Uuid::new_v4().to_string();
    let approve = fundingctl(&app, &["risk", "approve", &unknown, "--note", "looks fine"]).await;
    assert_eq!(approve.code, 1, "{}", approve.stderr);
    assert!(approve.stdout.is_empty(), "{}", approve.stdout);
    assert_eq!(
        approve.stderr.lines().next(),
        Some(format!("error: NOT_FOUND: review {unknown} not found").as_str()),
        "{}",
        approve.stderr
    );
    assert!(
        approve.stderr.lines().any(|l| l == "  reason: NOT_FOUND"),
        "{}",
        approve.stderr
    );

    // Rejecting without a note: INVALID_ARGUMENT naming `note`, exit 2.
    let reject = fundingctl(&app, &["risk", "reject", &unknown, "--note", "  "]).await;
    assert_eq!(reject.code, 2, "{}", reject.stderr);
    assert!(reject.stdout.is_empty(), "{}", reject.stdout);
    assert!(
        reject.stderr.starts_with("error: INVALID_ARGUMENT: "),
        "{}",
        reject.stderr
    );
    assert!(
        reject.stderr.lines().any(|l| l.starts_with("  note: ")),
        "{}",
        reject.stderr
    );

    // A bad limit names its window and side.
    let account_id = uuid::Uuid::new_v4().to_string();
    let limits = fundingctl(
        &app,
        &[
            "risk",
            "limits",
            &account_id,
            "--rail",
            "alpaca",
            "--direction",
            "withdrawal",
            "--daily-soft",
            "10.001",
            "--reason",
            "typo",
        ],
    )
    .await;
    assert_eq!(limits.code, 2, "{}", limits.stderr);
    assert!(
        limits
            .stderr
            .lines()
            .any(|l| l.starts_with("  limits.daily.soft: ")),
        "{}",
        limits.stderr
    );
    app.stop().await;
}
