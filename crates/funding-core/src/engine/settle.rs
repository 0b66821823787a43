//! Settling an unknown outcome (DESIGN §4.2): a provider may commit a create after its caller gave
//! up (a slow write behind a load balancer that already answered 504), so after a create whose
//! outcome is unknown an empty lookup proves nothing until `settle` has passed since the request
//! was sent. Until then the work waits ([`Stop::Wait`], which does not count as an attempt) and
//! looks again, more rarely as time passes; only a lookup made after the window may conclude.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Stop;

/// How a lookup that found nothing may be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settling {
    /// The window has passed: the empty lookup is an answer (create again, or end).
    Settled,
    /// Still inside the window: wait `next_lookup`, then look again.
    Waiting {
        /// For the resource's status reason and the work's record.
        reason: String,
        next_lookup: Duration,
    },
}

impl Settling {
    /// Where an empty lookup of `what` (a create sent at `requested_at`) stands at `now`.
    pub fn at(
        what: &str,
        requested_at: DateTime<Utc>,
        now: DateTime<Utc>,
        settle: Duration,
    ) -> Self {
        let elapsed = (now - requested_at).to_std().unwrap_or(Duration::ZERO);
        let Some(remaining) = settle.checked_sub(elapsed).filter(|left| !left.is_zero()) else {
            return Self::Settled;
        };
        // Look again soon at first (most late commits land within seconds), then more rarely.
        let next_lookup = (elapsed / 2)
            .clamp(Duration::from_secs(1), Duration::from_secs(60))
            .min(remaining);
        let settles_at = requested_at
            + chrono::Duration::from_std(settle).unwrap_or_else(|_| chrono::Duration::zero());
        Self::Waiting {
            reason: format!(
                "settling an unknown outcome: the {what} sent at {} had no answer and Alpaca does not show it yet; \
                 it may still land, so nothing is sent again before {} (next lookup in {} s)",
                requested_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                settles_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                next_lookup.as_secs().max(1),
            ),
            next_lookup,
        }
    }

    /// The stop that waits, or `None` once settled.
    pub fn into_stop(self) -> Option<Stop> {
        match self {
            Self::Settled => None,
            Self::Waiting {
                reason,
                next_lookup,
            } => Some(Stop::Wait(reason, next_lookup)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(elapsed_ms: i64, settle_ms: u64) -> Settling {
        let sent = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Settling::at(
            "transfer create",
            sent,
            sent + chrono::Duration::milliseconds(elapsed_ms),
            Duration::from_millis(settle_ms),
        )
    }

    #[test]
    fn an_empty_lookup_inside_the_window_waits_and_one_after_it_settles() {
        assert!(matches!(at(300, 600_000), Settling::Waiting { .. }));
        assert!(matches!(at(599_999, 600_000), Settling::Waiting { .. }));
        assert_eq!(at(600_000, 600_000), Settling::Settled);
        assert_eq!(at(900_000, 600_000), Settling::Settled);
        // A clock that went backwards is inside the window, never past it.
        assert!(matches!(at(-5_000, 600_000), Settling::Waiting { .. }));
    }

    #[test]
    fn lookups_start_every_second_grow_and_never_overshoot_the_window() {
        let next = |elapsed, settle| match at(elapsed, settle) {
            Settling::Waiting { next_lookup, .. } => next_lookup,
            Settling::Settled => panic!("settled"),
        };
        assert_eq!(next(100, 600_000), Duration::from_secs(1));
        assert_eq!(next(40_000, 600_000), Duration::from_secs(20));
        assert_eq!(next(500_000, 600_000), Duration::from_secs(60));
        assert_eq!(next(599_500, 600_000), Duration::from_millis(500));
        assert_eq!(next(3_000, 3_500), Duration::from_millis(500));
    }

    #[test]
    fn the_reason_says_what_waits_and_until_when() {
        let Settling::Waiting { reason, .. } = at(1_000, 600_000) else {
            panic!("settled")
        };
        assert!(
            reason.starts_with(
                "settling an unknown outcome: the transfer create sent at 2023-11-14T22:13:20.000Z"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("before 2023-11-14T22:23:20.000Z"),
            "{reason}"
        );
    }
}
