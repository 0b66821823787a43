//! [`AlpacaClient`]: one reqwest client, the base URL and the Basic auth header, built once from an
//! [`AlpacaConfig`] and checked on the way (a URL that carries credentials, a query or no host is
//! refused; so are empty credentials). Cloning is cheap and shares the connection pool.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Url;
use reqwest::header::HeaderValue;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{AlpacaConfig, MaskedKeyId, RetryPolicy, StreamPolicy};

/// Why a configuration cannot make a client. Never echoes a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("base_url {0}")]
    InvalidBaseUrl(&'static str),
    #[error("the Alpaca key id and secret are required")]
    MissingCredentials,
    #[error("the Alpaca key id must not contain ':' or control characters")]
    InvalidKeyId,
    #[error("request_timeout must be greater than zero")]
    ZeroTimeout,
    #[error("the HTTP client cannot be built: {0}")]
    HttpClient(String),
}

/// Alpaca's Broker API over HTTP: the [`Broker`](funding_core::ports::Broker) port, plus the
/// Alpaca-shaped transfer calls it is built on ([`create_transfer`](Self::create_transfer),
/// [`list_transfers`](Self::list_transfers) (one page), [`list_all_transfers`](Self::list_all_transfers),
/// [`cancel_transfer`](Self::cancel_transfer), [`account_funds`](Self::account_funds)).
/// The inherent calls shadow the port's methods of the same names on an `AlpacaClient`: call the
/// port through `dyn Broker` (or `Broker::create_transfer(&client, …)`).
///
/// Retries ([`ERROR_CLASSES`](crate::ERROR_CLASSES)): GET and DELETE are retried on 429, 5xx,
/// timeouts, lost connections and connections never made. A POST creates something and Alpaca
/// takes no idempotency key, so the adapter sends it once and never again, whatever the failure:
/// `RateLimited` (429) and `NotProcessed` (no connection) say it was not done, `Unavailable` and
/// `Transport` that the outcome is unknown; the engine decides what next, under its claim.
#[derive(Clone)]
pub struct AlpacaClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) authorization: HeaderValue,
    pub(crate) key_id: String,
    pub(crate) secret: SecretString,
    pub(crate) request_timeout: std::time::Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) stream: StreamPolicy,
}

impl AlpacaClient {
    /// Checks the configuration and builds the HTTP client (rustls, no redirects).
    pub fn new(config: AlpacaConfig) -> Result<Self, ConfigError> {
        let base_url = parse_base_url(&config.base_url)?;
        if config.key_id.is_empty() || config.secret.expose_secret().is_empty() {
            return Err(ConfigError::MissingCredentials);
        }
        if config.key_id.chars().any(|c| c == ':' || c.is_control()) {
            return Err(ConfigError::InvalidKeyId);
        }
        if config.request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let authorization = basic_authorization(&config.key_id, &config.secret)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("funding-alpaca/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ConfigError::HttpClient(error.without_url().to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                authorization,
                key_id: config.key_id,
                secret: config.secret,
                request_timeout: config.request_timeout,
                retry: config.retry,
                stream: config.stream,
            }),
        })
    }

    /// The URL of `segments` under the base URL (each segment is percent-encoded).
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

impl fmt::Debug for AlpacaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("key_id", &MaskedKeyId(&self.inner.key_id))
            .finish_non_exhaustive()
    }
}

fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim()).map_err(|_| ConfigError::InvalidBaseUrl("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidBaseUrl("must be http or https"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::InvalidBaseUrl("must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::InvalidBaseUrl(
            "must not carry credentials; set key_id and secret instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::InvalidBaseUrl(
            "must not have a query or fragment",
        ));
    }
    Ok(url)
}

/// `Basic base64(key_id:secret)`, marked sensitive so that `http` never prints it.
fn basic_authorization(key_id: &str, secret: &SecretString) -> Result<HeaderValue, ConfigError> {
    let credentials = Zeroizing::new(format!("{key_id}:{}", secret.expose_secret()));
    let header = Zeroizing::new(format!("Basic {}", BASE64.encode(credentials.as_bytes())));
    let mut value = HeaderValue::from_str(&header).map_err(|_| ConfigError::InvalidKeyId)?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str) -> AlpacaConfig {
        AlpacaConfig::new(base_url, "CKKEYID", SecretString::from("secret"))
    }

    #[test]
    fn endpoints_keep_the_base_path_and_encode_segments() {
        let client = AlpacaClient::new(config("http://127.0.0.1:8702/alpaca/")).unwrap();
        assert_eq!(
            client.endpoint(&["v1", "accounts", "a b"]).as_str(),
            "http://127.0.0.1:8702/alpaca/v1/accounts/a%20b"
        );
        let client =
            AlpacaClient::new(config("https://broker-api.sandbox.alpaca.markets")).unwrap();
        assert_eq!(
            client.endpoint(&["v1", "accounts"]).as_str(),
            "https://broker-api.sandbox.alpaca.markets/v1/accounts"
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        for (base_url, expected) in [
            ("not a url", ConfigError::InvalidBaseUrl("is not a URL")),
            (
                "ftp://example.com",
                ConfigError::InvalidBaseUrl("must be http or https"),
            ),
            (
                "http://example.com/?a=1",
                ConfigError::InvalidBaseUrl("must not have a query or fragment"),
            ),
        ] {
            assert_eq!(AlpacaClient::new(config(base_url)).unwrap_err(), expected);
        }
        let mut no_secret = config("http://example.com");
        no_secret.secret = SecretString::from("");
        assert_eq!(
            AlpacaClient::new(no_secret).unwrap_err(),
            ConfigError::MissingCredentials
        );
        let mut bad_key = config("http://example.com");
        bad_key.key_id = "a:b".into();
        assert_eq!(
            AlpacaClient::new(bad_key).unwrap_err(),
            ConfigError::InvalidKeyId
        );
        let mut zero = config("http://example.com");
        zero.request_timeout = std::time::Duration::ZERO;
        assert_eq!(
            AlpacaClient::new(zero).unwrap_err(),
            ConfigError::ZeroTimeout
        );
    }

    #[test]
    fn a_base_url_with_credentials_is_refused_without_echoing_them() {
        let error = AlpacaClient::new(config("https://user:hunter2@broker-api.alpaca.markets"))
            .unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
    }

    #[test]
    fn the_authorization_header_is_basic_and_sensitive() {
        let value = basic_authorization("key", &SecretString::from("secret")).unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic a2V5OnNlY3JldA==");
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("a2V5"));
    }
}
