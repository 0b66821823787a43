//! Retries: 429 and 500/502/503/504 and lost connections are tried again with backoff, up to
//! `max_attempts`, then the last error is returned; a refusal is never repeated; endpoints that are
//! not safe to repeat are repeated only when Plaid surely did nothing. (Every row of the table of
//! error classes is driven through the client in `error_classes.rs`.)

use std::time::Duration;

use funding_core::ports::{BankTransferGateway, PlaidGateway, ProviderErrorKind};
use funding_domain::PlaidBankTransferId;
use funding_plaid::PlaidClient;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, plaid_error};
use crate::support::bank_transfers::{RAIL_ENDPOINTS, call_endpoint, full_request};
use crate::support::*;

fn internal_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(plaid_error(
        "API_ERROR",
        "INTERNAL_SERVER_ERROR",
        "an unexpected error occurred",
        "req-500",
    ))
}

fn rate_limited() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", "2")
        .set_body_json(plaid_error(
            "RATE_LIMIT_EXCEEDED",
            "RATE_LIMIT",
            "rate limit exceeded",
            "req-429",
        ))
}

#[tokio::test]
async fn rate_limiting_is_retried_then_reported_with_retry_after() {
    let (server, client) = plaid().await;
    on("/processor/token/create", rate_limited())
        .mount(&server)
        .await;

    let error = client
        .create_processor_token(&access_token(), &account_id())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(error.code, "RATE_LIMIT");
    assert_eq!(error.http_status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(error.request_id.as_deref(), Some("req-429"));
    assert!(error.is_retryable());
    assert_eq!(
        received(&server, "/processor/token/create").await.len(),
        MAX_ATTEMPTS as usize
    );
}

#[tokio::test]
async fn an_internal_server_error_is_retried_and_a_later_success_is_returned() {
    let (server, client) = plaid().await;
    on("/processor/token/create", internal_error())
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on("/processor/token/create", ok(fixtures::processor_token()))
        .mount(&server)
        .await;

    client
        .create_processor_token(&access_token(), &account_id())
        .await
        .unwrap();

    let requests = received(&server, "/processor/token/create").await;
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_plaid_headers(request);
    }
}

#[tokio::test]
async fn a_public_token_exchange_whose_outcome_is_unknown_is_not_repeated() {
    // The public token is single-use: a second exchange could only fail, and leave the Item the
    // first one may have made behind.
    let (server, client) = plaid().await;
    on("/item/public_token/exchange", internal_error())
        .mount(&server)
        .await;

    let error = client
        .exchange_public_token(&public_token())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert!(error.outcome_unknown());
    let requests = received(&server, "/item/public_token/exchange").await;
    assert_eq!(requests.len(), 1);
    assert_eq!(body(&requests[0]), json!({"public_token": PUBLIC_TOKEN}));
}

#[tokio::test]
async fn a_rate_limited_public_token_exchange_is_repeated() {
    let (server, client) = plaid().await;
    on("/item/public_token/exchange", rate_limited())
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on("/item/public_token/exchange", ok(fixtures::exchange()))
        .mount(&server)
        .await;

    let item = client.exchange_public_token(&public_token()).await.unwrap();

    assert_eq!(item.item_id.as_str(), ITEM_ID);
    assert_eq!(
        received(&server, "/item/public_token/exchange").await.len(),
        2
    );
}

#[tokio::test]
async fn an_item_is_removed_with_its_access_token() {
    let (server, client) = plaid().await;
    on("/item/remove", ok(fixtures::request_id_only()))
        .mount(&server)
        .await;

    client.remove_item(&access_token()).await.unwrap();

    let requests = received(&server, "/item/remove").await;
    assert_eq!(requests.len(), 1);
    assert_plaid_headers(&requests[0]);
}

#[tokio::test]
async fn a_lasting_internal_server_error_is_unavailable_after_max_attempts() {
    let (server, client) = plaid().await;
    on("/accounts/get", internal_error()).mount(&server).await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert_eq!(error.code, "INTERNAL_SERVER_ERROR");
    assert_eq!(error.http_status, Some(500));
    assert!(error.outcome_unknown());
    assert_eq!(
        received(&server, "/accounts/get").await.len(),
        MAX_ATTEMPTS as usize
    );
}

#[tokio::test]
async fn every_retryable_gateway_status_is_retried() {
    for status in [502, 503, 504] {
        let (server, client) = plaid().await;
        on(
            "/sandbox/public_token/create",
            ResponseTemplate::new(status).set_body_json(plaid_error(
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                "an unexpected error occurred",
                "req-5xx",
            )),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
        on(
            "/sandbox/public_token/create",
            ok(fixtures::sandbox_public_token()),
        )
        .mount(&server)
        .await;

        client
            .sandbox_create_public_token(INSTITUTION_ID)
            .await
            .unwrap();

        assert_eq!(
            received(&server, "/sandbox/public_token/create")
                .await
                .len(),
            2,
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_non_json_bad_gateway_is_retried_then_unavailable_with_its_http_status_as_code() {
    let (server, client) = plaid().await;
    on(
        "/accounts/get",
        ResponseTemplate::new(502).set_body_string("<html>502 Bad Gateway</html>"),
    )
    .mount(&server)
    .await;

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert_eq!(error.code, "HTTP_502");
    assert_eq!(error.http_status, Some(502));
    assert_eq!(
        received(&server, "/accounts/get").await.len(),
        MAX_ATTEMPTS as usize
    );
}

#[tokio::test]
async fn a_timeout_is_a_transport_error_after_the_retries() {
    let server = wiremock::MockServer::start().await;
    on(
        "/accounts/get",
        ok(fixtures::accounts()).set_delay(Duration::from_secs(3)),
    )
    .mount(&server)
    .await;
    let mut config = config(&server.uri());
    config.request_timeout = Duration::from_millis(100);
    config.retry.max_attempts = 2;
    let client = PlaidClient::new(config).unwrap();

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Transport);
    assert_eq!(error.code, "TIMEOUT");
    assert_eq!(error.http_status, None);
    assert!(error.outcome_unknown());
    assert_eq!(received(&server, "/accounts/get").await.len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_not_processed_after_the_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = PlaidClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();

    let error = client
        .exchange_public_token(&public_token())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::NotProcessed);
    assert!(!error.outcome_unknown() && error.is_retryable());
    assert_eq!(error.code, "CONNECTION_FAILED");
    assert!(
        error.message.contains("/item/public_token/exchange"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_bank_transfer_create_answered_500_then_200_is_retried_with_the_same_body() {
    let (server, client) = plaid().await;
    on("/processor/bank_transfer/create", internal_error())
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    let transfer = client.create_bank_transfer(&full_request()).await.unwrap();

    assert_eq!(transfer.id.as_str(), fixtures::BANK_TRANSFER_ID);
    let requests = received(&server, "/processor/bank_transfer/create").await;
    assert_eq!(requests.len(), 2);
    requests.iter().for_each(assert_plaid_headers);
    assert_eq!(requests[0].body, requests[1].body, "byte for byte");
    assert_eq!(body(&requests[0])["idempotency_key"], "key-1");
    assert_eq!(body(&requests[1])["idempotency_key"], "key-1");
}

#[tokio::test]
async fn a_bank_transfer_create_that_timed_out_is_resent_with_the_same_idempotency_key() {
    let server = wiremock::MockServer::start().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()).set_delay(Duration::from_secs(3)),
    )
    .up_to_n_times(1)
    .mount(&server)
    .await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;
    let mut config = config(&server.uri());
    config.request_timeout = Duration::from_millis(200);
    let client = PlaidClient::new(config).unwrap();

    client.create_bank_transfer(&full_request()).await.unwrap();

    let requests = received(&server, "/processor/bank_transfer/create").await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn a_lasting_failure_of_a_create_is_unavailable_with_an_unknown_outcome() {
    let (server, client) = plaid().await;
    on("/processor/bank_transfer/create", internal_error())
        .mount(&server)
        .await;

    let error = client
        .create_bank_transfer(&full_request())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert!(error.outcome_unknown());
    let requests = received(&server, "/processor/bank_transfer/create").await;
    assert_eq!(requests.len(), MAX_ATTEMPTS as usize);
    assert!(requests.windows(2).all(|pair| pair[0].body == pair[1].body));
}

#[tokio::test]
async fn a_cancel_is_not_repeated_when_its_outcome_is_unknown_but_is_after_a_rate_limit() {
    let id = PlaidBankTransferId::parse(fixtures::BANK_TRANSFER_ID).unwrap();

    let (server, client) = plaid().await;
    on("/bank_transfer/cancel", internal_error())
        .mount(&server)
        .await;
    let error = client.cancel_bank_transfer(&id).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert!(error.outcome_unknown());
    assert_eq!(received(&server, "/bank_transfer/cancel").await.len(), 1);

    let (server, client) = plaid().await;
    on("/bank_transfer/cancel", rate_limited())
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on("/bank_transfer/cancel", ok(fixtures::request_id_only()))
        .mount(&server)
        .await;
    client.cancel_bank_transfer(&id).await.unwrap();
    assert_eq!(received(&server, "/bank_transfer/cancel").await.len(), 2);
}

#[tokio::test]
async fn a_cancel_that_timed_out_is_not_repeated() {
    let server = wiremock::MockServer::start().await;
    on(
        "/bank_transfer/cancel",
        ok(fixtures::request_id_only()).set_delay(Duration::from_secs(3)),
    )
    .mount(&server)
    .await;
    let mut config = config(&server.uri());
    config.request_timeout = Duration::from_millis(200);
    let client = PlaidClient::new(config).unwrap();
    let id = PlaidBankTransferId::parse(fixtures::BANK_TRANSFER_ID).unwrap();

    let error = client.cancel_bank_transfer(&id).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Transport);
    assert_eq!(error.code, "TIMEOUT");
    assert_eq!(received(&server, "/bank_transfer/cancel").await.len(), 1);
}

#[tokio::test]
async fn the_reads_are_retried_after_a_500_and_the_sandbox_actions_are_not() {
    for (endpoint, answer, retried) in [
        ("/bank_transfer/get", fixtures::bank_transfer(), true),
        ("/bank_transfer/list", fixtures::bank_transfer_list(), true),
        ("/bank_transfer/event/list", fixtures::event_list(), true),
        ("/bank_transfer/event/sync", fixtures::event_sync(), true),
        ("/bank_transfer/balance/get", fixtures::balance(), true),
        (
            "/processor/balance/get",
            fixtures::processor_balance(),
            true,
        ),
        (
            "/webhook_verification_key/get",
            fixtures::webhook_verification_key(),
            true,
        ),
        (
            "/sandbox/processor_token/create",
            fixtures::sandbox_processor_token(),
            true,
        ),
        (
            "/sandbox/bank_transfer/simulate",
            fixtures::request_id_only(),
            false,
        ),
        (
            "/sandbox/bank_transfer/fire_webhook",
            fixtures::request_id_only(),
            false,
        ),
    ] {
        let (server, client) = plaid().await;
        on(endpoint, internal_error())
            .up_to_n_times(1)
            .mount(&server)
            .await;
        on(endpoint, ok(answer)).mount(&server).await;

        let outcome = call_endpoint(&client, endpoint).await;

        let sent = received(&server, endpoint).await;
        if retried {
            assert!(outcome.is_ok(), "{endpoint}: {outcome:?}");
            assert_eq!(sent.len(), 2, "{endpoint}");
            assert_eq!(sent[0].body, sent[1].body, "{endpoint}");
        } else {
            let error = outcome.unwrap_err();
            assert_eq!(error.kind, ProviderErrorKind::Unavailable, "{endpoint}");
            assert!(error.outcome_unknown(), "{endpoint}");
            assert_eq!(sent.len(), 1, "{endpoint}");
        }
    }
}

#[tokio::test]
async fn every_rail_endpoint_is_repeated_after_a_rate_limit() {
    for (endpoint, answer) in fixtures::all_responses()
        .into_iter()
        .filter(|(endpoint, _)| RAIL_ENDPOINTS.contains(endpoint))
    {
        let (server, client) = plaid().await;
        on(endpoint, rate_limited())
            .up_to_n_times(1)
            .mount(&server)
            .await;
        on(endpoint, ok(answer)).mount(&server).await;

        let outcome = call_endpoint(&client, endpoint).await;

        assert!(outcome.is_ok(), "{endpoint}: {outcome:?}");
        assert_eq!(received(&server, endpoint).await.len(), 2, "{endpoint}");
    }
}

#[tokio::test]
async fn with_a_single_attempt_nothing_is_retried() {
    let server = wiremock::MockServer::start().await;
    on("/accounts/get", internal_error()).mount(&server).await;
    let mut config = config(&server.uri());
    config.retry = funding_plaid::RetryPolicy::no_retry();
    let client = PlaidClient::new(config).unwrap();

    let error = client.list_accounts(&access_token()).await.unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert_eq!(received(&server, "/accounts/get").await.len(), 1);
}
