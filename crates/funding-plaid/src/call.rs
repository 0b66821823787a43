//! One Plaid call: `POST <base_url><path>` with the JSON body serialized once, repeated with
//! exponential backoff and jitter (backon) while the failure is worth repeating — what Plaid did
//! not process (`PLANNED_MAINTENANCE`, rate limiting, a connection never made) on any endpoint,
//! 500/502/503/504, timeouts and lost connections only on endpoints safe to repeat (see
//! [`crate::error_classes`]) — and logged with Plaid's `request_id`, never with the body. When the
//! attempts are used up, the last error is returned with its kind.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::field::Empty;

use crate::client::PlaidClient;
use crate::config::RetryPolicy;
use crate::failure::{AttemptFailure, Retry, describe_json_error, retry_after};

/// A Plaid endpoint and whether repeating a request whose outcome is unknown is harmless.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    pub path: &'static str,
    /// Reads, processor tokens and creates carrying an idempotency key: repeat on 5xx and timeouts.
    /// Otherwise only failures where Plaid surely did nothing (`PLANNED_MAINTENANCE`, rate
    /// limiting, no connection) are repeated.
    pub idempotent: bool,
}

/// A successful answer and the `request_id` it carried.
struct Answer<T> {
    value: T,
    request_id: Option<String>,
}

/// Every Plaid response carries `request_id`; read it apart from the typed body.
#[derive(serde::Deserialize)]
struct RequestIdProbe {
    request_id: Option<String>,
}

impl PlaidClient {
    /// Sends `request` to `endpoint` with retries and reads the answer as `Resp`.
    #[tracing::instrument(
        name = "plaid.call",
        skip_all,
        fields(endpoint = endpoint.path, attempts = Empty, request_id = Empty)
    )]
    pub(crate) async fn call<Req, Resp>(
        &self,
        endpoint: Endpoint,
        request: &Req,
    ) -> Result<Resp, ProviderError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|_| {
            ProviderError::new(
                Provider::Plaid,
                ProviderErrorKind::InvalidRequest,
                "REQUEST_ENCODING",
                format!("the {} request could not be encoded", endpoint.path),
            )
        })?;
        let policy = self.retry;
        let attempts = AtomicU32::new(0);
        let outcome = (|| {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            self.attempt::<Resp>(endpoint, &body, attempt)
        })
        .retry(backoff(policy))
        .when(|failure: &AttemptFailure| match failure.retry {
            Retry::Never => false,
            Retry::Always => true,
            Retry::IfIdempotent => endpoint.idempotent,
        })
        .adjust(|failure: &AttemptFailure, next| {
            next.map(|delay| wait(policy, delay, failure.error.retry_after))
        })
        .notify(|failure: &AttemptFailure, delay: Duration| {
            tracing::warn!(
                code = %failure.error.code,
                kind = ?failure.error.kind,
                request_id = failure.error.request_id.as_deref(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "plaid call failed; retrying"
            );
        })
        .await;

        let span = tracing::Span::current();
        span.record("attempts", attempts.load(Ordering::Relaxed));
        match outcome {
            Ok(answer) => {
                if let Some(request_id) = &answer.request_id {
                    span.record("request_id", request_id.as_str());
                }
                tracing::info!(
                    request_id = answer.request_id.as_deref(),
                    "plaid call succeeded"
                );
                Ok(answer.value)
            }
            Err(failure) => {
                let error = failure.error;
                if let Some(request_id) = &error.request_id {
                    span.record("request_id", request_id.as_str());
                }
                tracing::warn!(
                    code = %error.code,
                    kind = ?error.kind,
                    http_status = error.http_status,
                    request_id = error.request_id.as_deref(),
                    plaid_message = %error.message,
                    "plaid call failed"
                );
                Err(error)
            }
        }
    }

    #[tracing::instrument(
        name = "plaid.attempt",
        skip_all,
        fields(endpoint = endpoint.path, attempt = attempt, http_status = Empty, request_id = Empty)
    )]
    async fn attempt<Resp: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        attempt: u32,
    ) -> Result<Answer<Resp>, AttemptFailure> {
        let span = tracing::Span::current();
        let response = self
            .http
            .post(self.url(endpoint.path))
            .headers(self.headers.clone())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| AttemptFailure::transport(endpoint.path, &e))?;
        let status = response.status();
        span.record("http_status", status.as_u16());
        let retry_after = retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AttemptFailure::transport(endpoint.path, &e))?;
        let request_id = serde_json::from_slice::<RequestIdProbe>(&bytes)
            .ok()
            .and_then(|probe| probe.request_id);
        if let Some(request_id) = &request_id {
            span.record("request_id", request_id.as_str());
        }

        if !status.is_success() {
            return Err(AttemptFailure::from_answer(
                endpoint.path,
                status,
                retry_after,
                &bytes,
            ));
        }
        match serde_json::from_slice::<Resp>(&bytes) {
            Ok(value) => Ok(Answer { value, request_id }),
            Err(error) => Err(AttemptFailure::undecodable(
                endpoint.path,
                status,
                request_id,
                &describe_json_error(&error),
            )),
        }
    }
}

/// Exponential backoff from `base_delay`, doubling, with jitter, for `max_attempts - 1` retries.
fn backoff(policy: RetryPolicy) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(
            usize::try_from(policy.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX),
        )
        .with_jitter()
}

/// The wait before the next attempt: the backoff's, or longer when Plaid asked for it, never more
/// than `max_delay` (jitter included).
fn wait(policy: RetryPolicy, backoff: Duration, retry_after: Option<Duration>) -> Duration {
    backoff
        .max(retry_after.unwrap_or_default())
        .min(policy.max_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_honour_retry_after_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        let ms = Duration::from_millis;
        assert_eq!(wait(policy, ms(100), None), ms(100));
        assert_eq!(wait(policy, ms(100), Some(ms(1000))), ms(1000));
        assert_eq!(
            wait(policy, ms(100), Some(Duration::from_secs(60))),
            ms(2000)
        );
        assert_eq!(wait(policy, ms(3900), None), ms(2000));
    }

    #[test]
    fn the_backoff_allows_max_attempts_minus_one_retries() {
        use backon::BackoffBuilder;
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        assert_eq!(backoff(policy).build().count(), 3);
        assert_eq!(backoff(RetryPolicy::no_retry()).build().count(), 0);
    }
}
