//! One token checked against a known key, with nothing cached: the JOSE header read before
//! anything is verified (`alg` exactly `ES256`, a usable `kid`), a JWK turned into a
//! [`VerifyingKey`] (only an unexpired ES256 P-256 signing key verifies), and then the signature,
//! `iat` against the clock and the body's SHA-256 (steps 1, 3, 4 and 5 of the [module](super)).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use funding_core::ports::WebhookVerificationKey;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{WebhookRejection, WebhookVerifierConfig};

/// The only JWS algorithm Plaid signs webhooks with.
const SIGNING_ALGORITHM: &str = "ES256";

/// Plaid's kids are UUIDs; a kid is sent to Plaid and logged, so it is kept short and printable.
const MAX_KID_LEN: usize = 128;

/// A key as fetched, ready to verify with.
pub(crate) struct VerifyingKey {
    /// `expired_at` was set.
    pub(super) expired: bool,
    /// `None` when the JWK is not an ES256 P-256 signing key.
    pub(super) decoding: Option<DecodingKey>,
}

impl VerifyingKey {
    pub(crate) fn from_jwk(jwk: &WebhookVerificationKey) -> Self {
        let fits = jwk.kty == "EC"
            && jwk.crv == "P-256"
            && jwk.alg == SIGNING_ALGORITHM
            && jwk.key_use == "sig"
            && is_coordinate(&jwk.x)
            && is_coordinate(&jwk.y);
        let decoding = fits
            .then(|| DecodingKey::from_ec_components(&jwk.x, &jwk.y).ok())
            .flatten();
        Self {
            expired: jwk.expired_at.is_some(),
            decoding,
        }
    }
}

/// A P-256 coordinate: 32 bytes, base64url without padding.
fn is_coordinate(encoded: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .is_ok_and(|bytes| bytes.len() == 32)
}

/// The JOSE header fields that matter, read before anything is verified.
#[derive(Deserialize)]
struct JoseHeader {
    alg: serde_json::Value,
    #[serde(default)]
    kid: Option<serde_json::Value>,
}

/// Plaid's claims: `iat` (Unix seconds) and the body's hash.
#[derive(Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

/// jsonwebtoken's checks: ES256 only. Plaid's JWTs carry `iat` and the body hash only; `iat` is
/// checked by [`check_token`], against the injected clock, not by jsonwebtoken against the system's.
pub(crate) fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// What is checked once the key is known: not expired, the signature, `iat` against `now` (Unix
/// seconds), and the body's SHA-256, compared in constant time.
pub(crate) fn check_token(
    token: &str,
    key: &VerifyingKey,
    validation: &Validation,
    config: &WebhookVerifierConfig,
    now: i64,
    body: &[u8],
) -> Result<(), WebhookRejection> {
    if key.expired {
        return Err(WebhookRejection::ExpiredKey);
    }
    let decoding = key
        .decoding
        .as_ref()
        .ok_or(WebhookRejection::UnsupportedKey)?;
    let claims = jsonwebtoken::decode::<Claims>(token, decoding, validation)
        .map_err(|error| rejection(error.kind()))?
        .claims;
    let age = now.saturating_sub(claims.iat);
    if age > seconds(config.max_age) {
        return Err(WebhookRejection::Stale);
    }
    if age.saturating_neg() > seconds(config.max_future_skew) {
        return Err(WebhookRejection::IssuedInFuture);
    }
    let digest = hex::encode(Sha256::digest(body));
    if bool::from(
        digest
            .as_bytes()
            .ct_eq(claims.request_body_sha256.as_bytes()),
    ) {
        Ok(())
    } else {
        Err(WebhookRejection::BodyMismatch)
    }
}

/// Reads the JOSE header without verifying it: `alg` exactly `ES256`, a usable `kid`, and a
/// signature part (checked after `alg`, so an unsigned `alg: none` token is named as such).
pub(crate) fn signing_kid(token: &str) -> Result<String, WebhookRejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(WebhookRejection::Malformed("not three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| WebhookRejection::Malformed("JOSE header is not base64url"))?;
    let header: JoseHeader = serde_json::from_slice(&header)
        .map_err(|_| WebhookRejection::Malformed("JOSE header is not a JSON object with alg"))?;
    if header.alg.as_str() != Some(SIGNING_ALGORITHM) {
        return Err(WebhookRejection::WrongAlgorithm);
    }
    let Some(serde_json::Value::String(kid)) = header.kid else {
        return Err(WebhookRejection::Malformed("JOSE header has no kid"));
    };
    if kid.is_empty() || kid.len() > MAX_KID_LEN || !kid.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(WebhookRejection::Malformed(
            "kid is not a short printable string",
        ));
    }
    if signature.is_empty() {
        return Err(WebhookRejection::Malformed("no signature"));
    }
    Ok(kid)
}

/// The rejection for a failure of `jsonwebtoken::decode`, which checks the signature before it
/// reads the claims.
fn rejection(kind: &JwtErrorKind) -> WebhookRejection {
    match kind {
        JwtErrorKind::InvalidSignature => WebhookRejection::BadSignature,
        JwtErrorKind::InvalidEcdsaKey | JwtErrorKind::InvalidKeyFormat => {
            WebhookRejection::UnsupportedKey
        }
        JwtErrorKind::InvalidAlgorithm
        | JwtErrorKind::InvalidAlgorithmName
        | JwtErrorKind::UnsupportedAlgorithm
        | JwtErrorKind::MissingAlgorithm => WebhookRejection::WrongAlgorithm,
        JwtErrorKind::Json(_) | JwtErrorKind::Utf8(_) => {
            WebhookRejection::Malformed("header or claims unreadable (iat, request_body_sha256)")
        }
        _ => WebhookRejection::Malformed("refused by the JWT decoder"),
    }
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// jsonwebtoken picks its crypto backend from its features; should another crate of the build
/// also enable `rust_crypto`, it could not choose and would panic on the first verification.
/// Install aws-lc-rs (the backend rustls already builds) when nothing is chosen yet.
pub(crate) fn ensure_crypto_provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then installed.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
}
