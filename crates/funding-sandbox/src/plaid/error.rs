//! Plaid's error object (`PlaidError` in the spec) and the constructors for every error the
//! emulator returns. The body carries `error_type`, `error_code`, `error_message`,
//! `display_message` (null but for the errors an end user sees in Link), `request_id`,
//! `documentation_url` and `suggested_action` (null), with Plaid's documented messages where
//! Plaid documents one.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One Plaid error, ready to render with a request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlaidError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub error_code: &'static str,
    pub message: String,
    /// User-facing text (`display_message`); `None` renders as null.
    pub display: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    display_message: Option<&'a str>,
    documentation_url: String,
    error_code: &'a str,
    error_message: &'a str,
    error_type: &'a str,
    request_id: &'a str,
    suggested_action: Option<&'a str>,
}

impl PlaidError {
    pub(crate) fn new(
        status: StatusCode,
        error_type: &'static str,
        error_code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error_type,
            error_code,
            message: message.into(),
            display: None,
        }
    }

    /// The same error with a user-facing `display_message`.
    pub(crate) fn with_display(mut self, display: &'static str) -> Self {
        self.display = Some(display);
        self
    }

    fn invalid_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", code, message)
    }

    fn invalid_input(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", code, message)
    }

    pub(crate) fn missing_fields(fields: &[String]) -> Self {
        Self::invalid_request(
            "MISSING_FIELDS",
            format!(
                "the following required fields are missing: {}",
                fields.join(", ")
            ),
        )
    }

    pub(crate) fn unknown_fields(fields: &[String]) -> Self {
        Self::invalid_request(
            "UNKNOWN_FIELDS",
            format!(
                "the following fields are not recognized by this endpoint: {}",
                fields.join(", ")
            ),
        )
    }

    pub(crate) fn invalid_field(message: impl Into<String>) -> Self {
        Self::invalid_request("INVALID_FIELD", message)
    }

    pub(crate) fn invalid_body() -> Self {
        Self::invalid_request("INVALID_BODY", "body could not be parsed as JSON")
    }

    pub(crate) fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "request body is too large",
        )
    }

    pub(crate) fn invalid_headers(message: impl Into<String>) -> Self {
        Self::invalid_request("INVALID_HEADERS", message)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "INVALID_REQUEST",
            "NOT_FOUND",
            "not found",
        )
    }

    pub(crate) fn invalid_api_keys() -> Self {
        Self::invalid_input("INVALID_API_KEYS", "invalid client_id or secret provided")
    }

    pub(crate) fn invalid_public_token() -> Self {
        Self::invalid_input(
            "INVALID_PUBLIC_TOKEN",
            "could not find matching public token",
        )
    }

    pub(crate) fn expired_public_token() -> Self {
        Self::invalid_input(
            "INVALID_PUBLIC_TOKEN",
            "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged",
        )
    }

    pub(crate) fn invalid_access_token() -> Self {
        Self::invalid_input(
            "INVALID_ACCESS_TOKEN",
            "could not find matching access token",
        )
    }

    pub(crate) fn invalid_processor_token() -> Self {
        Self::invalid_input(
            "INVALID_PROCESSOR_TOKEN",
            "could not find matching processor token",
        )
    }

    pub(crate) fn invalid_account_id() -> Self {
        Self::invalid_input(
            "INVALID_ACCOUNT_ID",
            "failed to find requested account ID for requested item",
        )
    }

    /// What a real-time balance read answers when the bank cannot give a balance now. Plaid's
    /// `/accounts/balance/get` fetches the balance from the institution synchronously, so a bank
    /// that does not answer is `INSTITUTION_ERROR`/`INSTITUTION_NOT_RESPONDING` (HTTP 400, "failing
    /// to respond to some of our requests … may be successful if they retry"), with the body of
    /// Plaid's errors page. `PRODUCT_NOT_READY` is not it: Plaid documents that one for the
    /// asynchronous products (Auth, Transactions, Assets, Signal, …), not for Balance.
    pub(crate) fn institution_not_responding() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INSTITUTION_ERROR",
            "INSTITUTION_NOT_RESPONDING",
            "this institution is not currently responding to this request. please try again soon",
        )
        .with_display(
            "This financial institution is not currently responding to requests. We apologize for the inconvenience.",
        )
    }

    pub(crate) fn invalid_institution() -> Self {
        Self::invalid_input("INVALID_INSTITUTION", "invalid institution_id provided")
    }

    /// The error object as an Item carries it (`/item/get`'s `item.error`): no `request_id`.
    pub(crate) fn to_object(&self) -> serde_json::Value {
        serde_json::json!({
            "display_message": self.display,
            "documentation_url": documentation_url(self.error_type),
            "error_code": self.error_code,
            "error_message": self.message,
            "error_type": self.error_type,
            "suggested_action": null,
        })
    }

    /// The error Plaid answers with a given HTTP status, for injected faults.
    pub(crate) fn for_status(status: u16) -> Self {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|code| code.is_client_error() || code.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match code.as_u16() {
            429 => Self::new(
                code,
                "RATE_LIMIT_EXCEEDED",
                "RATE_LIMIT",
                "rate limit exceeded for attempts to access this item. please try again later",
            ),
            503 => Self::new(
                code,
                "API_ERROR",
                "PLANNED_MAINTENANCE",
                "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information",
            ),
            404 => Self::not_found(),
            400..=499 => Self::new(
                code,
                "INVALID_REQUEST",
                "INVALID_FIELD",
                "the request was rejected by the sandbox fault injector",
            ),
            _ => Self::new(
                code,
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                "an unexpected error occurred",
            ),
        }
    }

    /// The error as Plaid sends it: JSON body plus `Retry-After` on 429.
    pub(crate) fn render(&self, request_id: &str) -> Response {
        let body = Body {
            display_message: self.display,
            documentation_url: documentation_url(self.error_type),
            error_code: self.error_code,
            error_message: &self.message,
            error_type: self.error_type,
            request_id,
            suggested_action: None,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// `https://plaid.com/docs/?ref=error#invalid-request-errors` for `INVALID_REQUEST`, etc.
fn documentation_url(error_type: &str) -> String {
    let slug = error_type.to_ascii_lowercase().replace('_', "-");
    let section = if slug.ends_with("-error") {
        format!("{slug}s")
    } else {
        format!("{slug}-errors")
    };
    format!("https://plaid.com/docs/?ref=error#{section}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_urls_follow_plaid_sections() {
        assert_eq!(
            documentation_url("INVALID_REQUEST"),
            "https://plaid.com/docs/?ref=error#invalid-request-errors"
        );
        assert_eq!(
            documentation_url("API_ERROR"),
            "https://plaid.com/docs/?ref=error#api-errors"
        );
    }

    #[test]
    fn fault_statuses_map_to_plaid_codes() {
        assert_eq!(PlaidError::for_status(429).error_code, "RATE_LIMIT");
        assert_eq!(
            PlaidError::for_status(500).error_code,
            "INTERNAL_SERVER_ERROR"
        );
        assert_eq!(PlaidError::for_status(502).error_type, "API_ERROR");
        assert_eq!(
            PlaidError::for_status(503).error_code,
            "PLANNED_MAINTENANCE"
        );
    }
}
