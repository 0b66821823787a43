//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default): the code that
//! reads what Plaid sends, fed arbitrary bytes. Each function runs the adapter's own reading code
//! and checks the properties that must hold for any input; a violated property panics, which the
//! fuzzer reports. None of this is part of the adapter's API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use funding_core::ports::{BankTransferBalance, PlaidBankTransfer, PlaidBankTransferEvent};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::failure::AttemptFailure;
use crate::webhook::{
    VerifyingKey, WebhookRejection, WebhookVerifierConfig, check_token, ensure_crypto_provider,
    signing_kid, validation,
};
use crate::wire::bank_transfer::{
    BankTransferBalanceGetResponse, BankTransferEventListResponse, BankTransferEventSyncResponse,
    BankTransferListResponse, BankTransferResponse, read_synced_event,
};
use crate::wire::link::{
    AccountsGetResponse, ProcessorTokenCreateResponse, PublicTokenExchangeResponse,
};
use crate::wire::webhook::WebhookVerificationKeyGetResponse;

/// A P-256 key made for the fuzz targets only (it signs nothing anywhere else).
/// PKCS#8 DER, base64 (jsonwebtoken is built without its PEM feature).
const FUZZ_SIGNING_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHM7WU6MwnfCxYTh+dHpoOIHzR1Bn694SliQvORSK/bShRANCAASfaQVYlGOq+cgACa8grBo6CLJjENm/4uLmwkoXtwkUJLQz42Hu4cwdvpRmWmCWN/o3NPOO6mXJ8rm66mNhWX3p";
const FUZZ_KEY_X: &str = "n2kFWJRjqvnIAAmvIKwaOgiyYxDZv-Li5sJKF7cJFCQ";
const FUZZ_KEY_Y: &str = "tDPjYe7hzB2-lGZaYJY3-jc0847qZcnyubrqY2FZfek";
const FUZZ_KID: &str = "fuzz-key-1";
/// A fixed "now" (Unix seconds) for the signed-webhook target.
const NOW: i64 = 1_780_000_000;

/// Decodes `body` as each Plaid answer the adapter reads and converts it as the adapter does; with
/// a non-2xx `status`, reads it as Plaid's error object.
///
/// Properties: no panic; an error's message never carries a whole Plaid token (`access-…`,
/// `processor-…`, `public-…`), whatever the body says.
pub fn decode_answers(status: u16, body: &[u8]) {
    fn read<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
        serde_json::from_slice(body).ok()
    }
    if let Some(answer) = read::<BankTransferResponse>(body) {
        let _: PlaidBankTransfer = answer.bank_transfer.into();
    }
    if let Some(answer) = read::<BankTransferListResponse>(body) {
        let _: Vec<PlaidBankTransfer> = answer.bank_transfers.into_iter().map(Into::into).collect();
    }
    if let Some(answer) = read::<BankTransferEventSyncResponse>(body) {
        for raw in &answer.bank_transfer_events {
            let synced = read_synced_event(raw);
            // Kept as sent, and an unreadable event's id is the one it carries.
            assert_eq!(synced.raw, raw.get());
            if let Ok(event) = &synced.event {
                assert_eq!(synced.event_id, Some(event.event_id));
            }
        }
    }
    if let Some(answer) = read::<BankTransferEventListResponse>(body) {
        let _: Vec<PlaidBankTransferEvent> = answer
            .bank_transfer_events
            .into_iter()
            .map(Into::into)
            .collect();
    }
    if let Some(answer) = read::<BankTransferBalanceGetResponse>(body) {
        let _: BankTransferBalance = answer.into();
    }
    if let Some(answer) = read::<WebhookVerificationKeyGetResponse>(body) {
        let key = funding_core::ports::WebhookVerificationKey::from(answer.key);
        let _ = VerifyingKey::from_jwk(&key);
    }
    let _ = read::<PublicTokenExchangeResponse>(body);
    let _ = read::<ProcessorTokenCreateResponse>(body);
    let _ = read::<AccountsGetResponse>(body);

    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| !status.is_success())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let failure = AttemptFailure::from_answer("/fuzz", status, None, body);
    let error = failure.error;
    for text in [
        Some(error.message.as_str()),
        error.display_message.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(
            funding_domain::redact_tokens(text),
            text,
            "a Plaid token reached an error message"
        );
    }
}

/// Verifies `token` for `body` against the fuzz key, as the webhook endpoint does once the key
/// is known. Property: no panic; an arbitrary token is accepted only if it is really signed by
/// the key (a fuzzer cannot forge ES256, so any acceptance of a token not made by
/// [`signed_webhook`] is a bug).
pub fn verify_token(token: &str, body: &[u8], now_offset: i32) {
    let key = fuzz_key(false);
    let now = NOW + i64::from(now_offset);
    let Ok(kid) = signing_kid(token) else {
        return;
    };
    if kid != FUZZ_KID {
        return;
    }
    let config = WebhookVerifierConfig::default();
    if check_token(token, &key, &validation(), &config, now, body).is_ok() {
        // Accepted: it must be a token this key signed for this very body.
        let digest = hex::encode(Sha256::digest(body));
        let claims = token.split('.').nth(1).unwrap_or_default();
        let claims = URL_SAFE_NO_PAD.decode(claims).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap_or_default();
        assert_eq!(
            claims["request_body_sha256"].as_str(),
            Some(digest.as_str()),
            "a webhook whose body hash differs was accepted"
        );
    }
}

/// Signs a webhook for `signed_body` issued `age` seconds before now, optionally flips one byte of
/// the token at `tamper`, and verifies it for `received_body`.
///
/// Properties: an untampered token for the same body, between 5 minutes old and 30 seconds in the
/// future, is accepted; one outside that window is refused as stale or from the future; a token
/// verified for another body is refused; a token with a flipped byte is never accepted for a body
/// other than the one it was signed for, and a flip in the signature is always refused.
pub fn signed_webhook(signed_body: &[u8], received_body: &[u8], age: i16, tamper: Option<u16>) {
    ensure_crypto_provider();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(FUZZ_SIGNING_KEY) else {
        panic!("the fuzz key is base64");
    };
    let encoding = EncodingKey::from_ec_der(&der);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(FUZZ_KID.to_owned());
    let claims = serde_json::json!({
        "iat": NOW - i64::from(age),
        "request_body_sha256": hex::encode(Sha256::digest(signed_body)),
    });
    let Ok(token) = jsonwebtoken::encode(&header, &claims, &encoding) else {
        panic!("signing with the fuzz key works");
    };
    let key = fuzz_key(false);
    let config = WebhookVerifierConfig::default();
    let check = |token: &str| -> Result<(), WebhookRejection> {
        signing_kid(token)?;
        check_token(token, &key, &validation(), &config, NOW, received_body)
    };

    let Some(position) = tamper else {
        let same_body = signed_body == received_body;
        let outcome = check(&token);
        match (same_body, age) {
            (true, -30..=300) => {
                assert!(outcome.is_ok(), "a good webhook was refused: {outcome:?}")
            }
            (true, 301..) => assert!(matches!(outcome, Err(WebhookRejection::Stale))),
            (true, _) => assert!(matches!(outcome, Err(WebhookRejection::IssuedInFuture))),
            (false, _) => assert!(outcome.is_err(), "a webhook was accepted for another body"),
        }
        return;
    };
    let mut bytes = token.clone().into_bytes();
    let index = usize::from(position) % bytes.len();
    bytes[index] = match bytes[index] {
        b'A' => b'B',
        _ => b'A',
    };
    let Ok(tampered) = String::from_utf8(bytes) else {
        return;
    };
    // The signature covers the header and claims as sent: any change there must be refused. Only
    // base64url's last character may carry unused bits, so a flip there could decode the same.
    if check(&tampered).is_ok() {
        assert_eq!(index, token.len() - 1, "an altered webhook was accepted");
        assert_eq!(
            signed_body, received_body,
            "an altered webhook was accepted for another body"
        );
    }
}

/// The fuzz key as a fetched verification key.
fn fuzz_key(expired: bool) -> VerifyingKey {
    VerifyingKey::from_jwk(&funding_core::ports::WebhookVerificationKey {
        alg: "ES256".into(),
        crv: "P-256".into(),
        kid: FUZZ_KID.into(),
        kty: "EC".into(),
        key_use: "sig".into(),
        x: FUZZ_KEY_X.into(),
        y: FUZZ_KEY_Y.into(),
        created_at: NOW - 86_400,
        expired_at: expired.then_some(NOW),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_key_signs_what_the_verifier_accepts() {
        signed_webhook(b"{}", b"{}", 0, None);
        signed_webhook(b"{}", b"{}", 301, None);
        signed_webhook(b"{}", b"{}", -31, None);
        signed_webhook(b"{}", b"{ }", 0, None);
        for position in 0..200 {
            signed_webhook(b"{}", b"{}", 0, Some(position));
        }
    }

    #[test]
    fn error_bodies_never_leak_tokens() {
        decode_answers(
            400,
            br#"{"error_type":"INVALID_INPUT","error_code":"X","error_message":"bad access-sandbox-1234-abcd","display_message":"processor-production-zz"}"#,
        );
    }
}
