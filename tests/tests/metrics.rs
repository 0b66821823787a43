//! `--metrics-listen` serves Prometheus metrics: requests by method and code, errors by reason,
//! relationship status changes. (Its own binary: the metrics recorder is global to a process.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use funding_client::v1::BankLinkStatus;
use funding_tests::{AppOptions, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    body
}

#[tokio::test]
async fn metrics_count_requests_errors_and_status_changes() {
    let app = TestApp::spawn_with(AppOptions {
        metrics: true,
        ..AppOptions::default()
    })
    .await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    let mut bad = app.create_request().await;
    bad.account_id = "nope".into();
    app.create_link(bad).await.unwrap_err();
    // An event about a relationship no link holds is parked, and the gauge says so.
    let last = app.sandbox.funding_events().last().unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The next id after the stream's last one: new to the inbox, and in the stream's order.
    // (Replacing the last character with a fixed one collided whenever it was that character.)
    let event_id = last
        .parse::<ulid::Ulid>()
        .unwrap()
        .increment()
        .unwrap()
        .to_string();
    app.sandbox.emit_raw_funding_event(&format!(
        r#"{{"account_id":"{}","at":"2026-12-01T00:00:00Z","entity_id":"{}","entity_type":"BankRelationship","event_id":"{event_id}","status_from":"QUEUED","status_to":"APPROVED"}}"#,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    ));
    let addr = app.metrics_addr.expect("a metrics address");
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(addr).await;
        if text.contains(r#"funding_inbox_events{state="parked_no_subject"} 1"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains(r#"funding_inbox_events{state="parked_no_subject"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"funding_work_attempts_total{kind="link_create",outcome="done"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"funding_work_items{kind="link_create",state="pending"}"#),
        "{text}"
    );
    assert!(
        text.contains("funding_work_oldest_pending_seconds"),
        "{text}"
    );
    assert!(
        text.contains(r#"funding_grpc_requests_total{method="CreateBankLink",code="Ok"}"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"funding_grpc_requests_total{method="CreateBankLink",code="InvalidArgument"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"funding_errors_total{reason="INVALID_ARGUMENT"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"funding_bank_link_status_changes_total{to="APPROVED"}"#),
        "{text}"
    );
    assert!(
        text.contains("funding_grpc_request_duration_seconds"),
        "{text}"
    );
    app.stop().await;
}

/// After a deposit returned R10 (unauthorized) and a bank transfer reversed R03 (administrative),
/// every family operations alert on has samples: entries and returns by NACHA category per rail,
/// the event streams' lag and cursor age, the work queue's depth and oldest age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flow_every_family_operations_alert_on_has_samples() {
    use funding_client::v1::{self, BankTransferStatus, TransferDirection, TransferStatus};
    let app = TestApp::spawn_with(AppOptions {
        metrics: true,
        ..AppOptions::default()
    })
    .await;
    let (account, link) = app.approved_link().await;
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit))
        .await
        .unwrap();
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    app.client
        .sandbox()
        .simulate_transfer(v1::SimulateTransferRequest {
            target: Some(v1::simulate_transfer_request::Target::TransferId(
                transfer.id.clone(),
            )),
            status: "RETURNED".into(),
            reason: String::new(),
            ach_return_code: "R10".into(),
        })
        .await
        .unwrap();
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Returned)
        .await;
    let token = app.processor_token().await;
    let bank_transfer = app
        .create_bank_transfer(app.bank_transfer_request(&token, "5.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&bank_transfer.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&bank_transfer.id, BankTransferStatus::Posted)
        .await;
    app.simulate_bank_transfer(&bank_transfer.id, "reversed", "R03")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&bank_transfer.id, BankTransferStatus::Reversed)
        .await;

    let families = [
        r#"funding_ach_entries_total{rail="alpaca",direction="INCOMING"}"#,
        r#"funding_ach_entries_total{rail="plaid",direction="debit"}"#,
        r#"funding_ach_returns_total{rail="alpaca",category="unauthorized"}"#,
        r#"funding_ach_returns_total{rail="alpaca",category="all"}"#,
        r#"funding_ach_returns_total{rail="plaid",category="administrative"}"#,
        r#"funding_ach_returns_total{rail="plaid",category="all"}"#,
        r#"funding_stream_lag_seconds{stream="alpaca:funding_status"}"#,
        r#"funding_stream_lag_seconds{stream="plaid:bank_transfer_events"}"#,
        r#"funding_stream_cursor_age_seconds{stream="alpaca:funding_status"}"#,
        r#"funding_stream_cursor_age_seconds{stream="plaid:bank_transfer_events"}"#,
        r#"funding_work_items{kind="bank_transfer_submit",state="pending"}"#,
        "funding_work_oldest_pending_seconds",
        r#"funding_bank_transfer_status_changes_total{to="reversed"}"#,
    ];
    let addr = app.metrics_addr.expect("a metrics address");
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(addr).await;
        if families.iter().all(|family| text.contains(family)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for family in families {
        let sample = text
            .lines()
            .find(|line| line.starts_with(family))
            .unwrap_or_else(|| panic!("{family} has no sample in\n{text}"));
        let value: f64 = sample
            .rsplit(' ')
            .next()
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{sample} has no value"));
        assert!(value.is_finite(), "{sample}");
        if family.contains("_total") {
            assert!(value >= 1.0, "{sample}");
        }
    }
    app.stop().await;
}
