//! How long a retried piece of work waits: exponential in its attempts, capped, with full jitter
//! (so that work failed together by one outage does not return together).

use std::time::Duration;

/// Capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (1-based): a random duration between half
    /// of `min(cap, base * 2^(attempt-1))` and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.cap)
            .max(Duration::from_millis(1));
        let half = ceiling / 2;
        half + half.mul_f64(jitter())
    }
}

/// A number in [0, 1) from the random state std seeds per process (enough for jitter).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_exponentially_up_to_the_cap_and_is_jittered_within_its_half() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        for (attempt, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (5, 1600),
            (6, 2000),
            (40, 2000),
        ] {
            for _ in 0..50 {
                let delay = backoff.delay(attempt);
                assert!(
                    delay <= Duration::from_millis(ceiling_ms),
                    "{attempt}: {delay:?}"
                );
                assert!(
                    delay >= Duration::from_millis(ceiling_ms / 2),
                    "{attempt}: {delay:?}"
                );
            }
        }
    }

    #[test]
    fn the_jitter_spreads_the_delays() {
        let backoff = Backoff::default();
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| backoff.delay(3)).collect();
        assert!(delays.len() > 1);
    }
}
