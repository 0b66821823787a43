//! The verifier on a real `PlaidClient`, its key served by a fake Plaid (wiremock): the key Plaid
//! serves is fetched once and used, a kid Plaid does not know is an unknown key, and Plaid failing
//! to serve the key is a transient rejection (the read retried).

use std::sync::Arc;

use funding_plaid::{WebhookRejection, WebhookVerifier};
use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::{body_json, method, path};

use crate::fixtures::plaid_error;
use crate::support::webhook::{BODY, KID, Signer, TestClock};
use crate::support::*;

async fn setup() -> (
    wiremock::MockServer,
    Signer,
    Arc<TestClock>,
    WebhookVerifier,
) {
    let (server, client) = plaid().await;
    let signer = Signer::generate();
    let clock = TestClock::new();
    let verifier = WebhookVerifier::new(Arc::new(client), clock.clone());
    (server, signer, clock, verifier)
}

#[tokio::test]
async fn a_genuine_webhook_passes_with_the_key_plaid_serves() {
    let (server, signer, clock, verifier) = setup().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/webhook_verification_key/get"))
        .and(body_json(json!({"key_id": KID})))
        .respond_with(ok(
            json!({"key": signer.jwk_json(KID), "request_id": "RZ6Omi1bzzwDaLo"}),
        ))
        .mount(&server)
        .await;

    for _ in 0..5 {
        let token = signer.sign(KID, clock.unix(), BODY);
        verifier.verify(Some(&token), BODY).await.unwrap();
    }

    let requests = received(&server, "/webhook_verification_key/get").await;
    assert_eq!(requests.len(), 1);
    assert_plaid_headers(&requests[0]);
    assert_eq!(body(&requests[0]), json!({"key_id": KID}));
}

#[tokio::test]
async fn a_kid_plaid_does_not_know_is_an_unknown_key() {
    let (server, signer, clock, verifier) = setup().await;
    on(
        "/webhook_verification_key/get",
        ResponseTemplate::new(400).set_body_json(plaid_error(
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided",
            "req-kid",
        )),
    )
    .mount(&server)
    .await;

    let token = signer.sign(KID, clock.unix(), BODY);

    assert_eq!(
        verifier.verify(Some(&token), BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(
        received(&server, "/webhook_verification_key/get")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn plaid_failing_to_serve_the_key_is_a_transient_rejection() {
    let (server, signer, clock, verifier) = setup().await;
    on(
        "/webhook_verification_key/get",
        ResponseTemplate::new(500).set_body_json(plaid_error(
            "API_ERROR",
            "INTERNAL_SERVER_ERROR",
            "an unexpected error occurred",
            "req-500",
        )),
    )
    .mount(&server)
    .await;

    let token = signer.sign(KID, clock.unix(), BODY);
    let rejection = verifier.verify(Some(&token), BODY).await.unwrap_err();

    assert!(rejection.is_transient(), "{rejection:?}");
    assert_eq!(
        received(&server, "/webhook_verification_key/get")
            .await
            .len(),
        MAX_ATTEMPTS as usize,
        "a read: retried"
    );
}
