//! The emulator's webhook signing keys: real P-256 key pairs, generated at random when it starts,
//! each named by a UUID `kid`. The newest is current and signs every `Plaid-Verification` JWT;
//! rotating expires it (`expired_at` = now, still served by `/webhook_verification_key/get`) and
//! makes a new current key. Keys are served as Plaid's `JWKPublicKey`: `x` and `y` are the
//! big-endian 32-byte coordinates in base64url without padding, `created_at`/`expired_at` unix
//! seconds on the emulator clock.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Length of one P-256 coordinate.
const COORDINATE_BYTES: usize = 32;

/// One key pair: the public half as served, the private half ready for jsonwebtoken.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub kid: String,
    pub created_at: i64,
    pub expired_at: Option<i64>,
    x: String,
    y: String,
    encoding: EncodingKey,
}

impl fmt::Debug for SigningKey {
    /// The private key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("expired_at", &self.expired_at)
            .finish_non_exhaustive()
    }
}

/// `Plaid-Verification` claims.
#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    request_body_sha256: &'a str,
}

impl SigningKey {
    /// A fresh random key pair made at `now` (unix seconds).
    pub(crate) fn generate(now: i64) -> Result<Self, String> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "cannot generate a P-256 key pair".to_owned())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|error| format!("cannot read the generated P-256 key pair: {error}"))?;
        // The uncompressed SEC1 point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let (x, y) = match point.split_first() {
            Some((0x04, rest)) if rest.len() == 2 * COORDINATE_BYTES => {
                rest.split_at(COORDINATE_BYTES)
            }
            _ => return Err("unexpected P-256 public key encoding".to_owned()),
        };
        Ok(Self {
            kid: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            expired_at: None,
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        })
    }

    /// `JWKPublicKey`.
    pub(crate) fn to_jwk(&self) -> Value {
        json!({
            "alg": "ES256",
            "created_at": self.created_at,
            "crv": "P-256",
            "expired_at": self.expired_at,
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": self.x,
            "y": self.y,
        })
    }

    /// The `Plaid-Verification` JWT for `body`: header `{"alg":"ES256","kid":…,"typ":"JWT"}`,
    /// claims `{"iat", "request_body_sha256"}` (lowercase hex of the exact bytes).
    pub(crate) fn sign(
        &self,
        body: &[u8],
        iat: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let hash = hex::encode(Sha256::digest(body));
        let claims = Claims {
            iat,
            request_body_sha256: &hash,
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }
}

/// Every key made so far, oldest first; the last is current.
#[derive(Debug)]
pub(crate) struct WebhookKeys {
    keys: Vec<SigningKey>,
    current: SigningKey,
}

impl WebhookKeys {
    pub(crate) fn generate(now: i64) -> Result<Self, String> {
        Ok(Self {
            keys: Vec::new(),
            current: SigningKey::generate(now)?,
        })
    }

    /// The key that signs webhooks now.
    pub(crate) fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Any key ever made, by `kid`.
    pub(crate) fn find(&self, kid: &str) -> Option<&SigningKey> {
        std::iter::once(&self.current)
            .chain(self.keys.iter())
            .find(|key| key.kid == kid)
    }

    /// Expires the current key at `now` and makes a new current one; returns the new `kid`.
    pub(crate) fn rotate(&mut self, now: i64) -> Result<String, String> {
        let fresh = SigningKey::generate(now)?;
        let mut old = std::mem::replace(&mut self.current, fresh);
        old.expired_at = Some(now);
        self.keys.push(old);
        Ok(self.current.kid.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn a_signed_token_verifies_with_the_served_coordinates() {
        let key = SigningKey::generate(1_700_000_000).unwrap();
        let jwk = key.to_jwk();
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        let token = key.sign(b"{}", 1_700_000_001).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let decoding =
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["iat"], 1_700_000_001);
        assert_eq!(
            data.claims["request_body_sha256"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn rotation_expires_the_old_key_and_keeps_it_findable() {
        let mut keys = WebhookKeys::generate(10).unwrap();
        let old = keys.current().kid.clone();
        let new = keys.rotate(20).unwrap();
        assert_ne!(old, new);
        assert_eq!(keys.current().kid, new);
        assert_eq!(keys.find(&old).unwrap().expired_at, Some(20));
        assert_eq!(keys.find(&new).unwrap().expired_at, None);
        assert!(keys.find("nope").is_none());
    }
}
