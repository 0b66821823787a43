//! What Plaid documents as not processed — `PLANNED_MAINTENANCE` (503), rate limiting (429), and a
//! connection never made — is a definite "not done": retried by the adapter on every endpoint, the
//! single-use public token exchange and the idempotency-keyed create included, and still reported
//! as not done (`NotProcessed`, `RateLimited`) when the retries are used up.

use funding_core::ports::{PlaidGateway, ProviderErrorKind};
use funding_plaid::PlaidClient;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::error_classes::call;
use crate::fixtures::{self, plaid_error};
use crate::support::*;

fn maintenance() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_json(plaid_error(
        "API_ERROR",
        "PLANNED_MAINTENANCE",
        "the API is down for planned maintenance",
        "req-503",
    ))
}

fn rate_limited() -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(plaid_error(
        "RATE_LIMIT_EXCEEDED",
        "RATE_LIMIT",
        "rate limit exceeded",
        "req-429",
    ))
}

#[tokio::test]
async fn two_maintenance_answers_on_the_public_token_exchange_then_success_is_ok() {
    let (server, client) = plaid().await;
    on("/item/public_token/exchange", maintenance())
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on("/item/public_token/exchange", ok(fixtures::exchange()))
        .mount(&server)
        .await;

    let item = client.exchange_public_token(&public_token()).await.unwrap();

    assert_eq!(item.item_id.as_str(), ITEM_ID);
    let requests = received(&server, "/item/public_token/exchange").await;
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_plaid_headers(request);
        assert_eq!(body(request), json!({"public_token": PUBLIC_TOKEN}));
    }
}

#[tokio::test]
async fn maintenance_after_the_retries_are_used_up_is_not_processed() {
    let (server, client) = plaid().await;
    on("/item/public_token/exchange", maintenance())
        .mount(&server)
        .await;

    let error = client
        .exchange_public_token(&public_token())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::NotProcessed);
    assert_eq!(error.code, "PLANNED_MAINTENANCE");
    assert_eq!(error.http_status, Some(503));
    assert_eq!(error.request_id.as_deref(), Some("req-503"));
    assert!(error.is_retryable() && !error.outcome_unknown());
    assert_eq!(
        received(&server, "/item/public_token/exchange").await.len(),
        MAX_ATTEMPTS as usize
    );
}

#[tokio::test]
async fn a_refused_connection_is_not_processed_on_the_exchange_and_the_keyed_create() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = PlaidClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    for endpoint in [
        "/item/public_token/exchange",
        "/processor/bank_transfer/create",
    ] {
        let error = call(&client, endpoint).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::NotProcessed, "{endpoint}");
        assert_eq!(error.code, "CONNECTION_FAILED", "{endpoint}");
        assert!(!error.outcome_unknown(), "{endpoint}");
    }
}

#[tokio::test]
async fn every_endpoint_is_repeated_after_maintenance_and_after_a_rate_limit_with_the_same_body() {
    for (first, what) in [
        (maintenance(), "maintenance"),
        (rate_limited(), "rate limit"),
    ] {
        for (endpoint, answer) in fixtures::all_responses() {
            let (server, client) = plaid().await;
            on(endpoint, first.clone())
                .up_to_n_times(1)
                .mount(&server)
                .await;
            on(endpoint, ok(answer)).mount(&server).await;

            let outcome = call(&client, endpoint).await;

            assert!(outcome.is_ok(), "{what} on {endpoint}: {outcome:?}");
            let requests = received(&server, endpoint).await;
            assert_eq!(requests.len(), 2, "{what} on {endpoint}");
            assert_eq!(requests[0].body, requests[1].body, "{what} on {endpoint}");
        }
    }
}
