//! Secrets stay secret (DESIGN §4.6): every log line of a whole link flow — ours and every library's,
//! down to TRACE — is captured, and none holds a Plaid token; nor does the database file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use funding_client::v1::BankLinkStatus;
use funding_tests::TestApp;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        capture
    })
}

/// Every place a token of `kind` (`public`, `access`, `processor`) appears with its secret part.
fn leaked(text: &str, kind: &str) -> Vec<String> {
    let prefix = format!("{kind}-sandbox-");
    text.match_indices(&prefix)
        .filter(|(at, _)| !text[at + prefix.len()..].starts_with("[REDACTED]"))
        .map(|(at, _)| text[at..(at + prefix.len() + 40).min(text.len())].to_owned())
        .collect()
}

#[tokio::test]
async fn a_whole_link_flow_logs_no_token_and_stores_none_in_plaintext() {
    let capture = capture();
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    let link = app.create_link(request.clone()).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    // A repeat, a refusal and a delete log too.
    app.create_link(request.clone()).await.unwrap();
    let mut refused = request.clone();
    refused.nickname = "other".into();
    app.create_link(refused).await.unwrap_err();
    app.client
        .bank_links()
        .delete_bank_link(funding_client::v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Canceled)
        .await;
    // A call with the caller's request id: its log lines carry the id.
    let mut unknown = app.create_request().await;
    unknown.public_token = "public-sandbox-11111111-2222-3333-4444-555555555555".into();
    let mut call = tonic::Request::new(unknown);
    call.metadata_mut()
        .insert("x-request-id", "req-in-the-logs-42".parse().unwrap());
    app.client
        .bank_links()
        .create_bank_link(call)
        .await
        .unwrap_err();

    // The Plaid rail: a processor token travels in every create and is sealed in the row.
    let processor_token = app.processor_token().await;
    let bank_transfer = app
        .create_bank_transfer(app.bank_transfer_request(&processor_token, "12.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&bank_transfer.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(
        &bank_transfer.id,
        funding_client::v1::BankTransferStatus::Posted,
    )
    .await;
    let mut refused = app.bank_transfer_request(&processor_token, "12.00");
    refused.description = "far too long".into();
    app.create_bank_transfer(refused).await.unwrap_err();

    let database = app.dir.path().join("funding.db");
    let mut stored = std::fs::read(&database).unwrap();
    if let Ok(wal) = std::fs::read(database.with_extension("db-wal")) {
        stored.extend(wal);
    }
    app.stop().await;

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("bank link status moved"),
        "the capture holds the flow's logs"
    );
    assert!(
        logs.len() > 10_000,
        "TRACE logs of the libraries are captured too ({} bytes)",
        logs.len()
    );
    for kind in ["public", "access", "processor"] {
        assert_eq!(
            leaked(&logs, kind),
            Vec::<String>::new(),
            "{kind} token in the logs"
        );
    }
    assert!(
        !logs.contains(&request.public_token),
        "the public token itself is not logged"
    );
    assert!(
        !logs.contains(&processor_token),
        "the bank transfer's processor token is not logged"
    );

    let stored = String::from_utf8_lossy(&stored);
    for kind in ["public", "access", "processor"] {
        assert!(
            !stored.contains(&format!("{kind}-sandbox-")),
            "{kind} token in plaintext in the database"
        );
    }
}
