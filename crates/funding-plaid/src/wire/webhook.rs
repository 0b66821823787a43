//! `/webhook_verification_key/get`: the request by key id and Plaid's `JWKPublicKey` answer, read
//! into the core port's [`WebhookVerificationKey`]. Fields Plaid adds to the JWK later are ignored.

use funding_core::ports::WebhookVerificationKey;
use serde::{Deserialize, Serialize};

/// `WebhookVerificationKeyGetRequest`.
#[derive(Debug, Serialize)]
pub(crate) struct WebhookVerificationKeyGetRequest<'a> {
    pub key_id: &'a str,
}

/// `WebhookVerificationKeyGetResponse`.
#[derive(Deserialize)]
pub(crate) struct WebhookVerificationKeyGetResponse {
    pub key: JwkPublicKey,
}

/// `JWKPublicKey`: every field required, `expired_at` nullable.
#[derive(Deserialize)]
pub(crate) struct JwkPublicKey {
    pub alg: String,
    pub crv: String,
    pub kid: String,
    pub kty: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub x: String,
    pub y: String,
    pub created_at: i64,
    #[serde(default)]
    pub expired_at: Option<i64>,
}

impl From<JwkPublicKey> for WebhookVerificationKey {
    fn from(key: JwkPublicKey) -> Self {
        Self {
            alg: key.alg,
            crv: key.crv,
            kid: key.kid,
            kty: key.kty,
            key_use: key.key_use,
            x: key.x,
            y: key.y,
            created_at: key.created_at,
            expired_at: key.expired_at,
        }
    }
}
