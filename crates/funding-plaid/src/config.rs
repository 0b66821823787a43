//! How a [`PlaidClient`](crate::PlaidClient) reaches Plaid: the base URL, the credentials, the API
//! version header, the per-request timeout and the [`RetryPolicy`]. `Debug` shows everything but the
//! secret.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// Plaid's sandbox environment.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.plaid.com";
/// Plaid's production environment.
pub const PRODUCTION_BASE_URL: &str = "https://production.plaid.com";
/// The API version this adapter speaks (sent as `Plaid-Version`); its wire format is the official
/// `2020-09-14.yml` spec.
pub const PLAID_VERSION: &str = "2020-09-14";

/// Everything the client needs to reach Plaid.
#[derive(Clone)]
pub struct PlaidConfig {
    /// `https://sandbox.plaid.com`, `https://production.plaid.com`, or the emulator's address.
    pub base_url: String,
    /// Sent as `PLAID-CLIENT-ID`.
    pub client_id: String,
    /// Sent as `PLAID-SECRET`; never printed.
    pub secret: SecretString,
    /// Sent as `Plaid-Version`; [`PLAID_VERSION`] unless told otherwise.
    pub plaid_version: String,
    /// How long one attempt may take, connection included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl PlaidConfig {
    /// A configuration for `base_url` with the default version, timeout and retry policy.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            client_id: client_id.into(),
            secret,
            plaid_version: PLAID_VERSION.to_owned(),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// A configuration for Plaid's sandbox.
    pub fn sandbox(client_id: impl Into<String>, secret: SecretString) -> Self {
        Self::new(SANDBOX_BASE_URL, client_id, secret)
    }

    /// A configuration for Plaid's production environment.
    pub fn production(client_id: impl Into<String>, secret: SecretString) -> Self {
        Self::new(PRODUCTION_BASE_URL, client_id, secret)
    }

    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
}

impl fmt::Debug for PlaidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaidConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("secret", &"[REDACTED]")
            .field("plaid_version", &self.plaid_version)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Exponential backoff with jitter for the failures worth another try (see
/// [`ERROR_CLASSES`](crate::ERROR_CLASSES)). Each wait is at most `max_delay`, a `Retry-After` the
/// provider sent included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1 (1 means no retry).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles on each further retry, plus jitter.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub const fn no_retry() -> Self {
        Self {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }
}

impl Default for RetryPolicy {
    /// Three attempts, waiting about 250 ms then 500 ms (with jitter), never more than 5 s at once.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_debug_hides_the_secret() {
        let config = PlaidConfig::sandbox("client-1", SecretString::from("very-secret-value"));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert!(shown.contains("client-1"));
    }

    #[test]
    fn defaults_speak_the_2020_09_14_api_and_retry() {
        let config = PlaidConfig::production("c", SecretString::from("s"));
        assert_eq!(config.base_url, PRODUCTION_BASE_URL);
        assert_eq!(config.plaid_version, "2020-09-14");
        assert!(config.retry.max_attempts > 1);
        assert!(config.retry.base_delay <= config.retry.max_delay);
    }
}
