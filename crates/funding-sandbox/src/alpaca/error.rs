//! Alpaca's error body, `{"code": <8-digit number>, "message": "..."}`, and the errors the
//! emulator answers. Codes are the HTTP status followed by `10000` (40010000, 42210000, …), except
//! where the reference documents another (40010001 for an incoming wire).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One Alpaca error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AlpacaError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl AlpacaError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: u32::from(status.as_u16()) * 100_000 + 10_000,
            message: message.into(),
        }
    }

    pub(crate) fn with_code(mut self, code: u32) -> Self {
        self.code = code;
        self
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "request is not authorized")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub(crate) fn too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
    }

    pub(crate) fn malformed_body(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("request body format is invalid: {detail}"))
    }

    /// The error Alpaca answers with a given HTTP status, for injected faults.
    pub(crate) fn for_status(status: u16) -> Self {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|code| code.is_client_error() || code.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match code.as_u16() {
            429 => "rate limit exceeded",
            500 => "internal server error occurred",
            502 => "bad gateway",
            503 => "service unavailable",
            504 => "gateway timeout",
            _ => code.canonical_reason().unwrap_or("error"),
        };
        Self::new(code, message.to_ascii_lowercase())
    }
}

impl IntoResponse for AlpacaError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_led_by_the_status() {
        assert_eq!(AlpacaError::unauthorized().code, 40_110_000);
        assert_eq!(AlpacaError::conflict("x").code, 40_910_000);
        assert_eq!(AlpacaError::for_status(429).code, 42_910_000);
        assert_eq!(AlpacaError::for_status(503).code, 50_310_000);
        assert_eq!(AlpacaError::for_status(100).code, 50_010_000);
    }
}
