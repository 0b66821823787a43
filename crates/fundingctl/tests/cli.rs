//! The built `fundingctl` binary against a real `fundingd` in sandbox mode, started in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use funding_client::v1;
use funding_tests::TestApp;
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
