//! Alpaca's HTTP Basic authentication (`Authorization: Basic base64(key_id:secret)`), answered
//! with 401 `{"code":40110000,"message":"request is not authorized"}` when missing or wrong, and
//! the `X-RateLimit-Limit`/`-Remaining`/`-Reset` headers every Alpaca response carries (counted per
//! minute of the emulator clock; the limit itself is only enforced through injected faults).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::AlpacaError;
use crate::state::Shared;

/// Calls per minute advertised in `X-RateLimit-Limit`.
pub(crate) const RATE_LIMIT: u64 = 1000;

/// Refuses requests without valid Basic credentials.
pub(crate) async fn require_basic_auth(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(request.headers(), shared.alpaca_credentials.as_ref()) {
        next.run(request).await
    } else {
        AlpacaError::unauthorized().into_response()
    }
}

fn authorized(headers: &HeaderMap, expected: Option<&(String, String)>) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, rest) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
    else {
        return false;
    };
    let Some(decoded) = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return false;
    };
    let Some((key, secret)) = decoded.split_once(':') else {
        return false;
    };
    match expected {
        None => !key.is_empty() && !secret.is_empty(),
        Some((expected_key, expected_secret)) => key == expected_key && secret == expected_secret,
    }
}

/// A fixed one-minute window of calls.
#[derive(Debug, Default)]
pub(crate) struct RateWindow {
    /// Minute number (unix seconds / 60) the count belongs to.
    minute: AtomicU64,
    count: AtomicU64,
}

impl RateWindow {
    /// Counts one call at `unix_seconds`; returns (remaining, reset unix seconds).
    fn hit(&self, unix_seconds: u64) -> (u64, u64) {
        let minute = unix_seconds / 60;
        if self.minute.swap(minute, Ordering::SeqCst) != minute {
            self.count.store(0, Ordering::SeqCst);
        }
        let used = self.count.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        (RATE_LIMIT.saturating_sub(used), (minute + 1) * 60)
    }
}

/// Adds the rate-limit headers to every response (remaining 0 on a 429).
pub(crate) async fn rate_limit_headers(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let now = u64::try_from(shared.clock.now().timestamp()).unwrap_or(0);
    let (remaining, reset) = shared.rate.hit(now);
    let mut response = next.run(request).await;
    let remaining = if response.status() == StatusCode::TOO_MANY_REQUESTS {
        0
    } else {
        remaining
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(user_pass));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn any_non_empty_pair_passes_without_configured_keys() {
        assert!(authorized(&basic("key:secret"), None));
        assert!(!authorized(&basic("key:"), None));
        assert!(!authorized(&basic("nocolon"), None));
        assert!(!authorized(&HeaderMap::new(), None));
    }

    #[test]
    fn configured_keys_must_match() {
        let expected = ("k".to_owned(), "s".to_owned());
        assert!(authorized(&basic("k:s"), Some(&expected)));
        assert!(!authorized(&basic("k:x"), Some(&expected)));
    }

    #[test]
    fn the_window_resets_each_minute() {
        let window = RateWindow::default();
        assert_eq!(window.hit(120), (RATE_LIMIT - 1, 180));
        assert_eq!(window.hit(130), (RATE_LIMIT - 2, 180));
        assert_eq!(window.hit(185), (RATE_LIMIT - 1, 240));
    }
}
