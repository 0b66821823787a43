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
    let event_id = format!("{}Z", &last[..25]);
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
