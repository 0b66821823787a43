//! The key cache: an unknown kid refused and remembered for a while (and used once Plaid is asked
//! again and knows it), one fetch for many webhooks, a failed or slow fetch a transient refusal
//! that is not cached, at most 32 kids (a flood of made-up ones never evicting Plaid's key), and a
//! clock that goes backwards making the cached key fetched again.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use funding_plaid::{WebhookRejection, WebhookVerifierConfig};

use crate::support::webhook::{BODY, Setup, Signer};

#[tokio::test]
async fn an_unknown_kid_is_refused_and_remembered_for_a_while() {
    let setup = Setup::new();
    let token = setup
        .signer
        .sign("0d4f0b6e-unknown-kid", setup.clock.unix(), BODY);

    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(setup.keys.fetches(), 1, "remembered as unknown");

    setup.clock.advance(TimeDelta::minutes(2));
    let token = setup
        .signer
        .sign("0d4f0b6e-unknown-kid", setup.clock.unix(), BODY);
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(setup.keys.fetches(), 2, "asked again after unknown_key_ttl");
}

#[tokio::test]
async fn a_kid_that_turns_up_after_being_unknown_is_used_once_plaid_is_asked_again() {
    let setup = Setup::new();
    let rotated = Signer::generate();
    let token = rotated.sign("new-kid", setup.clock.unix(), BODY);
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );

    setup.keys.serve(rotated.jwk("new-kid"));
    setup.clock.advance(TimeDelta::seconds(61));

    let token = rotated.sign("new-kid", setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_fetched_once_for_many_webhooks() {
    let setup = Arc::new(Setup::new());

    for _ in 0..20 {
        setup.verify(&setup.genuine(), BODY).await.unwrap();
    }
    assert_eq!(setup.keys.fetches(), 1);

    // Concurrent first webhooks of a new key wait for one fetch.
    let rotated = Signer::generate();
    setup.keys.serve(rotated.jwk("rotated-kid"));
    *setup.keys.delay.lock().unwrap() = Some(Duration::from_millis(50));
    let token = rotated.sign("rotated-kid", setup.clock.unix(), BODY);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let setup = setup.clone();
            let token = token.clone();
            tokio::spawn(async move { setup.verify(&token, BODY).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(setup.keys.fetches(), 2);
}

#[tokio::test]
async fn a_failed_key_fetch_says_whether_it_is_transient_and_is_not_cached() {
    let setup = Setup::new();
    let mut down = ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::Unavailable,
        "INTERNAL_SERVER_ERROR",
        "API_ERROR: an unexpected error occurred",
    );
    down.http_status = Some(500);
    setup.keys.fail_with(Some(down.clone()));

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();
    assert_eq!(rejection, WebhookRejection::KeyFetchFailed(down));
    assert!(rejection.is_transient());
    assert_eq!(rejection.as_str(), "key_fetch_failed");

    let refused = ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::Unauthorized,
        "INVALID_API_KEYS",
        "INVALID_INPUT: invalid client_id or secret provided",
    );
    setup.keys.fail_with(Some(refused));
    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();
    assert!(matches!(rejection, WebhookRejection::KeyFetchFailed(_)));
    assert!(!rejection.is_transient());

    // Plaid is back: the next webhook fetches the key and passes.
    setup.keys.fail_with(None);
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 3);
    for other in [
        WebhookRejection::BadSignature,
        WebhookRejection::UnknownKey,
        WebhookRejection::Stale,
    ] {
        assert!(!other.is_transient());
    }
}

#[tokio::test]
async fn a_key_fetch_that_takes_too_long_is_a_transient_failure() {
    let setup = Setup::with_config(WebhookVerifierConfig {
        key_fetch_timeout: Duration::from_millis(100),
        ..WebhookVerifierConfig::default()
    });
    *setup.keys.delay.lock().unwrap() = Some(Duration::from_secs(5));

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();

    match &rejection {
        WebhookRejection::KeyFetchFailed(error) => {
            assert_eq!(error.kind, ProviderErrorKind::Transport);
            assert_eq!(error.code, "TIMEOUT");
        }
        other => panic!("expected a key fetch failure, got {other:?}"),
    }
    assert!(rejection.is_transient());
}

#[tokio::test]
async fn the_cache_holds_at_most_32_kids_and_evicts_the_oldest() {
    let setup = Setup::new();
    let kids: Vec<String> = (0..33).map(|n| format!("kid-{n}")).collect();
    for kid in &kids {
        setup.keys.serve(setup.signer.jwk(kid));
    }
    for kid in &kids {
        let token = setup.signer.sign(kid, setup.clock.unix(), BODY);
        setup.verify(&token, BODY).await.unwrap();
        setup.clock.advance(TimeDelta::seconds(1));
    }
    assert_eq!(setup.keys.fetches(), 33);
    assert!(format!("{:?}", setup.verifier).contains("cached_keys: 32"));

    // The newest is still cached; the oldest was evicted and is fetched again.
    let token = setup.signer.sign(&kids[32], setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 33);
    let token = setup.signer.sign(&kids[0], setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 34);
}

#[tokio::test]
async fn a_flood_of_made_up_kids_does_not_evict_plaids_key() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    for n in 0..100 {
        setup.clock.advance(TimeDelta::milliseconds(100));
        let token = setup
            .signer
            .sign(&format!("made-up-{n}"), setup.clock.unix(), BODY);
        assert_eq!(
            setup.verify(&token, BODY).await,
            Err(WebhookRejection::UnknownKey)
        );
    }
    let fetches = setup.keys.fetches();

    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), fetches, "Plaid's key is still cached");
}

#[tokio::test]
async fn a_clock_that_goes_backwards_makes_the_cached_key_fetched_again() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    setup.clock.advance(TimeDelta::minutes(-1));
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    assert_eq!(setup.keys.fetches(), 2);
}
