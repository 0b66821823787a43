//! Plaid's error classes: what each failure of a call means by Plaid's documents, the
//! [`ProviderErrorKind`] the adapter reports, whether Plaid processed the request, and where the
//! adapter itself tries again. [`ERROR_CLASSES`] is the table; a unit test checks the classifier
//! ([`PlaidApiError::kind`](crate::PlaidApiError::kind) and the retry rule) against every row, and
//! a wiremock test drives every row through the real client.
//!
//! | Plaid answered (error_type / error_code / HTTP) | kind | processed? | retried by the adapter |
//! |---|---|---|---|
//! | `API_ERROR` / `PLANNED_MAINTENANCE` / 503 | `NotProcessed` | no | on every endpoint |
//! | `RATE_LIMIT_EXCEEDED` / any code / 429 | `RateLimited` | no | on every endpoint |
//! | 429 without Plaid's error object | `RateLimited` | no | on every endpoint |
//! | connection never made | `NotProcessed` | no | on every endpoint |
//! | `API_ERROR` / `INTERNAL_SERVER_ERROR` / 500 | `Unavailable` | unknown | where safe to repeat |
//! | 500, 502, 503, 504 without Plaid's error object | `Unavailable` | unknown | where safe to repeat |
//! | any other 5xx (501, 505, …) | `Unavailable` | unknown | never |
//! | timeout | `Transport` | unknown | where safe to repeat |
//! | connection lost after sending | `Transport` | unknown | where safe to repeat |
//! | `INVALID_INPUT` / `INVALID_API_KEYS` / 400 | `Unauthorized` | no | never |
//! | `INVALID_INPUT` / `UNAUTHORIZED_ENVIRONMENT`, `UNAUTHORIZED_ROUTE_ACCESS` / 400 | `Forbidden` | no | never |
//! | `INVALID_REQUEST` / `NOT_FOUND` / 404 | `NotFound` | no | never |
//! | `INVALID_REQUEST` / any other code / 400 | `InvalidRequest` | no | never |
//! | `INVALID_INPUT` / any other code / 400 | `InvalidInput` | no | never |
//! | `ITEM_ERROR`, `INSTITUTION_ERROR`, `BANK_TRANSFER_ERROR`, `TRANSFER_ERROR` / any / 400 | `InvalidInput` | no | never |
//! | an `error_type` Plaid adds later / 400 | `InvalidInput` | no | never |
//! | another 4xx without Plaid's error object | `Decode` | unknown | never |
//! | a 2xx that cannot be read | `Decode` | yes | never |
//!
//! "Safe to repeat": the reads, `/processor/token/create`, `/item/remove`,
//! `/sandbox/public_token/create`, `/sandbox/processor_token/create`, and creates that carry a
//! stable idempotency key (`/processor/bank_transfer/create`). Not safe: the single-use
//! `/item/public_token/exchange`, `/bank_transfer/cancel` and the sandbox simulations. What Plaid
//! documents as not processed is repeated everywhere, up to `max_attempts` attempts in all, with
//! backoff (a `Retry-After` honoured up to `max_delay`); when they are used up the error keeps its
//! kind, so the caller knows nothing happened (`NotProcessed`, `RateLimited`) or that something
//! may have (`Unavailable`, `Transport`).

use funding_core::ports::ProviderErrorKind;

/// What a call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Plaid's error object: `error_type`, one of `error_codes` (empty: any code of the type), at
    /// the HTTP status Plaid documents for it.
    Plaid {
        error_type: &'static str,
        error_codes: &'static [&'static str],
        http_status: u16,
    },
    /// One of these HTTP statuses with a body that is not Plaid's error object (a proxy's page).
    Bare { http_statuses: &'static [u16] },
    /// No connection could be opened (refused, no such host, TLS refused): nothing was sent.
    ConnectionNotMade,
    /// No whole answer within `request_timeout` (the request may have arrived).
    Timeout,
    /// The connection broke after the request was sent: reset, closed, or the answer cut short.
    ConnectionLost,
    /// A 2xx whose body is not the endpoint's response.
    UnreadableSuccess,
}

/// Whether Plaid processed a request that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// Certainly not: Plaid says so, refused it, or never received it.
    No,
    /// Perhaps: it may have taken effect.
    Unknown,
    /// Yes (a 2xx), but the answer could not be read.
    Yes,
}

/// Where the adapter tries a failure again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetriedOn {
    /// On every endpoint, the single-use public token exchange too.
    EveryEndpoint,
    /// Only on endpoints safe to repeat (see the module's documentation).
    RepeatableEndpoints,
    Never,
}

/// One row of [`ERROR_CLASSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub condition: Condition,
    pub kind: ProviderErrorKind,
    pub processed: Processed,
    pub retried: RetriedOn,
    /// What it means at Plaid.
    pub meaning: &'static str,
}

const fn row(
    condition: Condition,
    kind: ProviderErrorKind,
    processed: Processed,
    retried: RetriedOn,
    meaning: &'static str,
) -> ErrorClass {
    ErrorClass {
        condition,
        kind,
        processed,
        retried,
        meaning,
    }
}

const fn plaid(
    error_type: &'static str,
    error_codes: &'static [&'static str],
    http_status: u16,
) -> Condition {
    Condition::Plaid {
        error_type,
        error_codes,
        http_status,
    }
}

use Condition::{Bare, ConnectionLost, ConnectionNotMade, Timeout, UnreadableSuccess};
use ProviderErrorKind as Kind;
use RetriedOn::{EveryEndpoint, Never, RepeatableEndpoints};

/// Plaid's error classes.
#[rustfmt::skip]
pub const ERROR_CLASSES: &[ErrorClass] = &[
    row(plaid("API_ERROR", &["PLANNED_MAINTENANCE"], 503), Kind::NotProcessed, Processed::No, EveryEndpoint, "Plaid is down for maintenance and did not process the request"),
    row(plaid("RATE_LIMIT_EXCEEDED", &[], 429), Kind::RateLimited, Processed::No, EveryEndpoint, "too many requests (RATE_LIMIT, ACCOUNTS_LIMIT, INSTITUTION_RATE_LIMIT, …): not processed"),
    row(Bare { http_statuses: &[429] }, Kind::RateLimited, Processed::No, EveryEndpoint, "rate limited by Plaid or a proxy in front of it"),
    row(ConnectionNotMade, Kind::NotProcessed, Processed::No, EveryEndpoint, "the request never left: refused, no such host, TLS refused"),
    row(plaid("API_ERROR", &["INTERNAL_SERVER_ERROR"], 500), Kind::Unavailable, Processed::Unknown, RepeatableEndpoints, "Plaid failed; it may have acted (use the idempotency key to retry)"),
    row(Bare { http_statuses: &[500, 502, 503, 504] }, Kind::Unavailable, Processed::Unknown, RepeatableEndpoints, "Plaid or a gateway failed without Plaid's error object"),
    row(Bare { http_statuses: &[501, 505, 599] }, Kind::Unavailable, Processed::Unknown, Never, "a server error that another attempt does not cure"),
    row(Timeout, Kind::Transport, Processed::Unknown, RepeatableEndpoints, "no whole answer in time: the request may have arrived"),
    row(ConnectionLost, Kind::Transport, Processed::Unknown, RepeatableEndpoints, "reset, closed or cut short after the request was sent"),
    row(plaid("INVALID_INPUT", &["INVALID_API_KEYS"], 400), Kind::Unauthorized, Processed::No, Never, "our client_id or secret was refused"),
    row(plaid("INVALID_INPUT", &["UNAUTHORIZED_ENVIRONMENT", "UNAUTHORIZED_ROUTE_ACCESS"], 400), Kind::Forbidden, Processed::No, Never, "the client is not enabled for this environment or endpoint"),
    row(plaid("INVALID_REQUEST", &["NOT_FOUND"], 404), Kind::NotFound, Processed::No, Never, "no such resource"),
    row(plaid("INVALID_REQUEST", &["MISSING_FIELDS", "UNKNOWN_FIELDS", "INVALID_FIELD", "INVALID_BODY"], 400), Kind::InvalidRequest, Processed::No, Never, "the request is malformed"),
    row(plaid("INVALID_INPUT", &["INVALID_PUBLIC_TOKEN", "INVALID_ACCESS_TOKEN", "INVALID_ACCOUNT_ID", "INVALID_PRODUCT"], 400), Kind::InvalidInput, Processed::No, Never, "a token, account or product Plaid refuses"),
    row(plaid("ITEM_ERROR", &["ITEM_LOGIN_REQUIRED", "ITEM_NOT_FOUND", "NO_AUTH_ACCOUNTS"], 400), Kind::InvalidInput, Processed::No, Never, "the Item cannot serve the request"),
    row(plaid("INSTITUTION_ERROR", &["INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING"], 400), Kind::InvalidInput, Processed::No, Never, "the bank cannot be reached: the link has to wait or be redone"),
    row(plaid("BANK_TRANSFER_ERROR", &["BANK_TRANSFER_LIMIT_EXCEEDED", "BANK_TRANSFER_NOT_CANCELLABLE"], 400), Kind::InvalidInput, Processed::No, Never, "a bank transfer Plaid refuses"),
    row(plaid("TRANSFER_ERROR", &["TRANSFER_LIMIT_REACHED"], 400), Kind::InvalidInput, Processed::No, Never, "a transfer Plaid refuses"),
    row(plaid("QUANTUM_ERROR", &["ANY_NEW_CODE"], 400), Kind::InvalidInput, Processed::No, Never, "an error_type this adapter does not know yet: kept as given"),
    row(Bare { http_statuses: &[400, 403, 404, 418] }, Kind::Decode, Processed::Unknown, Never, "a 4xx without Plaid's error object (a proxy's page)"),
    row(UnreadableSuccess, Kind::Decode, Processed::Yes, Never, "a 2xx that is not the endpoint's response: Plaid acted"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_error::PlaidApiError;
    use crate::failure::{AttemptFailure, Retry};
    use reqwest::StatusCode;

    fn retried_on(retry: Retry) -> RetriedOn {
        match retry {
            Retry::Always => EveryEndpoint,
            Retry::IfIdempotent => RepeatableEndpoints,
            Retry::Never => Never,
        }
    }

    /// The classifier's answer to every example of `condition` that needs no network.
    fn classify(condition: Condition) -> Vec<(ProviderErrorKind, Retry)> {
        let answer = |status: u16, body: &[u8]| {
            let status = StatusCode::from_u16(status).unwrap();
            let failure = AttemptFailure::from_answer("/accounts/get", status, None, body);
            (failure.error.kind, failure.retry)
        };
        match condition {
            Condition::Plaid {
                error_type,
                error_codes,
                http_status,
            } => {
                let codes: &[&str] = if error_codes.is_empty() {
                    &["RATE_LIMIT", "ACCOUNTS_LIMIT", "INSTITUTION_RATE_LIMIT"]
                } else {
                    error_codes
                };
                codes
                    .iter()
                    .map(|code| {
                        let body = serde_json::json!({
                            "error_type": error_type, "error_code": code,
                            "error_message": "m", "display_message": null, "request_id": "r"
                        });
                        let parsed = PlaidApiError::from_body(body.to_string().as_bytes());
                        assert!(parsed.is_some(), "{body}");
                        answer(http_status, body.to_string().as_bytes())
                    })
                    .collect()
            }
            Condition::Bare { http_statuses } => http_statuses
                .iter()
                .map(|status| answer(*status, b"<html>oops</html>"))
                .collect(),
            Condition::ConnectionNotMade => {
                vec![(
                    Kind::NotProcessed,
                    Retry::for_failure(Kind::NotProcessed, None),
                )]
            }
            Condition::Timeout | Condition::ConnectionLost => {
                vec![(Kind::Transport, Retry::for_failure(Kind::Transport, None))]
            }
            Condition::UnreadableSuccess => {
                let failure =
                    AttemptFailure::undecodable("/accounts/get", StatusCode::OK, None, "x");
                vec![(failure.error.kind, failure.retry)]
            }
        }
    }

    #[test]
    fn the_classifier_agrees_with_every_row() {
        for (index, class) in ERROR_CLASSES.iter().enumerate() {
            for (kind, retry) in classify(class.condition) {
                assert_eq!(kind, class.kind, "row {index}: {class:?}");
                assert_eq!(retried_on(retry), class.retried, "row {index}: {class:?}");
            }
        }
    }

    #[test]
    fn what_is_not_processed_is_retried_everywhere_and_an_unknown_outcome_only_where_safe() {
        for class in ERROR_CLASSES {
            match class.processed {
                Processed::No if class.retried != Never => {
                    assert_eq!(class.retried, EveryEndpoint, "{class:?}");
                }
                Processed::Unknown => assert_ne!(class.retried, EveryEndpoint, "{class:?}"),
                Processed::Yes => assert_eq!(class.retried, Never, "{class:?}"),
                Processed::No => {}
            }
        }
    }
}
