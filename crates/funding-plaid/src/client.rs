//! [`PlaidClient`]: one reqwest client (rustls) with the headers every Plaid call carries —
//! `PLAID-CLIENT-ID`, `PLAID-SECRET` (marked sensitive), `Plaid-Version` and
//! `Content-Type: application/json` — checked once when it is built. `Debug` never shows the secret.

use std::fmt;

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use crate::config::{PlaidConfig, RetryPolicy};

/// Why a [`PlaidClient`] could not be built. Never carries the secret.
#[derive(Debug, thiserror::Error)]
pub enum PlaidConfigError {
    #[error("plaid base_url is not a usable http(s) URL: {0}")]
    BaseUrl(String),
    #[error("plaid {0} is empty or not a valid HTTP header value")]
    Header(&'static str),
    #[error("plaid retry.max_attempts must be at least 1")]
    NoAttempts,
    #[error("plaid retry.base_delay must not exceed retry.max_delay")]
    Delays,
    #[error("plaid HTTP client could not be built: {0}")]
    Http(#[source] reqwest::Error),
}

/// The Plaid adapter: implements [`PlaidGateway`](funding_core::ports::PlaidGateway) and the
/// processor bank-transfer endpoints. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct PlaidClient {
    pub(crate) http: reqwest::Client,
    /// Without a trailing slash; paths are appended.
    pub(crate) base_url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) retry: RetryPolicy,
    plaid_version: String,
}

impl PlaidClient {
    /// Checks the configuration and builds the client; makes no request.
    pub fn new(config: PlaidConfig) -> Result<Self, PlaidConfigError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base_url).map_err(|e| PlaidConfigError::BaseUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
            return Err(PlaidConfigError::BaseUrl(format!(
                "scheme {} is not http(s)",
                parsed.scheme()
            )));
        }
        if config.retry.max_attempts == 0 {
            return Err(PlaidConfigError::NoAttempts);
        }
        if config.retry.base_delay > config.retry.max_delay {
            return Err(PlaidConfigError::Delays);
        }

        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("plaid-client-id"),
            header_value("client_id", &config.client_id, false)?,
        );
        headers.insert(
            HeaderName::from_static("plaid-secret"),
            header_value("secret", config.secret.expose_secret(), true)?,
        );
        headers.insert(
            HeaderName::from_static("plaid-version"),
            header_value("plaid_version", &config.plaid_version, false)?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            // Plaid never redirects; following one would resend the credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("funding-plaid/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(PlaidConfigError::Http)?;

        Ok(Self {
            http,
            base_url,
            headers,
            retry: config.retry,
            plaid_version: config.plaid_version,
        })
    }

    /// The full URL of an endpoint path such as `/accounts/get`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

fn header_value(
    field: &'static str,
    value: &str,
    sensitive: bool,
) -> Result<HeaderValue, PlaidConfigError> {
    if value.trim().is_empty() {
        return Err(PlaidConfigError::Header(field));
    }
    let mut header = HeaderValue::from_str(value).map_err(|_| PlaidConfigError::Header(field))?;
    header.set_sensitive(sensitive);
    Ok(header)
}

impl fmt::Debug for PlaidClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaidClient")
            .field("base_url", &self.base_url)
            .field("plaid_version", &self.plaid_version)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(base_url: &str, secret: &str) -> PlaidConfig {
        PlaidConfig::new(base_url, "client-1", SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_trailing_slash_on_the_base_url_is_ignored() {
        let client = PlaidClient::new(config("http://127.0.0.1:8701/", "s3cret")).unwrap();
        assert_eq!(
            client.url("/accounts/get"),
            "http://127.0.0.1:8701/accounts/get"
        );
    }

    #[test]
    fn unusable_configurations_are_refused_without_echoing_the_secret() {
        for (base_url, secret) in [
            ("not a url", "s3cret"),
            ("ftp://plaid.example", "s3cret"),
            ("https://sandbox.plaid.com", "line\nbreak-s3cret"),
            ("https://sandbox.plaid.com", " "),
        ] {
            let error = PlaidClient::new(config(base_url, secret)).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        let mut no_attempts = config("https://sandbox.plaid.com", "s");
        no_attempts.retry.max_attempts = 0;
        assert!(matches!(
            PlaidClient::new(no_attempts),
            Err(PlaidConfigError::NoAttempts)
        ));
    }

    #[test]
    fn the_secret_header_is_marked_sensitive() {
        let client = PlaidClient::new(config("https://sandbox.plaid.com", "s3cret")).unwrap();
        assert!(client.headers["plaid-secret"].is_sensitive());
        assert!(!format!("{client:?}").contains("s3cret"));
    }
}
