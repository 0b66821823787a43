//! Which keys verify: an expired key is refused (also one cached while valid, once it is learned
//! expired), so is one that is not an ES256 P-256 signing key and one answered under another kid.

use std::sync::Arc;

use chrono::TimeDelta;
use funding_core::ports::WebhookVerificationKey;
use funding_plaid::{WebhookRejection, WebhookVerifier};

use crate::support::webhook::{BODY, FakeKeys, KID, Setup, Signer, TestClock};

#[tokio::test]
async fn an_expired_key_is_refused() {
    let setup = Setup::new();
    setup.keys.expire(KID, setup.clock.unix() - 60);

    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
}

#[tokio::test]
async fn a_key_cached_while_valid_is_refused_once_it_is_learned_expired() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 1);

    // Plaid expires the key. Until the cached copy is due for a refresh, it is what the verifier
    // knows (at most `key_refresh_after`, 5 minutes).
    setup.keys.expire(KID, setup.clock.unix());
    setup.clock.advance(TimeDelta::minutes(4));
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 1);

    // Once it is, the expiry is learned, and every later webhook is refused, cached or not.
    setup.clock.advance(TimeDelta::minutes(2));
    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
    assert_eq!(setup.keys.fetches(), 2);
    setup.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
    assert_eq!(setup.keys.fetches(), 2);
}

#[tokio::test]
async fn a_key_that_is_not_an_es256_p256_signing_key_is_refused() {
    let signer = Signer::generate();
    type Change = fn(&mut WebhookVerificationKey);
    let changes: [(&str, Change); 6] = [
        ("kty RSA", |key| key.kty = "RSA".into()),
        ("crv P-384", |key| key.crv = "P-384".into()),
        ("alg ES384", |key| key.alg = "ES384".into()),
        ("use enc", |key| key.key_use = "enc".into()),
        ("short x", |key| key.x.truncate(20)),
        ("padded y", |key| key.y.push('=')),
    ];
    for (what, change) in changes {
        let keys = Arc::new(FakeKeys::default());
        let mut key = signer.jwk(KID);
        change(&mut key);
        keys.serve(key);
        let clock = TestClock::new();
        let verifier = WebhookVerifier::new(keys, clock.clone());

        let token = signer.sign(KID, clock.unix(), BODY);

        assert_eq!(
            verifier.verify(Some(&token), BODY).await,
            Err(WebhookRejection::UnsupportedKey),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_key_answered_under_another_kid_is_not_used() {
    let setup = Setup::new();
    let wrong = setup.signer.jwk("some-other-kid");
    setup.keys.keys.lock().unwrap().insert(KID.into(), wrong);

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();

    assert!(matches!(rejection, WebhookRejection::KeyFetchFailed(_)));
    assert!(!rejection.is_transient());
}
