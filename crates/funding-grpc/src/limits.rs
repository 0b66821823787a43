//! Per-caller rate limits: each authenticated caller (by its configured name) has a budget of calls
//! and a smaller one of writes — the calls that may reach Plaid or Alpaca (every scope but `read`) —
//! so that no one caller can spend the providers' rate budget (Alpaca's is per correspondent, shared
//! by every caller of this service). A call over budget is refused with RESOURCE_EXHAUSTED, a
//! `RetryInfo` saying when to try again and `ErrorInfo.reason = RATE_LIMITED`, before it does
//! anything.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::DOMAIN;

/// A budget: so many per minute, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

/// Which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Calls,
    Writes,
}

impl Budget {
    fn as_str(self) -> &'static str {
        match self {
            Self::Calls => "calls",
            Self::Writes => "writes",
        }
    }
}

/// Every caller's budgets. Cheap to clone (shared state); `None` budgets are unlimited.
#[derive(Clone, Default)]
pub struct RateLimits {
    calls: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    writes: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("calls", &self.calls.is_some())
            .field("writes", &self.writes.is_some())
            .finish()
    }
}

fn limiter(rate: Rate) -> Arc<DefaultKeyedRateLimiter<String>> {
    Arc::new(RateLimiter::keyed(
        Quota::per_minute(rate.per_minute).allow_burst(rate.burst),
    ))
}

impl RateLimits {
    /// No limit at all.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// `calls` bounds every call of a caller, `writes` those that may reach a provider.
    pub fn new(calls: Option<Rate>, writes: Option<Rate>) -> Self {
        Self {
            calls: calls.map(limiter),
            writes: writes.map(limiter),
        }
    }

    /// Spends one call of `caller`'s budget, or says how long to wait.
    pub(crate) fn check_call(&self, caller: &str) -> Result<(), Status> {
        check(self.calls.as_deref(), caller, Budget::Calls)
    }

    /// Spends one write of `caller`'s budget, or says how long to wait.
    pub(crate) fn check_write(&self, caller: &str) -> Result<(), Status> {
        check(self.writes.as_deref(), caller, Budget::Writes)
    }
}

fn check(
    limiter: Option<&DefaultKeyedRateLimiter<String>>,
    caller: &str,
    budget: Budget,
) -> Result<(), Status> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    // The key is a configured client's name (or `anonymous`): callers are authenticated first,
    // so the keyed state stays as small as the list of clients.
    match limiter.check_key(&caller.to_owned()) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("funding_rate_limited_total", "caller" => caller.to_owned(), "budget" => budget.as_str()).increment(1);
            Err(rate_limited(caller, budget, wait))
        }
    }
}

fn rate_limited(caller: &str, budget: Budget, wait: std::time::Duration) -> Status {
    // Whole milliseconds, at least one: a RetryInfo of zero would invite an immediate retry.
    let wait = wait.max(std::time::Duration::from_millis(1));
    let mut details = ErrorDetails::new();
    details.set_error_info(
        "RATE_LIMITED",
        DOMAIN,
        HashMap::from([("budget".to_owned(), budget.as_str().to_owned())]),
    );
    details.set_retry_info(Some(wait));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "caller {caller} is over its rate limit of {}; retry in {} ms",
            budget.as_str(),
            wait.as_millis().max(1)
        ),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_caller_over_its_burst_is_refused_with_retry_info_and_others_are_not() {
        let limits = RateLimits::new(None, Some(rate(1, 2)));
        assert!(limits.check_write("app").is_ok());
        assert!(limits.check_write("app").is_ok());
        let status = limits.check_write("app").unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().unwrap();
        assert!(retry.retry_delay.unwrap() > std::time::Duration::ZERO);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "RATE_LIMITED"
        );
        assert!(limits.check_write("other").is_ok());
        assert!(limits.check_call("app").is_ok(), "calls are unlimited here");
    }

    #[test]
    fn unlimited_limits_refuse_nothing() {
        let limits = RateLimits::unlimited();
        for _ in 0..1_000 {
            assert!(limits.check_call("app").is_ok());
            assert!(limits.check_write("app").is_ok());
        }
    }
}
