//! The signed claims: `iat` within five minutes back and the clock skew ahead, and the body's hash
//! (a single byte altered, even whitespace, an upper-case or another body's hash is refused).

use funding_plaid::WebhookRejection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::webhook::{BODY, KID, Setup};

#[tokio::test]
async fn a_token_issued_four_minutes_ago_passes_and_six_minutes_ago_is_stale() {
    let setup = Setup::new();
    let now = setup.clock.unix();

    for (age, expected) in [
        (4 * 60, Ok(())),
        (5 * 60, Ok(())),
        (5 * 60 + 1, Err(WebhookRejection::Stale)),
        (6 * 60, Err(WebhookRejection::Stale)),
        (86_400, Err(WebhookRejection::Stale)),
    ] {
        let token = setup.signer.sign(KID, now - age, BODY);
        assert_eq!(setup.verify(&token, BODY).await, expected, "{age} s old");
    }
}

#[tokio::test]
async fn a_token_issued_in_the_future_passes_only_within_the_clock_skew() {
    let setup = Setup::new();
    let now = setup.clock.unix();

    for (ahead, expected) in [
        (20, Ok(())),
        (30, Ok(())),
        (31, Err(WebhookRejection::IssuedInFuture)),
        (5 * 60, Err(WebhookRejection::IssuedInFuture)),
    ] {
        let token = setup.signer.sign(KID, now + ahead, BODY);
        assert_eq!(
            setup.verify(&token, BODY).await,
            expected,
            "{ahead} s ahead"
        );
    }
}

#[tokio::test]
async fn a_body_altered_by_a_single_byte_even_whitespace_is_refused() {
    let setup = Setup::new();
    let token = setup.genuine();
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(BODY).unwrap()).unwrap();
    let mut one_byte = BODY.to_vec();
    one_byte[BODY.len() - 3] = b'Z';
    let mut extra_space = BODY.to_vec();
    extra_space.insert(2, b' ');
    let mut trailing_newline = BODY.to_vec();
    trailing_newline.push(b'\n');

    for (what, body) in [
        ("one byte changed", one_byte.as_slice()),
        ("one space added", extra_space.as_slice()),
        ("a trailing newline", trailing_newline.as_slice()),
        ("the same JSON, compact", compact.as_slice()),
        ("no body", b"".as_slice()),
    ] {
        assert_eq!(
            setup.verify(&token, body).await,
            Err(WebhookRejection::BodyMismatch),
            "{what}"
        );
    }
    setup.verify(&token, BODY).await.unwrap();
}

#[tokio::test]
async fn a_hash_claim_in_upper_case_or_of_another_body_is_refused() {
    let setup = Setup::new();
    let upper = hex::encode_upper(Sha256::digest(BODY));
    for hash in [upper.as_str(), "", "00"] {
        let token = setup.signer.sign_claims(
            KID,
            &json!({"iat": setup.clock.unix(), "request_body_sha256": hash}),
        );
        assert_eq!(
            setup.verify(&token, BODY).await,
            Err(WebhookRejection::BodyMismatch),
            "{hash:?}"
        );
    }
}
