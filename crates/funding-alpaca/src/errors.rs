//! From what Alpaca answered (or failed to answer) to a [`ProviderError`]. Alpaca's error body is
//! `{"code": <int>, "message": "..."}`; the HTTP status decides the kind (by the table of
//! [`crate::error_classes`]), the body gives the code and the message, and a body that cannot be
//! read keeps the status (`code` = `HTTP_<status>`). Messages are scrubbed of tokens and
//! credentials before they leave.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use crate::error_classes::kind_for_status;
use crate::redact::scrub;

/// Alpaca's request id header, for support tickets.
const REQUEST_ID: &str = "x-request-id";
/// Unix seconds at which the rate limit window resets.
const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// Alpaca's `Error` schema. Both fields are required by the spec; both are optional here so that a
/// partial body still gives what it has.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// The error for a non-success answer.
pub(crate) fn http_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> ProviderError {
    let kind = kind_for_status(status);
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed
        .code
        .as_ref()
        .and_then(code_text)
        .unwrap_or_else(|| format!("HTTP_{}", status.as_u16()));
    let message = match parsed.message.as_deref().map(str::trim) {
        Some(message) if !message.is_empty() => scrub(message, secrets),
        _ => format!("HTTP {status} without a readable error body"),
    };
    let mut error = ProviderError::new(Provider::Alpaca, kind, code, message);
    error.http_status = Some(status.as_u16());
    error.request_id = request_id(headers);
    if status == StatusCode::TOO_MANY_REQUESTS {
        error.retry_after = retry_after(headers, SystemTime::now());
    }
    error
}

/// Alpaca's numeric code as text; a short string code is accepted as given.
fn code_text(code: &serde_json::Value) -> Option<String> {
    match code {
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::String(text)
            if !text.is_empty()
                && text.len() <= 64
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Some(text.clone())
        }
        _ => None,
    }
}

pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 128)
        .map(str::to_owned)
}

/// How long a 429 asks us to wait: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (unix seconds) minus now.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let now_secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if let Some(value) = header(RETRY_AFTER.as_str()) {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = DateTime::parse_from_rfc2822(value) {
            let at = u64::try_from(date.timestamp()).ok()?;
            return Some(Duration::from_secs(at.saturating_sub(now_secs)));
        }
    }
    let reset = header(RATE_LIMIT_RESET)?.parse::<u64>().ok()?;
    Some(Duration::from_secs(reset.saturating_sub(now_secs)))
}

/// No usable answer. A connection that could not be opened (refused, no such host, TLS refused)
/// never carried the request: `NotProcessed`, code `CONNECT`. A timeout (a connect timeout too: the
/// two timers cannot be told apart) or a connection lost after sending leaves the outcome unknown:
/// `Transport`, code `TIMEOUT` or `TRANSPORT`.
pub(crate) fn transport_error(error: &reqwest::Error, secrets: &[&str]) -> ProviderError {
    let (kind, code) = if error.is_timeout() {
        (ProviderErrorKind::Transport, "TIMEOUT")
    } else if error.is_connect() {
        (ProviderErrorKind::NotProcessed, "CONNECT")
    } else {
        (ProviderErrorKind::Transport, "TRANSPORT")
    };
    ProviderError::new(
        Provider::Alpaca,
        kind,
        code,
        scrub(&describe(error), secrets),
    )
}

/// The error and its causes, without the URL.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "request to Alpaca timed out".to_owned()
    } else if error.is_connect() {
        "could not connect to Alpaca".to_owned()
    } else {
        "request to Alpaca failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A 2xx whose body is not what the spec says.
pub(crate) fn decode_error(
    status: StatusCode,
    what: &str,
    error: &serde_json::Error,
) -> ProviderError {
    let mut provider_error = ProviderError::new(
        Provider::Alpaca,
        ProviderErrorKind::Decode,
        "DECODE",
        format!("could not read Alpaca's {what}: {error}"),
    );
    provider_error.http_status = Some(status.as_u16());
    provider_error
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_body_gives_the_code_and_message() {
        let error = http_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers(&[("x-request-id", "req-1")]),
            br#"{"code": 40010001, "message": "cannot submit incoming wire transfer using this API"}"#,
            &[],
        );
        assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
        assert_eq!(error.code, "40010001");
        assert_eq!(
            error.message,
            "cannot submit incoming wire transfer using this API"
        );
        assert_eq!(error.http_status, Some(422));
        assert_eq!(error.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn an_unreadable_body_keeps_the_status() {
        let error = http_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
            &[],
        );
        assert_eq!(error.kind, ProviderErrorKind::Unavailable);
        assert_eq!(error.code, "HTTP_502");
        assert_eq!(error.http_status, Some(502));
        assert!(!error.message.contains("<html>"));
    }

    #[test]
    fn retry_after_comes_from_either_header() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset", "1700000030")]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Tue, 14 Nov 2023 22:13:40 GMT")]),
                now
            ),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset", "5")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
