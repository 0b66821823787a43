//! How the adapter reaches Alpaca: the base URL, the Broker API key pair, how long one call may take,
//! how patiently failed calls are retried and how the funding event stream reconnects. The secret
//! stays a [`SecretString`] and the key id is masked in `Debug`, so a configuration can be logged.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// Alpaca's Broker API sandbox.
pub const SANDBOX_BASE_URL: &str = "https://broker-api.sandbox.alpaca.markets";
/// Alpaca's Broker API in production.
pub const PRODUCTION_BASE_URL: &str = "https://broker-api.alpaca.markets";

/// Everything [`AlpacaClient::new`](crate::AlpacaClient::new) needs.
#[derive(Clone)]
pub struct AlpacaConfig {
    /// e.g. [`SANDBOX_BASE_URL`], or the emulator's `http://127.0.0.1:8702`. A path prefix is kept.
    pub base_url: String,
    /// The Broker API key id (the Basic auth user name).
    pub key_id: String,
    /// The Broker API secret (the Basic auth password).
    pub secret: SecretString,
    /// How long one HTTP call may take, connection and body included (for the event stream: until
    /// the response headers arrive).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub stream: StreamPolicy,
}

impl AlpacaConfig {
    /// A configuration with the default timeouts and policies.
    pub fn new(
        base_url: impl Into<String>,
        key_id: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            key_id: key_id.into(),
            secret,
            ..Self::default()
        }
    }
}

impl Default for AlpacaConfig {
    /// The sandbox, with no credentials (which [`AlpacaClient::new`](crate::AlpacaClient::new) refuses).
    fn default() -> Self {
        Self {
            base_url: SANDBOX_BASE_URL.to_owned(),
            key_id: String::new(),
            secret: SecretString::from(String::new()),
            request_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            stream: StreamPolicy::default(),
        }
    }
}

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("base_url", &self.base_url)
            .field("key_id", &MaskedKeyId(&self.key_id))
            .field("secret", &"[REDACTED]")
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("stream", &self.stream)
            .finish()
    }
}

/// Shows only the last four characters of a key id, enough to tell keys apart.
pub(crate) struct MaskedKeyId<'a>(pub(crate) &'a str);

impl fmt::Debug for MaskedKeyId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 8 {
            return f.write_str("\"[REDACTED]\"");
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        write!(f, "\"…{tail}\"")
    }
}

/// How REST calls are retried: exponential backoff with jitter between `base_delay` and `max_delay`,
/// at most `max_attempts` attempts in all. Only reads and deletes are retried; a create never is
/// (see [`ERROR_CLASSES`](crate::ERROR_CLASSES)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 0 counts as 1.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest wait between attempts. A 429 asking to wait longer than this is returned to the
    /// caller at once, with its `retry_after`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// How the funding event stream stays connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPolicy {
    /// The first wait before reconnecting; doubled (with jitter) after each failed attempt and back
    /// to this after a successful connection.
    pub reconnect_base_delay: Duration,
    pub reconnect_max_delay: Duration,
    /// No byte at all (not even a `:heartbeat`) for this long means the connection is dead: reconnect.
    pub idle_timeout: Duration,
}

impl Default for StreamPolicy {
    fn default() -> Self {
        Self {
            reconnect_base_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_key_id_and_hides_the_secret() {
        let config = AlpacaConfig::new(
            SANDBOX_BASE_URL,
            "CKTESTKEYID12345WXYZ",
            SecretString::from("very-secret-value"),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(!shown.contains("CKTESTKEYID12345"), "{shown}");
        assert!(shown.contains("…WXYZ"), "{shown}");
    }

    #[test]
    fn a_short_key_id_is_not_shown_at_all() {
        assert_eq!(format!("{:?}", MaskedKeyId("ABCD")), "\"[REDACTED]\"");
    }
}
