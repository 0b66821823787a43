//! One error type for both providers, so the use cases decide on the kind of failure (retry, refuse,
//! look up before resending) without knowing the wire format. The adapters fill in the provider's own
//! code (Plaid's `error_code`, Alpaca's numeric `code`) so callers can see it.

use std::fmt;
use std::time::Duration;

/// Which provider answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Plaid,
    Alpaca,
}

impl Provider {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Plaid => "plaid",
            Self::Alpaca => "alpaca",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure a provider call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderErrorKind {
    /// The request was malformed from the provider's point of view (our bug, or input it refuses):
    /// Plaid INVALID_REQUEST, Alpaca 400.
    InvalidRequest,
    /// The input does not hold (Plaid INVALID_INPUT such as INVALID_PUBLIC_TOKEN or INVALID_ACCOUNT_ID,
    /// ITEM_ERROR; Alpaca 422).
    InvalidInput,
    /// The thing does not exist (HTTP 404).
    NotFound,
    /// The provider's state forbids it (Alpaca 409: an active relationship already exists).
    Conflict,
    /// Not permitted for this account (Alpaca 403).
    Forbidden,
    /// Our credentials were refused (401, Plaid INVALID_API_KEYS): an operator problem.
    Unauthorized,
    /// Rate limited (429), still so after retries.
    RateLimited,
    /// The provider failed (5xx), still so after retries. For a call that is not idempotent the outcome
    /// is unknown: it may have taken effect.
    Unavailable,
    /// No answer (connection reset, timeout): the request may have reached the provider. The
    /// outcome is unknown.
    Transport,
    /// The provider certainly did not process the request and asks to be tried later: Plaid's
    /// documented `PLANNED_MAINTENANCE` (and any answer whose documents say "not processed"), or a
    /// connection that was never made. A definite "not done": retried, even on a single-use call.
    NotProcessed,
    /// The provider answered something we could not read.
    Decode,
}

/// A failed provider call. Never carries a secret: adapters build messages from the provider's
/// error code and message only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} {kind:?} ({code}): {message}")]
pub struct ProviderError {
    pub provider: Provider,
    pub kind: ProviderErrorKind,
    /// The provider's own code: Plaid's `error_code` (e.g. `INVALID_PUBLIC_TOKEN`), Alpaca's numeric
    /// `code` as text, or `HTTP_<status>` when the body had none.
    pub code: String,
    /// The provider's message, safe to show to a developer.
    pub message: String,
    /// Plaid's `display_message`, safe to show to an end user.
    pub display_message: Option<String>,
    pub http_status: Option<u16>,
    /// The provider's request id, for support tickets.
    pub request_id: Option<String>,
    /// How long the provider asked us to wait, when it said.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A bare error of `kind`, for adapters to fill in.
    pub fn new(
        provider: Provider,
        kind: ProviderErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            provider,
            kind,
            code: code.into(),
            message: message.into(),
            display_message: None,
            http_status: None,
            request_id: None,
            retry_after: None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::RateLimited
                | ProviderErrorKind::Unavailable
                | ProviderErrorKind::Transport
                | ProviderErrorKind::NotProcessed
        )
    }

    /// Whether the provider certainly did not act on the call: it said so (a rate limit,
    /// maintenance, refused credentials) or the connection was never made. Such a call can be sent
    /// again with no lookup and no settling, even a create without an idempotency key.
    pub fn certainly_not_processed(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::RateLimited
                | ProviderErrorKind::NotProcessed
                | ProviderErrorKind::Unauthorized
        )
    }

    /// Whether the call may have taken effect although it failed (5xx or no answer).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::Unavailable | ProviderErrorKind::Transport
        )
    }

    /// Whether the answer is a definite "no" to the request: the provider refuses this link,
    /// transfer or cancel as asked. Our own credentials being refused, an unreadable answer or an
    /// outage are not: the work stays pending, to be retried.
    pub fn is_refusal(&self) -> bool {
        use ProviderErrorKind::*;
        match self.kind {
            InvalidRequest | InvalidInput | NotFound | Conflict | Forbidden => true,
            Unauthorized | RateLimited | Unavailable | Transport | NotProcessed | Decode => false,
        }
    }
}
