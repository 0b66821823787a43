//! The emulator clock: wall-clock time plus an offset that only grows. Every timestamp the
//! emulator writes (created_at, event `at`, ULIDs) and every expiry it checks (public tokens)
//! reads this clock, so tests move time forward with `advance_clock` instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Wall clock shifted forward by an adjustable offset.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_nanos: AtomicU64,
}

impl Clock {
    /// The emulator's current time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let nanos = self.offset_nanos.load(Ordering::SeqCst);
        let offset = chrono::Duration::nanoseconds(i64::try_from(nanos).unwrap_or(i64::MAX));
        let real = Utc::now();
        real.checked_add_signed(offset).unwrap_or(real)
    }

    /// Moves the clock forward by `by` (saturating).
    pub(crate) fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                Some(current.saturating_add(add))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_the_amount() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() - before >= chrono::Duration::seconds(3600));
    }
}
