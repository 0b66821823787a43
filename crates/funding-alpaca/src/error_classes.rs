//! Alpaca's error classes: what each failure of a call means, which
//! [`ProviderErrorKind`] the adapter reports, whether Alpaca may have acted on the request, and
//! whether the adapter itself tries again. [`ERROR_CLASSES`] is the table; the HTTP statuses of
//! [`kind_for_status`] are read from it, and a test drives every row through the real client.
//!
//! | condition | kind | Alpaca acted? | retried: read / delete | retried: create |
//! |---|---|---|---|---|
//! | 400 | `InvalidRequest` | no | no | no |
//! | 401 | `Unauthorized` | no | no | no |
//! | 403 | `Forbidden` | no | no | no |
//! | 404 | `NotFound` | no | no | no |
//! | 408 | `Unavailable` | unknown | yes | no |
//! | 409 | `Conflict` | no | no | no |
//! | 422 | `InvalidInput` | no | no | no |
//! | 429 | `RateLimited` | no | yes | no |
//! | any other 4xx | `InvalidRequest` | no | no | no |
//! | 5xx | `Unavailable` | unknown | yes | no |
//! | 3xx (never followed) | `Decode` | unknown | no | no |
//! | connection never made | `NotProcessed` | no | yes | no |
//! | timeout | `Transport` | unknown | yes | no |
//! | connection lost after sending | `Transport` | unknown | yes | no |
//! | 2xx that cannot be read | `Decode` | yes | no | no |
//!
//! A create (`POST` of an ACH relationship or a transfer) carries no idempotency key at Alpaca, so
//! the adapter never sends it twice, whatever the failure: the engine decides, under a live claim,
//! after looking the resource up when the outcome is unknown (DESIGN §9). A read is tried
//! `max_attempts` times in all; a 429 asking to wait longer than `max_delay` is returned at once.
//! When the retries are used up the error keeps its kind (a connection never made stays
//! `NotProcessed`: nothing happened). Messages are Alpaca's, scrubbed of tokens and credentials.

use funding_core::ports::ProviderErrorKind;
use reqwest::StatusCode;

/// What went wrong with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Alpaca (or a proxy in front of it) answered this HTTP status.
    Status(u16),
    /// Any other status of `from..=to` than those with a row of their own.
    StatusRange { from: u16, to: u16 },
    /// No connection could be opened (refused, unresolvable host, TLS refused): the request never
    /// left this process.
    ConnectionNotMade,
    /// No whole answer within `request_timeout` (the request may have arrived).
    Timeout,
    /// The connection broke after the request was sent: reset, closed, or the answer cut short.
    ConnectionLost,
    /// A 2xx whose body is not what the spec says.
    UnreadableSuccess,
}

/// Whether Alpaca may have acted on a request that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Certainly not: it refused the request, rate limited it, or never received it.
    NotDone,
    /// Perhaps: a create may have been made (look it up before creating again).
    Unknown,
    /// Yes (a 2xx), but the answer could not be read.
    DoneUnreadable,
}

/// One row of [`ERROR_CLASSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub condition: Condition,
    pub kind: ProviderErrorKind,
    pub outcome: Outcome,
    /// Tried again by the adapter on a GET or DELETE.
    pub retried_on_read: bool,
    /// Tried again by the adapter on a create (never: Alpaca takes no idempotency key).
    pub retried_on_create: bool,
    /// What it means at Alpaca.
    pub meaning: &'static str,
}

const fn row(
    condition: Condition,
    kind: ProviderErrorKind,
    outcome: Outcome,
    retried_on_read: bool,
    meaning: &'static str,
) -> ErrorClass {
    ErrorClass {
        condition,
        kind,
        outcome,
        retried_on_read,
        retried_on_create: false,
        meaning,
    }
}

use Condition::{
    ConnectionLost, ConnectionNotMade, Status, StatusRange, Timeout, UnreadableSuccess,
};
use Outcome::{DoneUnreadable, NotDone, Unknown};
use ProviderErrorKind as Kind;

/// Alpaca's error classes, specific statuses before the ranges that contain them.
#[rustfmt::skip]
pub const ERROR_CLASSES: &[ErrorClass] = &[
    row(Status(400), Kind::InvalidRequest, NotDone, false, "malformed body or invalid id"),
    row(Status(401), Kind::Unauthorized, NotDone, false, "our credentials were refused"),
    row(Status(403), Kind::Forbidden, NotDone, false, "not permitted for this account (deposits or withdrawals)"),
    row(Status(404), Kind::NotFound, NotDone, false, "no such account, relationship or transfer"),
    row(Status(408), Kind::Unavailable, Unknown, true, "request timeout from Alpaca or a proxy: it may have been forwarded"),
    row(Status(409), Kind::Conflict, NotDone, false, "the account already has an active relationship"),
    row(Status(422), Kind::InvalidInput, NotDone, false, "validation failure (amount, relationship, direction)"),
    row(Status(429), Kind::RateLimited, NotDone, true, "rate limited: wait for Retry-After or X-RateLimit-Reset"),
    row(StatusRange { from: 400, to: 499 }, Kind::InvalidRequest, NotDone, false, "refused as sent (405, 410, 413, 415, …)"),
    row(StatusRange { from: 500, to: 599 }, Kind::Unavailable, Unknown, true, "Alpaca or a gateway failed: a create may have been made"),
    row(StatusRange { from: 300, to: 399 }, Kind::Decode, Unknown, false, "a redirect, never followed (the credentials would go along)"),
    row(ConnectionNotMade, Kind::NotProcessed, NotDone, true, "the request never left: refused, no such host, TLS refused"),
    row(Timeout, Kind::Transport, Unknown, true, "no whole answer in time: the request may have arrived"),
    row(ConnectionLost, Kind::Transport, Unknown, true, "reset, closed or cut short after the request was sent"),
    row(UnreadableSuccess, Kind::Decode, DoneUnreadable, false, "a 2xx that is not what the spec says: Alpaca acted"),
];

/// The row of an HTTP status: its own, else the range that contains it.
pub(crate) fn class_of_status(status: u16) -> Option<&'static ErrorClass> {
    ERROR_CLASSES
        .iter()
        .find(|class| class.condition == Status(status))
        .or_else(|| {
            ERROR_CLASSES.iter().find(|class| {
                matches!(class.condition, StatusRange { from, to } if (from..=to).contains(&status))
            })
        })
}

/// The kind of failure an HTTP status means at Alpaca; a status of no row (1xx) is `Decode`.
pub(crate) fn kind_for_status(status: StatusCode) -> ProviderErrorKind {
    class_of_status(status.as_u16()).map_or(Kind::Decode, |class| class.kind)
}

/// Whether the adapter tries a failure of `kind` again: never on a create, and on a read only
/// when another attempt may succeed.
pub(crate) fn retried(kind: ProviderErrorKind, create: bool) -> bool {
    !create
        && matches!(
            kind,
            Kind::RateLimited | Kind::Unavailable | Kind::Transport | Kind::NotProcessed
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_what_the_retry_rule_does() {
        for class in ERROR_CLASSES {
            assert_eq!(
                retried(class.kind, false),
                class.retried_on_read,
                "{class:?}"
            );
            assert_eq!(
                retried(class.kind, true),
                class.retried_on_create,
                "{class:?}"
            );
            assert!(!class.retried_on_create, "{class:?}");
        }
    }

    #[test]
    fn outcomes_agree_with_the_ports_kinds() {
        for class in ERROR_CLASSES {
            match class.outcome {
                NotDone => assert!(
                    !matches!(class.kind, Kind::Unavailable | Kind::Transport),
                    "{class:?}"
                ),
                Unknown => assert!(
                    matches!(
                        class.kind,
                        Kind::Unavailable | Kind::Transport | Kind::Decode
                    ),
                    "{class:?}"
                ),
                DoneUnreadable => assert_eq!(class.kind, Kind::Decode, "{class:?}"),
            }
        }
    }

    #[test]
    fn each_status_maps_to_its_kind() {
        for (status, kind) in [
            (400, Kind::InvalidRequest),
            (401, Kind::Unauthorized),
            (403, Kind::Forbidden),
            (404, Kind::NotFound),
            (408, Kind::Unavailable),
            (409, Kind::Conflict),
            (422, Kind::InvalidInput),
            (429, Kind::RateLimited),
            (410, Kind::InvalidRequest),
            (499, Kind::InvalidRequest),
            (500, Kind::Unavailable),
            (502, Kind::Unavailable),
            (503, Kind::Unavailable),
            (599, Kind::Unavailable),
            (302, Kind::Decode),
            (101, Kind::Decode),
        ] {
            assert_eq!(
                kind_for_status(StatusCode::from_u16(status).unwrap()),
                kind,
                "{status}"
            );
        }
    }

    #[test]
    fn no_status_row_is_shadowed_by_another() {
        for (index, class) in ERROR_CLASSES.iter().enumerate() {
            if let Status(status) = class.condition {
                assert_eq!(class_of_status(status), Some(class), "row {index}");
                assert_eq!(
                    ERROR_CLASSES
                        .iter()
                        .filter(|other| other.condition == Status(status))
                        .count(),
                    1,
                    "row {index}"
                );
            }
        }
    }
}
