//! [`WebhookVerifier`]: checks that a webhook really comes from Plaid and carries the body Plaid
//! signed, as Plaid's webhook-verification guide says.
//!
//! 1. The `Plaid-Verification` header ([`VERIFICATION_HEADER`]) holds a JWT. Its JOSE header is
//!    read without verifying anything; `alg` must be exactly `ES256` (`none`, `HS256`, `RS256`,
//!    `es256`… are refused before any key is looked at) and a `kid` must be given.
//! 2. The key for that `kid` comes from `/webhook_verification_key/get` through the core's
//!    [`BankTransferGateway`] port and is cached by `kid` (at most
//!    [`max_cached_keys`](WebhookVerifierConfig::max_cached_keys), each refetched once older than
//!    [`key_refresh_after`](WebhookVerifierConfig::key_refresh_after), so an expiry Plaid sets later
//!    is learned; should that refetch fail, the webhook is refused as a transient failure rather
//!    than trusting a copy that may have expired since). A key whose `expired_at` is set is
//!    refused, cached or not; so is a key that is not `kty: EC`, `crv: P-256`, `alg: ES256`,
//!    `use: sig`. A `kid` Plaid does not know is remembered as unknown for
//!    [`unknown_key_ttl`](WebhookVerifierConfig::unknown_key_ttl), so a flood of made-up kids does
//!    not become a flood of Plaid calls (nor evicts Plaid's keys). One fetch runs at a time, and
//!    waiting for it and the fetch itself are bounded by
//!    [`key_fetch_timeout`](WebhookVerifierConfig::key_fetch_timeout).
//! 3. The signature is verified with `jsonwebtoken` (ES256 on P-256). No `exp` is required.
//! 4. `iat` is checked against the injected [`Clock`]: refused when older than
//!    [`max_age`](WebhookVerifierConfig::max_age) (5 minutes, Plaid's rule) or more than
//!    [`max_future_skew`](WebhookVerifierConfig::max_future_skew) (30 seconds: clocks drift a
//!    little, never minutes) ahead.
//! 5. The SHA-256 of the raw body, lowercase hex, must equal the signed `request_body_sha256`,
//!    compared in constant time. The hash covers the exact bytes received, whitespace included.
//!
//! A refusal is a [`WebhookRejection`] naming why, for logs and metrics only: the HTTP layer answers
//! 401 whatever the reason (or, for [`WebhookRejection::is_transient`], may choose a 5xx so that
//! Plaid sends the webhook again). Nothing is cached from a webhook that fails, except what Plaid
//! itself said about a `kid`.
//!
//! Verifying needs a Tokio runtime (the key fetch is bounded with `tokio::time::timeout`).
//!
//! The checks of one token are in `token.rs`; this file holds the verifier and its key cache.

mod token;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use funding_core::ports::{BankTransferGateway, Clock, Provider, ProviderError, ProviderErrorKind};
use jsonwebtoken::Validation;

pub(crate) use token::{
    VerifyingKey, check_token, ensure_crypto_provider, signing_kid, validation,
};

/// The header Plaid's JWT travels in (HTTP header names are case-insensitive).
pub const VERIFICATION_HEADER: &str = "plaid-verification";

/// Plaid's JWTs are a few hundred bytes; anything much longer is not one.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Plaid's error code for a `key_id` it does not know.
const UNKNOWN_KEY_CODE: &str = "INVALID_WEBHOOK_VERIFICATION_KEY_ID";

/// How strict the verifier is and how it caches keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookVerifierConfig {
    /// The oldest `iat` accepted: 5 minutes, as Plaid's guide says.
    pub max_age: Duration,
    /// How far in the future an `iat` may be (clock skew between Plaid and us): 30 seconds.
    pub max_future_skew: Duration,
    /// A cached key older than this is fetched again before it is used, so an `expired_at` Plaid
    /// has set since is learned: 5 minutes.
    pub key_refresh_after: Duration,
    /// How long a `kid` Plaid said it does not know is refused without asking again: 1 minute.
    pub unknown_key_ttl: Duration,
    /// The most kids kept (known and unknown alike; unknown ones are evicted first): 32.
    pub max_cached_keys: usize,
    /// The longest a verification waits for a key (for another fetch to finish, then for its
    /// own), Plaid's retries included: 5 seconds. Plaid gives a webhook receiver 10.
    pub key_fetch_timeout: Duration,
}

impl Default for WebhookVerifierConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(5 * 60),
            max_future_skew: Duration::from_secs(30),
            key_refresh_after: Duration::from_secs(5 * 60),
            unknown_key_ttl: Duration::from_secs(60),
            max_cached_keys: 32,
            key_fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a webhook was refused. For logs and metrics ([`as_str`](Self::as_str) is a stable label);
/// never sent back to the caller of the webhook endpoint. Carries nothing the sender chose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// No `Plaid-Verification` header, or an empty one.
    #[error("the webhook has no Plaid-Verification header")]
    MissingHeader,
    /// The header is not a JWT this verifier can read; says which part is wrong.
    #[error("the Plaid-Verification header is malformed: {0}")]
    Malformed(&'static str),
    /// The JWT's `alg` is not exactly `ES256`.
    #[error("the webhook JWT is not signed with ES256")]
    WrongAlgorithm,
    /// Plaid knows no key with the JWT's `kid`.
    #[error("Plaid knows no webhook verification key with this kid")]
    UnknownKey,
    /// The key has an `expired_at`.
    #[error("the webhook verification key has expired")]
    ExpiredKey,
    /// The key is not an EC P-256 ES256 signing key (or its coordinates are not 32-byte
    /// base64url values).
    #[error("the webhook verification key is not an EC P-256 ES256 signing key")]
    UnsupportedKey,
    /// The signature does not verify with the key.
    #[error("the webhook signature does not verify")]
    BadSignature,
    /// `iat` is older than the allowed age.
    #[error("the webhook JWT is older than allowed")]
    Stale,
    /// `iat` is further in the future than the allowed skew.
    #[error("the webhook JWT was issued in the future")]
    IssuedInFuture,
    /// The body's SHA-256 is not the signed `request_body_sha256`.
    #[error("the webhook body does not match its signed hash")]
    BodyMismatch,
    /// The key could not be fetched; [`is_transient`](Self::is_transient) tells whether Plaid (or
    /// the way to it) was down, so a retry later may succeed.
    #[error("the webhook verification key could not be fetched: {0}")]
    KeyFetchFailed(ProviderError),
}

impl WebhookRejection {
    /// Whether the webhook was refused only because its key could not be fetched for now (Plaid
    /// rate limiting, failing or unreachable, or the fetch timing out). The caller may answer a
    /// 5xx so that Plaid sends the webhook again, or 401 anyway.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::KeyFetchFailed(error) if error.is_retryable())
    }

    /// A short, stable label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::Malformed(_) => "malformed",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::ExpiredKey => "expired_key",
            Self::UnsupportedKey => "unsupported_key",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::IssuedInFuture => "issued_in_future",
            Self::BodyMismatch => "body_mismatch",
            Self::KeyFetchFailed(_) => "key_fetch_failed",
        }
    }
}

/// Verifies Plaid's webhooks (see the [module](self) for the rules). Share one per process: the
/// key cache lives in it.
pub struct WebhookVerifier {
    gateway: Arc<dyn BankTransferGateway>,
    clock: Arc<dyn Clock>,
    config: WebhookVerifierConfig,
    validation: Validation,
    keys: Mutex<HashMap<String, CachedKey>>,
    /// Held while a key is fetched, so concurrent webhooks for a new kid cause one fetch.
    fetching: tokio::sync::Mutex<()>,
}

/// What is known about a kid, and since when (by the injected clock).
struct CachedKey {
    fetched_at: DateTime<Utc>,
    /// Fetched again before its next use: a key Plaid knew was seen for the first time since
    /// (Plaid rotated), so this one may have been expired meanwhile.
    stale: bool,
    /// `None`: Plaid said it knows no such key.
    key: Option<Arc<VerifyingKey>>,
}

impl WebhookVerifier {
    /// A verifier with the [default](WebhookVerifierConfig::default) rules.
    pub fn new(gateway: Arc<dyn BankTransferGateway>, clock: Arc<dyn Clock>) -> Self {
        Self::with_config(gateway, clock, WebhookVerifierConfig::default())
    }

    /// A verifier with the given rules.
    pub fn with_config(
        gateway: Arc<dyn BankTransferGateway>,
        clock: Arc<dyn Clock>,
        config: WebhookVerifierConfig,
    ) -> Self {
        ensure_crypto_provider();
        Self {
            gateway,
            clock,
            config,
            validation: validation(),
            keys: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> &WebhookVerifierConfig {
        &self.config
    }

    /// Verifies one webhook: `verification` is the `Plaid-Verification` header's value (`None`
    /// when absent), `body` the raw request body exactly as received.
    pub async fn verify(
        &self,
        verification: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookRejection> {
        let token = verification
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(WebhookRejection::MissingHeader)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(WebhookRejection::Malformed("longer than any Plaid JWT"));
        }
        let kid = signing_kid(token)?;
        let key = self.key(&kid).await?;
        check_token(
            token,
            &key,
            &self.validation,
            &self.config,
            self.clock.now().timestamp(),
            body,
        )
    }

    /// The key for `kid`: from the cache while fresh, else from Plaid (one fetch at a time).
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, WebhookRejection> {
        if let Some(known) = self.cached(kid) {
            return known;
        }
        let fetch = async {
            let _fetching = self.fetching.lock().await;
            // Another webhook may have fetched it while this one waited.
            if let Some(known) = self.cached(kid) {
                return known;
            }
            self.fetch(kid).await
        };
        tokio::time::timeout(self.config.key_fetch_timeout, fetch)
            .await
            .unwrap_or_else(|_| {
                Err(WebhookRejection::KeyFetchFailed(ProviderError::new(
                    Provider::Plaid,
                    ProviderErrorKind::Transport,
                    "TIMEOUT",
                    "fetching the webhook verification key took too long",
                )))
            })
    }

    /// What the cache says about `kid`, when it is fresh enough to be believed.
    fn cached(&self, kid: &str) -> Option<Result<Arc<VerifyingKey>, WebhookRejection>> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = keys.get(kid)?;
        let age = self.clock.now().signed_duration_since(entry.fetched_at);
        let limit = match entry.key {
            Some(_) => self.config.key_refresh_after,
            None => self.config.unknown_key_ttl,
        };
        // A clock that went backwards makes the entry stale too.
        let fresh = !entry.stale
            && age >= chrono::TimeDelta::zero()
            && age.to_std().is_ok_and(|age| age <= limit);
        fresh.then(|| entry.key.clone().ok_or(WebhookRejection::UnknownKey))
    }

    async fn fetch(&self, kid: &str) -> Result<Arc<VerifyingKey>, WebhookRejection> {
        match self.gateway.webhook_verification_key(kid).await {
            Ok(jwk) if jwk.kid == kid => {
                let key = Arc::new(VerifyingKey::from_jwk(&jwk));
                tracing::info!(
                    kid = ?kid,
                    expired = key.expired,
                    usable = key.decoding.is_some(),
                    "fetched a plaid webhook verification key"
                );
                if !key.expired {
                    self.suspect_the_others(kid);
                }
                self.remember(kid, Some(key.clone()));
                Ok(key)
            }
            Ok(_) => Err(WebhookRejection::KeyFetchFailed(ProviderError::new(
                Provider::Plaid,
                ProviderErrorKind::Decode,
                "KEY_ID_MISMATCH",
                "/webhook_verification_key/get answered a key with another kid",
            ))),
            Err(error)
                if error.kind == ProviderErrorKind::NotFound
                    || (error.kind == ProviderErrorKind::InvalidInput
                        && error.code == UNKNOWN_KEY_CODE) =>
            {
                self.remember(kid, None);
                Err(WebhookRejection::UnknownKey)
            }
            Err(error) => Err(WebhookRejection::KeyFetchFailed(error)),
        }
    }

    /// A current key Plaid had not shown before means Plaid may have rotated: every other cached
    /// key is fetched again before its next use, so one Plaid expired is refused from then on (as
    /// Plaid's own verification samples do), not only once its cache entry ages out.
    fn suspect_the_others(&self, kid: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.get(kid).is_some_and(|entry| entry.key.is_some()) {
            return;
        }
        for (other, entry) in keys.iter_mut() {
            if other != kid && entry.key.as_ref().is_some_and(|key| !key.expired) {
                entry.stale = true;
            }
        }
    }

    /// Caches what Plaid said about `kid`, evicting (unknown kids first, then the oldest) to stay
    /// within `max_cached_keys`.
    fn remember(&self, kid: &str, key: Option<Arc<VerifyingKey>>) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = self.config.max_cached_keys.max(1);
        while !keys.contains_key(kid) && keys.len() >= limit {
            let evicted = keys
                .iter()
                .min_by_key(|(_, entry)| (entry.key.is_some(), entry.fetched_at))
                .map(|(evicted, _)| evicted.clone());
            match evicted {
                Some(evicted) => keys.remove(&evicted),
                None => break,
            };
        }
        keys.insert(
            kid.to_owned(),
            CachedKey {
                fetched_at: self.clock.now(),
                stale: false,
                key,
            },
        );
    }
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("WebhookVerifier")
            .field("config", &self.config)
            .field("cached_keys", &cached)
            .finish_non_exhaustive()
    }
}
