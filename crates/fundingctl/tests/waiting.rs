//! Every resource that is not finished says why it waits (DESIGN §4.9), in GetTransfer and in
//! `fundingctl transfer`: one queued behind its account's head, one retrying a 503, one settling an
//! unknown outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use funding_client::v1::{self, TransferDirection, WaitingReason};
use funding_sandbox::{Fault, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp};

/// Runs `fundingctl --addr <app> ARGS…`; its stdout (it must succeed).
async fn fundingctl(app: &TestApp, args: &[&str]) -> String {
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
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs fundingctl until its output satisfies `shows` (bounded); that output.
async fn fundingctl_until(app: &TestApp, args: &[&str], shows: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = fundingctl(app, args).await;
        if shows(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fundingctl {args:?} never showed what was expected; last: {last}");
}

/// Polls GetTransfer until it waits for `reason`; the transfer then.
async fn waiting_for(app: &TestApp, id: &str, reason: WaitingReason) -> v1::Transfer {
    let mut last = None;
    for _ in 0..300 {
        let transfer = app.get_transfer(id).await;
        if transfer.waiting.as_ref().map(|w| w.reason()) == Some(reason) {
            return transfer;
        }
        last = Some(transfer);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("transfer {id} never waited for {reason:?}; last seen {last:?}");
}

async fn every_waiting_transfer_says_why(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        // Long enough for every check below to run while the first deposit settles.
        unknown_outcome_settle_ms: 20_000,
        ..AppOptions::default()
    })
    .await;

    // Account A: a deposit whose create gets a 504 (settling), and one queued behind it.
    let (a, link_a) = app.approved_link().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, format!("/v1/accounts/{a}/transfers"), 504).method(Method::POST),
    );
    let settling = app
        .create_transfer(app.transfer_request(&a, &link_a, "11.00", TransferDirection::Deposit))
        .await
        .unwrap();
    let queued = app
        .create_transfer(app.transfer_request(&a, &link_a, "22.00", TransferDirection::Deposit))
        .await
        .unwrap();

    // Account B: a withdrawal whose read of the withdrawable cash keeps getting 503s.
    let (b, link_b) = app.approved_link().await;
    app.sandbox
        .set_account_cash(b.parse().unwrap(), rust_decimal::Decimal::new(10_000, 2));
    app.sandbox.inject_fault(
        Fault::new(
            Host::Alpaca,
            format!("/v1/trading/accounts/{b}/account"),
            503,
        )
        .method(Method::GET)
        .times(1_000),
    );
    let retrying = app
        .create_transfer(app.transfer_request(&b, &link_b, "33.00", TransferDirection::Withdrawal))
        .await
        .unwrap();

    let s = waiting_for(&app, &settling.id, WaitingReason::Settling).await;
    let s = s.waiting.unwrap();
    assert!(
        s.detail.starts_with("settling an unknown outcome"),
        "{}",
        s.detail
    );
    assert!(s.next_attempt_at.is_some());

    let q = waiting_for(&app, &queued.id, WaitingReason::QueuedBehind).await;
    let q = q.waiting.unwrap();
    assert_eq!(q.behind, format!("transfers/{}", settling.id));

    let r = waiting_for(&app, &retrying.id, WaitingReason::Retrying).await;
    let r = r.waiting.unwrap();
    assert!(!r.provider_code.is_empty(), "the provider's code: {r:?}");
    assert!(r.attempt >= 1 && r.max_attempts >= r.attempt, "{r:?}");
    assert!(r.next_attempt_at.is_some());

    // The same through fundingctl, as a person reads it and as JSON. A transfer that is retried
    // is IN_PROGRESS while an attempt runs, so its reason is read until it shows (bounded).
    let out = fundingctl_until(&app, &["transfer", &settling.id], |out| {
        out.contains("waiting: SETTLING — settling an unknown outcome")
    })
    .await;
    assert!(out.contains("next try "), "{out}");
    let out = fundingctl_until(&app, &["transfer", &queued.id], |out| {
        out.contains("waiting: QUEUED_BEHIND")
    })
    .await;
    assert!(
        out.contains(&format!("behind transfers/{}", settling.id)),
        "{out}"
    );
    let out = fundingctl_until(&app, &["transfer", &retrying.id], |out| {
        out.contains("waiting: RETRYING — retrying after attempt")
    })
    .await;
    assert!(out.contains("provider code "), "{out}");
    let json = fundingctl_until(&app, &["--json", "transfer", &retrying.id], |out| {
        out.contains("WAITING_REASON_RETRYING")
    })
    .await;
    let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["waiting"]["reason"], "WAITING_REASON_RETRYING");
    assert!(
        !json["waiting"]["provider_code"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );

    // A finished transfer does not wait.
    app.sandbox.clear_faults();
    let (c, link_c) = app.approved_link().await;
    let done = app
        .create_transfer(app.transfer_request(&c, &link_c, "5.00", TransferDirection::Deposit))
        .await
        .unwrap();
    let done = app
        .wait_for_transfer_status(&done.id, v1::TransferStatus::Complete)
        .await;
    assert!(app.get_transfer(&done.id).await.waiting.is_none());
    app.stop().await;
}

#[tokio::test]
async fn every_waiting_transfer_says_why_on_sqlite() {
    every_waiting_transfer_says_why(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_waiting_transfer_says_why_on_postgres() {
    every_waiting_transfer_says_why(Backend::Postgres).await;
}
