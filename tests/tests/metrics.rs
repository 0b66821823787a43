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

    let text = scrape(app.metrics_addr.expect("a metrics address")).await;
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
