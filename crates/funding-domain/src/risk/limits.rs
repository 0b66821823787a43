//! Limits (DESIGN §11): per account, rail and direction, on each transfer, per day (the UTC
//! calendar day) and over a rolling 30 days. A soft limit sends a transfer that would pass it to
//! REVIEW; a hard one refuses it (`LIMIT_EXCEEDED`, naming the limit and what remains). What a
//! window has used is every transfer in it that is in flight or completed (the caller leaves out
//! the failed, cancelled and returned ones): a transfer counts from the moment it is accepted.

use super::{Decision, Rule, Verdict, format_cents};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The refusal code of a limit.
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";

/// One limit, in cents; `None`: no such limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// Above this, REVIEW.
    pub soft: Option<i64>,
    /// Above this, REFUSE.
    pub hard: Option<i64>,
}

impl Limit {
    pub fn is_none(&self) -> bool {
        self.soft.is_none() && self.hard.is_none()
    }
}

/// The limits of one account, rail and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FundingLimits {
    pub per_transfer: Limit,
    pub daily: Limit,
    pub rolling_30_days: Limit,
}

impl FundingLimits {
    /// These limits with each of `overrides`' limits that is set in its place (an account's
    /// overrides over the configured defaults).
    pub fn overridden_by(&self, overrides: &FundingLimits) -> FundingLimits {
        let pick = |base: Limit, over: Limit| if over.is_none() { base } else { over };
        FundingLimits {
            per_transfer: pick(self.per_transfer, overrides.per_transfer),
            daily: pick(self.daily, overrides.daily),
            rolling_30_days: pick(self.rolling_30_days, overrides.rolling_30_days),
        }
    }
}

/// A transfer that counts against the windows: when it was accepted, and its amount in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastTransfer {
    pub at_ms: i64,
    pub amount: i64,
}

/// What the windows have used, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Since the start of the UTC day.
    pub today: i64,
    /// Over the last 30 days (30 × 24 h back from now).
    pub last_30_days: i64,
}

/// The start of the UTC day holding `now_ms`.
pub fn day_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(DAY_MS)
}

/// The start of the rolling 30-day window ending at `now_ms`.
pub fn rolling_start(now_ms: i64) -> i64 {
    now_ms.saturating_sub(30 * DAY_MS)
}

impl Usage {
    /// The windows' use at `now_ms` by `past` (those outside both windows count nowhere).
    pub fn over(past: impl IntoIterator<Item = PastTransfer>, now_ms: i64) -> Usage {
        let (today_from, rolling_from) = (day_start(now_ms), rolling_start(now_ms));
        past.into_iter()
            .fold(Usage::default(), |usage, transfer| Usage {
                today: usage.today
                    + if transfer.at_ms >= today_from {
                        transfer.amount
                    } else {
                        0
                    },
                last_30_days: usage.last_30_days
                    + if transfer.at_ms >= rolling_from {
                        transfer.amount
                    } else {
                        0
                    },
            })
    }
}

/// The limits' decision on a new transfer of `amount` cents, given what the windows have used.
pub fn check_limits(limits: &FundingLimits, usage: &Usage, amount: i64) -> Decision {
    let windows = [
        (
            Rule::PerTransferLimit,
            "per-transfer",
            limits.per_transfer,
            0,
        ),
        (Rule::DailyLimit, "daily", limits.daily, usage.today),
        (
            Rule::Rolling30DayLimit,
            "rolling 30-day",
            limits.rolling_30_days,
            usage.last_30_days,
        ),
    ];
    let figures = vec![
        ("amount", format_cents(amount)),
        ("used_today", format_cents(usage.today)),
        ("used_last_30_days", format_cents(usage.last_30_days)),
    ];
    let decisions = windows.into_iter().map(|(rule, name, limit, used)| {
        let after = used.saturating_add(amount);
        let breach = |verdict: Verdict, kind: &str, ceiling: i64| Decision {
            verdict,
            rule,
            reason: Some(LIMIT_EXCEEDED),
            detail: if rule == Rule::PerTransferLimit {
                format!(
                    "the {kind} {name} limit is {}; {} is above it",
                    format_cents(ceiling),
                    format_cents(amount)
                )
            } else {
                format!(
                    "the {kind} {name} limit of {} has {} left ({} used); {} does not fit",
                    format_cents(ceiling),
                    format_cents((ceiling - used).max(0)),
                    format_cents(used),
                    format_cents(amount)
                )
            },
            figures: figures.clone(),
        };
        match (limit.hard, limit.soft) {
            (Some(hard), _) if after > hard => breach(Verdict::Refuse, "hard", hard),
            (_, Some(soft)) if after > soft => breach(Verdict::Review, "soft", soft),
            _ => Decision::accept(),
        }
    });
    let decision = Decision::strictest(decisions);
    if decision.is_accept() {
        return Decision::accepted_by(Rule::None, "within every limit".to_owned(), figures);
    }
    decision
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DAY: i64 = DAY_MS;

    fn daily(soft: Option<i64>, hard: Option<i64>) -> FundingLimits {
        FundingLimits {
            daily: Limit { soft, hard },
            ..FundingLimits::default()
        }
    }

    #[test]
    fn usage_counts_each_window_from_its_start() {
        let now = 100 * DAY + 3_600_000; // 01:00 UTC
        let past = [
            PastTransfer {
                at_ms: now - 1_000,
                amount: 100,
            }, // today
            PastTransfer {
                at_ms: 100 * DAY - 1,
                amount: 200,
            }, // yesterday, 23:59:59.999
            PastTransfer {
                at_ms: now - 30 * DAY,
                amount: 400,
            }, // the window's first instant
            PastTransfer {
                at_ms: now - 30 * DAY - 1,
                amount: 800,
            }, // outside
        ];
        assert_eq!(
            Usage::over(past, now),
            Usage {
                today: 100,
                last_30_days: 700
            }
        );
    }

    #[test]
    fn a_hard_limit_refuses_naming_what_remains_and_a_soft_one_reviews() {
        let usage = Usage {
            today: 90_000,
            last_30_days: 90_000,
        };
        let refused = check_limits(&daily(None, Some(100_000)), &usage, 20_000);
        assert_eq!(refused.verdict, Verdict::Refuse);
        assert_eq!(refused.rule, Rule::DailyLimit);
        assert_eq!(refused.reason, Some(LIMIT_EXCEEDED));
        assert!(
            refused
                .detail
                .contains("daily limit of 1000.00 has 100.00 left"),
            "{}",
            refused.detail
        );
        let fits = check_limits(&daily(None, Some(100_000)), &usage, 10_000);
        assert_eq!(fits.verdict, Verdict::Accept);
        let reviewed = check_limits(&daily(Some(95_000), Some(100_000)), &usage, 10_000);
        assert_eq!(reviewed.verdict, Verdict::Review);
        let per_transfer = FundingLimits {
            per_transfer: Limit {
                soft: None,
                hard: Some(5_000),
            },
            ..FundingLimits::default()
        };
        let big = check_limits(&per_transfer, &Usage::default(), 5_001);
        assert_eq!(
            (big.verdict, big.rule),
            (Verdict::Refuse, Rule::PerTransferLimit)
        );
    }

    #[test]
    fn an_override_replaces_only_the_limits_it_sets() {
        let defaults = FundingLimits {
            per_transfer: Limit {
                soft: None,
                hard: Some(1),
            },
            daily: Limit {
                soft: None,
                hard: Some(2),
            },
            rolling_30_days: Limit::default(),
        };
        let merged = defaults.overridden_by(&daily(Some(5), Some(10)));
        assert_eq!(merged.per_transfer.hard, Some(1));
        assert_eq!(
            merged.daily,
            Limit {
                soft: Some(5),
                hard: Some(10)
            }
        );
    }

    fn limit() -> impl Strategy<Value = Limit> {
        (
            proptest::option::of(0i64..2_000_000),
            proptest::option::of(0i64..2_000_000),
        )
            .prop_map(|(soft, hard)| Limit { soft, hard })
    }

    proptest! {
        /// A decision never lets a transfer through (ACCEPT or REVIEW) that would take a window
        /// past a hard limit.
        #[test]
        fn no_window_is_ever_taken_past_a_hard_limit(
            per_transfer in limit(),
            daily in limit(),
            rolling in limit(),
            today in 0i64..2_000_000,
            extra in 0i64..2_000_000,
            amount in 1i64..2_000_000,
        ) {
            let limits = FundingLimits { per_transfer, daily, rolling_30_days: rolling };
            let usage = Usage { today, last_30_days: today + extra };
            let decision = check_limits(&limits, &usage, amount);
            if decision.verdict != Verdict::Refuse {
                prop_assert!(per_transfer.hard.is_none_or(|hard| amount <= hard));
                prop_assert!(daily.hard.is_none_or(|hard| today + amount <= hard));
                prop_assert!(rolling.hard.is_none_or(|hard| usage.last_30_days + amount <= hard));
            }
            if decision.verdict == Verdict::Accept {
                prop_assert!(daily.soft.is_none_or(|soft| today + amount <= soft));
            }
        }

        /// Transfers accepted one by one against a hard daily limit never add up past it.
        #[test]
        fn accepting_one_by_one_stays_under_the_hard_limit(
            hard in 0i64..500_000,
            amounts in proptest::collection::vec(1i64..100_000, 0..40),
        ) {
            let limits = daily(None, Some(hard));
            let now = 10 * DAY;
            let mut accepted = Vec::new();
            for amount in amounts {
                let usage = Usage::over(accepted.iter().copied(), now);
                if check_limits(&limits, &usage, amount).verdict != Verdict::Refuse {
                    accepted.push(PastTransfer { at_ms: now, amount });
                }
            }
            prop_assert!(accepted.iter().map(|t| t.amount).sum::<i64>() <= hard);
        }
    }
}
