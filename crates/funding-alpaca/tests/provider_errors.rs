//! Alpaca's refusals and failures become `ProviderError`s of the right kind, with Alpaca's code; reads
//! are retried, creates never by the adapter. (Every row of the table of error classes is driven
//! through the client in `error_classes.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    account, alpaca_error, client, relationship_id, relationship_json, relationships_path, token,
};
use funding_core::ports::{Broker, ProviderError, ProviderErrorKind};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn create_answered_with(template: ResponseTemplate) -> (ProviderError, usize) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(relationships_path()))
        .respond_with(template)
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    (error, server.received_requests().await.unwrap().len())
}

#[tokio::test]
async fn an_account_with_an_active_relationship_is_a_conflict_with_alpacas_code() {
    let (error, requests) = create_answered_with(
        ResponseTemplate::new(409)
            .set_body_json(alpaca_error(
                40910000,
                "The account already has an active relationship",
            ))
            .insert_header("x-request-id", "3f2a9e1c"),
    )
    .await;
    assert_eq!(error.kind, ProviderErrorKind::Conflict);
    assert_eq!(error.code, "40910000");
    assert_eq!(
        error.message,
        "The account already has an active relationship"
    );
    assert_eq!(error.http_status, Some(409));
    assert_eq!(error.request_id.as_deref(), Some("3f2a9e1c"));
    assert!(!error.is_retryable());
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn each_client_error_maps_to_its_kind_and_is_not_retried() {
    for (status, kind) in [
        (400, ProviderErrorKind::InvalidRequest),
        (401, ProviderErrorKind::Unauthorized),
        (403, ProviderErrorKind::Forbidden),
        (404, ProviderErrorKind::NotFound),
        (422, ProviderErrorKind::InvalidInput),
    ] {
        let (error, requests) = create_answered_with(
            ResponseTemplate::new(status).set_body_json(alpaca_error(40010001, "refused")),
        )
        .await;
        assert_eq!(error.kind, kind, "{status}");
        assert_eq!(error.code, "40010001", "{status}");
        assert_eq!(error.http_status, Some(status));
        assert_eq!(requests, 1, "{status} must not be retried");
    }
}

#[tokio::test]
async fn a_server_error_on_create_is_returned_at_once_as_unavailable() {
    let (error, requests) = create_answered_with(
        ResponseTemplate::new(500).set_body_json(alpaca_error(50000000, "internal server error")),
    )
    .await;
    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert!(error.outcome_unknown());
    assert_eq!(
        requests, 1,
        "a create whose outcome is unknown must not be resent"
    );
}

#[tokio::test]
async fn a_timeout_on_create_is_a_transport_error_and_is_not_resent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(relationship_json("QUEUED"))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let mut config = common::config(&server.uri());
    config.request_timeout = Duration::from_millis(200);
    let error = funding_alpaca::AlpacaClient::new(config)
        .unwrap()
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Transport);
    assert_eq!(error.code, "TIMEOUT");
    assert!(error.outcome_unknown());
    assert_eq!(error.http_status, None);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_create_is_sent_once_and_reported_as_not_done() {
    let (error, requests) = create_answered_with(
        ResponseTemplate::new(429).set_body_json(alpaca_error(42900000, "rate limit exceeded")),
    )
    .await;
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert!(error.is_retryable() && !error.outcome_unknown());
    assert_eq!(requests, 1, "a create is never retried by the adapter");
}

#[tokio::test]
async fn a_rate_limited_list_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(alpaca_error(42900000, "rate limit exceeded")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([relationship_json("QUEUED")])),
        )
        .expect(1)
        .mount(&server)
        .await;

    let listed = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap();
    assert_eq!(listed[0].id, relationship_id());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_server_error_on_list_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>unavailable</html>"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([relationship_json("APPROVED")])),
        )
        .expect(1)
        .mount(&server)
        .await;

    let listed = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_list_still_failing_after_every_attempt_keeps_the_status_of_an_unreadable_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert_eq!(error.code, "HTTP_502");
    assert_eq!(error.http_status, Some(502));
    assert!(!error.message.contains("<html>"));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "max_attempts is 3"
    );
}

#[tokio::test]
async fn a_timeout_on_list_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([relationship_json("QUEUED")])),
        )
        .mount(&server)
        .await;
    let mut config = common::config(&server.uri());
    config.request_timeout = Duration::from_millis(200);
    let listed = funding_alpaca::AlpacaClient::new(config)
        .unwrap()
        .list_ach_relationships(account())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_returned_to_the_caller() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(alpaca_error(42900000, "rate limit exceeded")),
        )
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a read is not retried sooner than asked"
    );
}

#[tokio::test]
async fn the_rate_limit_reset_header_gives_the_wait_when_retry_after_is_absent() {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let (error, _) = create_answered_with(
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .set_body_string("slow down"),
    )
    .await;
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(error.code, "HTTP_429");
    let wait = error.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn deleting_an_unknown_relationship_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(alpaca_error(40410000, "relationship not found")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .delete_ach_relationship(account(), relationship_id())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(error.code, "40410000");
}

#[tokio::test]
async fn a_success_whose_body_is_not_a_relationship_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "not-a-uuid"})))
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Decode);
    assert_eq!(error.http_status, Some(200));
}

#[tokio::test]
async fn a_refused_connection_is_not_processed_even_after_the_retries_of_a_read() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = client(&format!("http://{address}"));
    let error = client
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotProcessed);
    assert_eq!(error.code, "CONNECT");
    assert!(!error.outcome_unknown());
    let error = client.list_ach_relationships(account()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotProcessed);
    assert_eq!(error.code, "CONNECT");
}
