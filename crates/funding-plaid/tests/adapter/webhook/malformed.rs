//! Headers and tokens that are not usable: a missing or empty header, a header that is not a usable
//! JWT (refused before any key fetch), claims without `iat` or the hash; an `exp` in the past still
//! passes, since Plaid sets none.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use funding_plaid::WebhookRejection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::webhook::{BODY, KID, Setup, b64, claims};

#[tokio::test]
async fn a_missing_or_empty_header_is_missing() {
    let setup = Setup::new();
    for header in [None, Some(""), Some("   ")] {
        assert_eq!(
            setup.verifier.verify(header, BODY).await,
            Err(WebhookRejection::MissingHeader),
            "{header:?}"
        );
    }
}

#[tokio::test]
async fn a_header_that_is_not_a_usable_jwt_is_malformed_and_costs_no_key_fetch() {
    let setup = Setup::new();
    let payload = b64(&claims(setup.clock.unix(), BODY));
    let with_header = |header: Value| format!("{}.{payload}.c2ln", b64(&header));
    let cases = [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("!!!.{payload}.c2ln"),
        format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
        with_header(json!({"kid": KID})),
        with_header(json!({"alg": "ES256"})),
        with_header(json!({"alg": "ES256", "kid": 7})),
        with_header(json!({"alg": "ES256", "kid": ""})),
        with_header(json!({"alg": "ES256", "kid": "has space"})),
        with_header(json!({"alg": "ES256", "kid": "k".repeat(129)})),
        format!("{}.{payload}.", b64(&json!({"alg": "ES256", "kid": KID}))),
        format!("{}.{payload}.c2ln", "e".repeat(9000)),
    ];
    for token in &cases {
        assert!(
            matches!(
                setup.verify(token, BODY).await,
                Err(WebhookRejection::Malformed(_))
            ),
            "{token}"
        );
    }
    assert_eq!(setup.keys.fetches(), 0);
}

#[tokio::test]
async fn signed_claims_without_iat_or_hash_are_malformed() {
    let setup = Setup::new();
    let hash = hex::encode(Sha256::digest(BODY));
    for claims in [
        json!({"request_body_sha256": hash}),
        json!({"iat": setup.clock.unix()}),
        json!({"iat": "now", "request_body_sha256": hash}),
        json!({"iat": setup.clock.unix(), "request_body_sha256": 5}),
    ] {
        let token = setup.signer.sign_claims(KID, &claims);
        assert!(
            matches!(
                setup.verify(&token, BODY).await,
                Err(WebhookRejection::Malformed(_))
            ),
            "{claims}"
        );
    }
}

#[tokio::test]
async fn a_token_with_an_exp_in_the_past_still_passes_since_plaid_sets_none() {
    // `exp` is not Plaid's; `iat` is what bounds a token's life.
    let setup = Setup::new();
    let mut claims = claims(setup.clock.unix(), BODY);
    claims["exp"] = json!(1);
    let token = setup.signer.sign_claims(KID, &claims);

    setup.verify(&token, BODY).await.unwrap();
}
