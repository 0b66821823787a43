//! One REST call to Alpaca with its retries. Each attempt sends the request with Basic auth and the
//! request timeout and reads the whole body; a non-2xx becomes a [`ProviderError`]. `backon` retries
//! reads with exponential backoff and jitter, honouring a 429's `Retry-After` (or
//! `X-RateLimit-Reset`); a create is never retried here (see [`Idempotency`] and the table of
//! [`crate::error_classes`]).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use funding_core::ports::{ProviderError, ProviderErrorKind};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::AlpacaClient;
use crate::error_classes::retried;
use crate::errors::{decode_error, http_error, transport_error};

/// Whether repeating a request may repeat its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GET, DELETE: retried on 429, 5xx, timeouts, lost connections and connections never made.
    Idempotent,
    /// A POST that creates, without an idempotency key at Alpaca: sent once, never retried by the
    /// adapter, whatever the failure. Only the engine sends it again, under a live claim and after
    /// looking the resource up when the outcome is unknown (DESIGN §9).
    CreatesOnce,
}

impl Idempotency {
    /// Whether a failure of `kind` is tried again.
    pub(crate) fn retries(self, kind: ProviderErrorKind) -> bool {
        retried(kind, self == Self::CreatesOnce)
    }
}

/// One request to send.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// A JSON body, already serialized (it may hold a processor token: never logged).
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) idempotency: Idempotency,
    /// For logs and decode errors, e.g. `create ACH relationship`.
    pub(crate) operation: &'static str,
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as `T`, or a `Decode` error naming `what`.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|error| decode_error(self.status, what, &error))
    }
}

/// The wait before the next attempt: the backoff's, or longer if a 429 asked; `None` (give up now)
/// when attempts are used up or the 429 asks for longer than `max_delay`.
pub(crate) fn next_delay(
    error: &ProviderError,
    backoff: Option<Duration>,
    max_delay: Duration,
) -> Option<Duration> {
    let delay = backoff?.min(max_delay);
    match error.retry_after {
        Some(asked) if asked > max_delay => None,
        Some(asked) => Some(delay.max(asked)),
        None => Some(delay),
    }
}

/// A request body as JSON bytes.
pub(crate) fn encode_body<T: Serialize>(body: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(|error| {
        ProviderError::new(
            funding_core::ports::Provider::Alpaca,
            ProviderErrorKind::InvalidRequest,
            "ENCODE",
            format!("could not encode the request body: {error}"),
        )
    })
}

impl AlpacaClient {
    /// Sends `call`, retrying as its idempotency allows; a 2xx answer or the last error.
    pub(crate) async fn send(&self, call: Call) -> Result<Answer, ProviderError> {
        let policy = self.inner.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.base_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let call = &call;
        (|| self.attempt(call))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|error: &ProviderError| call.idempotency.retries(error.kind))
            .adjust(|error, backoff| next_delay(error, backoff, policy.max_delay))
            .notify(|error, delay| {
                tracing::warn!(
                    operation = call.operation,
                    kind = ?error.kind,
                    code = %error.code,
                    http_status = ?error.http_status,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "Alpaca call failed; retrying"
                );
            })
            .await
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, ProviderError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .timeout(inner.request_timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport(&error))?;
        if status.is_success() {
            return Ok(Answer {
                status,
                body: body.to_vec(),
            });
        }
        let error = http_error(status, &headers, &body, &self.credentials());
        tracing::debug!(
            operation = call.operation,
            http_status = status.as_u16(),
            code = %error.code,
            "Alpaca refused the call"
        );
        Err(error)
    }

    pub(crate) fn transport(&self, error: &reqwest::Error) -> ProviderError {
        transport_error(error, &self.credentials())
    }

    pub(crate) fn credentials(&self) -> [&str; 2] {
        use secrecy::ExposeSecret;
        [
            self.inner.secret.expose_secret(),
            self.inner.key_id.as_str(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use funding_core::ports::Provider;

    fn error(kind: ProviderErrorKind) -> ProviderError {
        ProviderError::new(Provider::Alpaca, kind, "X", "x")
    }

    #[test]
    fn reads_retry_every_failure_another_attempt_may_cure() {
        use ProviderErrorKind::*;
        for kind in [RateLimited, Unavailable, Transport, NotProcessed] {
            assert!(Idempotency::Idempotent.retries(kind), "{kind:?}");
        }
        for kind in [
            InvalidRequest,
            InvalidInput,
            NotFound,
            Conflict,
            Forbidden,
            Unauthorized,
            Decode,
        ] {
            assert!(!Idempotency::Idempotent.retries(kind), "{kind:?}");
        }
    }

    #[test]
    fn a_create_is_never_retried_by_the_adapter() {
        use ProviderErrorKind::*;
        for kind in [
            RateLimited,
            Unavailable,
            Transport,
            NotProcessed,
            InvalidRequest,
            InvalidInput,
            NotFound,
            Conflict,
            Forbidden,
            Unauthorized,
            Decode,
        ] {
            assert!(!Idempotency::CreatesOnce.retries(kind), "{kind:?}");
        }
    }

    #[test]
    fn a_429_waits_as_long_as_asked_unless_that_is_longer_than_the_policy_allows() {
        let max = Duration::from_secs(5);
        let mut limited = error(ProviderErrorKind::RateLimited);
        limited.retry_after = Some(Duration::from_secs(2));
        assert_eq!(
            next_delay(&limited, Some(Duration::from_millis(100)), max),
            Some(Duration::from_secs(2))
        );
        limited.retry_after = Some(Duration::from_secs(60));
        assert_eq!(
            next_delay(&limited, Some(Duration::from_millis(100)), max),
            None
        );
        let plain = error(ProviderErrorKind::Unavailable);
        assert_eq!(
            next_delay(&plain, Some(Duration::from_secs(9)), max),
            Some(max)
        );
        assert_eq!(next_delay(&plain, None, max), None);
    }
}
