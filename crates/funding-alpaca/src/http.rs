//! One REST call to Alpaca with its retries. Each attempt sends the request with Basic auth and the
//! request timeout and reads the whole body; a non-2xx becomes a [`ProviderError`]. `backon` retries
//! with exponential backoff and jitter, honouring a 429's `Retry-After` (or `X-RateLimit-Reset`),
//! and only where a retry cannot duplicate an effect (see [`Idempotency`]).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use funding_core::ports::{ProviderError, ProviderErrorKind};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::AlpacaClient;
use crate::errors::{decode_error, http_error, transport_error};

/// Whether repeating a request may repeat its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GET, DELETE: retried on 429, 5xx and transport failures.
    Idempotent,
    /// A POST that creates: retried only on 429 and when the connection could not be opened.
    CreatesOnce,
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

/// A failed attempt, and whether the request certainly never reached Alpaca.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ProviderError,
    pub(crate) not_sent: bool,
}

impl Failure {
    /// Whether another attempt is safe and may succeed.
    pub(crate) fn retryable(&self, idempotency: Idempotency) -> bool {
        match self.error.kind {
            ProviderErrorKind::RateLimited => true,
            ProviderErrorKind::Unavailable | ProviderErrorKind::Transport => {
                idempotency == Idempotency::Idempotent || self.not_sent
            }
            _ => false,
        }
    }
}

/// The wait before the next attempt: the backoff's, or longer if a 429 asked; `None` (give up now)
/// when attempts are used up or the 429 asks for longer than `max_delay`.
pub(crate) fn next_delay(
    failure: &Failure,
    backoff: Option<Duration>,
    max_delay: Duration,
) -> Option<Duration> {
    let delay = backoff?.min(max_delay);
    match failure.error.retry_after {
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
            .when(|failure: &Failure| failure.retryable(call.idempotency))
            .adjust(|failure, backoff| next_delay(failure, backoff, policy.max_delay))
            .notify(|failure, delay| {
                tracing::warn!(
                    operation = call.operation,
                    kind = ?failure.error.kind,
                    code = %failure.error.code,
                    http_status = ?failure.error.http_status,
                    delay_ms = delay.as_millis() as u64,
                    "Alpaca call failed; retrying"
                );
            })
            .await
            .map_err(|failure| failure.error)
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, Failure> {
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
        let response = request.send().await.map_err(|error| Failure {
            // A refused connection never carried the request; a timed-out one may have.
            not_sent: error.is_connect() && !error.is_timeout(),
            error: self.transport(&error),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|error| Failure {
            not_sent: false,
            error: self.transport(&error),
        })?;
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
        Err(Failure {
            error,
            not_sent: false,
        })
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

    fn failure(kind: ProviderErrorKind, not_sent: bool) -> Failure {
        Failure {
            error: ProviderError::new(Provider::Alpaca, kind, "X", "x"),
            not_sent,
        }
    }

    #[test]
    fn idempotent_calls_retry_every_transient_failure() {
        use ProviderErrorKind::*;
        for kind in [RateLimited, Unavailable, Transport] {
            assert!(
                failure(kind, false).retryable(Idempotency::Idempotent),
                "{kind:?}"
            );
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
            assert!(
                !failure(kind, false).retryable(Idempotency::Idempotent),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_create_is_retried_only_when_alpaca_certainly_did_not_process_it() {
        use ProviderErrorKind::*;
        assert!(failure(RateLimited, false).retryable(Idempotency::CreatesOnce));
        assert!(failure(Transport, true).retryable(Idempotency::CreatesOnce));
        assert!(!failure(Transport, false).retryable(Idempotency::CreatesOnce));
        assert!(!failure(Unavailable, false).retryable(Idempotency::CreatesOnce));
        assert!(!failure(Conflict, false).retryable(Idempotency::CreatesOnce));
    }

    #[test]
    fn a_429_waits_as_long_as_asked_unless_that_is_longer_than_the_policy_allows() {
        let max = Duration::from_secs(5);
        let mut limited = failure(ProviderErrorKind::RateLimited, false);
        limited.error.retry_after = Some(Duration::from_secs(2));
        assert_eq!(
            next_delay(&limited, Some(Duration::from_millis(100)), max),
            Some(Duration::from_secs(2))
        );
        limited.error.retry_after = Some(Duration::from_secs(60));
        assert_eq!(
            next_delay(&limited, Some(Duration::from_millis(100)), max),
            None
        );
        let plain = failure(ProviderErrorKind::Unavailable, false);
        assert_eq!(
            next_delay(&plain, Some(Duration::from_secs(9)), max),
            Some(max)
        );
        assert_eq!(next_delay(&plain, None, max), None);
    }
}
