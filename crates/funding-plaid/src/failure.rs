//! What one failed attempt was, as a [`ProviderError`] plus whether another attempt may help: an
//! error answer from Plaid, a body we cannot read, or no answer at all. How each is classed and
//! retried is tabled in [`crate::error_classes`]. Messages are built from the endpoint, the HTTP
//! status and Plaid's own code and message, never from what we sent.

use std::time::{Duration, SystemTime};

use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::api_error::PlaidApiError;

/// Whether a failed attempt is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// No: the answer is final (most 4xx, unreadable 2xx, a 5xx such as 501 that no retry cures).
    Never,
    /// Yes, on any endpoint, a single-use one too: Plaid did not process the request
    /// (`PLANNED_MAINTENANCE`, rate limiting, a connection never made).
    Always,
    /// Only on an endpoint safe to repeat: the request may have taken effect (500/502/503/504,
    /// timeout, connection lost mid-way).
    IfIdempotent,
}

impl Retry {
    /// How a failure of `kind` (with the HTTP status it came with, if any) is retried.
    pub(crate) fn for_failure(kind: ProviderErrorKind, http_status: Option<u16>) -> Self {
        match kind {
            ProviderErrorKind::NotProcessed | ProviderErrorKind::RateLimited => Self::Always,
            ProviderErrorKind::Unavailable
                if matches!(http_status, Some(500 | 502 | 503 | 504)) =>
            {
                Self::IfIdempotent
            }
            ProviderErrorKind::Transport => Self::IfIdempotent,
            _ => Self::Never,
        }
    }
}

/// One failed attempt.
#[derive(Debug)]
pub(crate) struct AttemptFailure {
    pub error: ProviderError,
    pub retry: Retry,
}

impl AttemptFailure {
    /// A non-2xx answer: Plaid's error object when the body is one, else a code from the status.
    pub fn from_answer(
        endpoint: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let error = match PlaidApiError::from_body(body) {
            Some(api_error) => api_error.into_provider_error(status.as_u16(), retry_after),
            None => unreadable_error_body(endpoint, status, retry_after),
        };
        let retry = Retry::for_failure(error.kind, Some(status.as_u16()));
        Self { error, retry }
    }

    /// No answer. A connection that could not be opened (refused, no such host, TLS refused) never
    /// carried the request: `NotProcessed`, code `CONNECTION_FAILED`. A timeout (one while
    /// connecting too: it cannot be told from the request's) or a connection lost after sending
    /// leaves the outcome unknown: `Transport`, code `TIMEOUT` or `TRANSPORT`.
    pub fn transport(endpoint: &str, error: &reqwest::Error) -> Self {
        let (kind, code, what) = if error.is_timeout() {
            (ProviderErrorKind::Transport, "TIMEOUT", "timed out")
        } else if error.is_connect() {
            (
                ProviderErrorKind::NotProcessed,
                "CONNECTION_FAILED",
                "could not connect: the request was not sent",
            )
        } else {
            (
                ProviderErrorKind::Transport,
                "TRANSPORT",
                "failed in transit",
            )
        };
        let error = ProviderError::new(
            Provider::Plaid,
            kind,
            code,
            format!("POST {endpoint} {what}"),
        );
        Self {
            retry: Retry::for_failure(kind, None),
            error,
        }
    }

    /// A 2xx answer we could not read as the endpoint's response.
    pub fn undecodable(
        endpoint: &str,
        status: StatusCode,
        request_id: Option<String>,
        why: &str,
    ) -> Self {
        let mut error = decode_error(endpoint, status, why);
        error.request_id = request_id;
        Self {
            error,
            retry: Retry::Never,
        }
    }
}

/// A `Decode` error for `endpoint`, code `HTTP_<status>`.
pub(crate) fn decode_error(endpoint: &str, status: StatusCode, why: &str) -> ProviderError {
    let mut error = ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::Decode,
        http_code(status),
        format!("the {endpoint} response could not be read: {why}"),
    );
    error.http_status = Some(status.as_u16());
    error
}

/// A non-2xx answer whose body is not Plaid's error object (a proxy's HTML page, an empty body).
/// A 5xx or 429 keeps its meaning; anything else is an answer we cannot read.
fn unreadable_error_body(
    endpoint: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
) -> ProviderError {
    let kind = match status.as_u16() {
        429 => ProviderErrorKind::RateLimited,
        500..=599 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Decode,
    };
    let mut error = ProviderError::new(
        Provider::Plaid,
        kind,
        http_code(status),
        format!(
            "POST {endpoint} answered HTTP {} without a Plaid error object",
            status.as_u16()
        ),
    );
    error.http_status = Some(status.as_u16());
    error.retry_after = retry_after;
    error
}

fn http_code(status: StatusCode) -> String {
    format!("HTTP_{}", status.as_u16())
}

/// The `Retry-After` header: delay-seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A short reason from a serde error that cannot echo a value: the missing field's name, or only
/// where reading failed.
pub(crate) fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        format!(
            "unexpected {} at line {} column {}",
            match error.classify() {
                serde_json::error::Category::Data => "value",
                serde_json::error::Category::Eof => "end of body",
                serde_json::error::Category::Syntax | serde_json::error::Category::Io => "syntax",
            },
            error.line(),
            error.column()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let parsed = retry_after(&headers(&later)).unwrap();
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn a_non_json_error_body_keeps_the_meaning_of_its_status() {
        for (status, kind, retry) in [
            (502, ProviderErrorKind::Unavailable, Retry::IfIdempotent),
            (429, ProviderErrorKind::RateLimited, Retry::Always),
            (400, ProviderErrorKind::Decode, Retry::Never),
            (501, ProviderErrorKind::Unavailable, Retry::Never),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            let failure =
                AttemptFailure::from_answer("/accounts/get", status, None, b"<html>oops</html>");
            assert_eq!(failure.error.kind, kind);
            assert_eq!(failure.error.code, format!("HTTP_{}", status.as_u16()));
            assert_eq!(failure.error.http_status, Some(status.as_u16()));
            assert_eq!(failure.retry, retry);
        }
    }

    #[test]
    fn json_errors_never_echo_the_value_they_choked_on() {
        let error = serde_json::from_str::<u32>(r#""access-sandbox-secret""#).unwrap_err();
        let described = describe_json_error(&error);
        assert!(!described.contains("secret"), "{described}");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            item_id: String,
        }
        let error = serde_json::from_str::<Needs>("{}").unwrap_err();
        assert!(describe_json_error(&error).contains("item_id"));
    }
}
