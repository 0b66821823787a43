//! `fundingd audit verify` as operators run it: the real binary, against the database of a running
//! service, verifies the audit trail its RiskService calls wrote; after one row's text is changed
//! behind the service's back, it fails naming that row.

use std::process::Command;

use funding_client::v1;
use funding_tests::process::output_off_runtime;
use funding_tests::{AppOptions, Backend, TestApp};

/// Off the runtime's thread, which runs the service ([`output_off_runtime`]).
async fn verify(app: &TestApp, backend: Backend) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fundingd-under-test"));
    command
        .args(["audit", "verify"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNDING_DATABASE_URL", &app.database_url)
        .env(
            "FUNDING_ENCRYPTION_KEY_FILE",
            app.dir.path().join("funding.key"),
        );
    if backend == Backend::Postgres {
        // Sandbox mode on PostgreSQL is asked for, as the service under test was.
        command.env("FUNDING_EXPLICIT_SANDBOX", "true");
    }
    let output = output_off_runtime(command).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn audit_verify_passes_an_intact_trail_and_names_a_changed_row(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let mut risk = app.client.risk();
    risk.freeze_account(v1::FreezeAccountRequest {
        account_id: account_id.clone(),
        reason: "suspected fraud".into(),
    })
    .await
    .unwrap();
    risk.unfreeze_account(v1::UnfreezeAccountRequest {
        account_id: account_id.clone(),
        reason: "cleared".into(),
    })
    .await
    .unwrap();
    risk.freeze_account(v1::FreezeAccountRequest {
        account_id,
        reason: "again".into(),
    })
    .await
    .unwrap();
    let (ok, text) = verify(&app, backend).await;
    assert!(ok, "{text}");
    assert!(text.contains("3 events verified"), "{text}");

    app.execute("UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 2")
        .await;
    let (ok, text) = verify(&app, backend).await;
    assert!(!ok, "a changed row must fail: {text}");
    assert!(text.contains("audit event 2"), "{text}");

    app.execute("UPDATE audit_events SET reason = 'cleared' WHERE seq = 2")
        .await;
    app.execute("DELETE FROM audit_events WHERE seq = 2").await;
    let (ok, text) = verify(&app, backend).await;
    assert!(!ok, "a deleted row must fail: {text}");
    assert!(text.contains("audit event 3 follows 1"), "{text}");
    app.stop().await;
}

funding_tests::on_both_backends!(audit_verify_passes_an_intact_trail_and_names_a_changed_row);
