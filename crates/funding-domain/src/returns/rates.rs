//! NACHA's return rates (DESIGN §12): over the last 60 days, returned debits as a share of the
//! debits originated, by category — unauthorized (ceiling 0.5 %), administrative (3 %) and overall
//! (15 %). Pure arithmetic over what the caller counted; a rate is in basis points (1 % = 100) so
//! that it is exact and comparable.

use crate::ReturnCategory;

/// Milliseconds in NACHA's window: 60 days.
pub const WINDOW_MS: i64 = 60 * 86_400_000;

/// NACHA's ceilings, in basis points.
pub const UNAUTHORIZED_CEILING_BP: u32 = 50;
pub const ADMINISTRATIVE_CEILING_BP: u32 = 300;
pub const OVERALL_CEILING_BP: u32 = 1_500;

/// One debit originated in the window, and how it came back, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debit {
    pub at_ms: i64,
    pub returned: Option<ReturnCategory>,
}

/// The window's counts and rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReturnRates {
    pub debits: u64,
    pub unauthorized: u64,
    pub administrative: u64,
    /// Every return, of any category.
    pub returned: u64,
}

impl ReturnRates {
    /// The rates of the debits made in the 60 days before `now_ms`.
    pub fn over(debits: impl IntoIterator<Item = Debit>, now_ms: i64) -> Self {
        let from = now_ms.saturating_sub(WINDOW_MS);
        let mut rates = Self::default();
        for debit in debits
            .into_iter()
            .filter(|d| d.at_ms >= from && d.at_ms <= now_ms)
        {
            rates.debits += 1;
            match debit.returned {
                Some(ReturnCategory::Unauthorized) => {
                    rates.unauthorized += 1;
                    rates.returned += 1;
                }
                Some(ReturnCategory::Administrative) => {
                    rates.administrative += 1;
                    rates.returned += 1;
                }
                Some(ReturnCategory::Other) => rates.returned += 1,
                None => {}
            }
        }
        rates
    }

    fn basis_points(count: u64, of: u64) -> u32 {
        if of == 0 {
            return 0;
        }
        u32::try_from(count.saturating_mul(10_000) / of).unwrap_or(u32::MAX)
    }

    pub fn unauthorized_bp(&self) -> u32 {
        Self::basis_points(self.unauthorized, self.debits)
    }

    pub fn administrative_bp(&self) -> u32 {
        Self::basis_points(self.administrative, self.debits)
    }

    pub fn overall_bp(&self) -> u32 {
        Self::basis_points(self.returned, self.debits)
    }

    /// The ceilings this window is above, by name.
    pub fn ceilings_passed(&self) -> Vec<&'static str> {
        let mut passed = Vec::new();
        if self.unauthorized_bp() > UNAUTHORIZED_CEILING_BP {
            passed.push("unauthorized");
        }
        if self.administrative_bp() > ADMINISTRATIVE_CEILING_BP {
            passed.push("administrative");
        }
        if self.overall_bp() > OVERALL_CEILING_BP {
            passed.push("overall");
        }
        passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn rates_count_the_window_by_category() {
        let now = 100 * DAY;
        let mut debits: Vec<Debit> = (0..400)
            .map(|i| Debit {
                at_ms: now - (i % 59) * DAY,
                returned: None,
            })
            .collect();
        debits[0].returned = Some(ReturnCategory::Unauthorized);
        debits[1].returned = Some(ReturnCategory::Unauthorized);
        debits[2].returned = Some(ReturnCategory::Administrative);
        debits[3].returned = Some(ReturnCategory::Other);
        // Outside the window: not counted.
        debits.push(Debit {
            at_ms: now - 61 * DAY,
            returned: Some(ReturnCategory::Unauthorized),
        });
        let rates = ReturnRates::over(debits, now);
        assert_eq!(rates.debits, 400);
        assert_eq!(
            (rates.unauthorized, rates.administrative, rates.returned),
            (2, 1, 4)
        );
        assert_eq!(rates.unauthorized_bp(), 50); // 0.5 %: at the ceiling, not above
        assert_eq!(rates.administrative_bp(), 25);
        assert_eq!(rates.overall_bp(), 100);
        assert!(rates.ceilings_passed().is_empty());
    }

    #[test]
    fn a_window_above_a_ceiling_names_it_and_an_empty_one_has_no_rate() {
        let now = 10 * DAY;
        let debits = (0..100).map(|i| Debit {
            at_ms: now - DAY,
            returned: (i < 1).then_some(ReturnCategory::Unauthorized),
        });
        let rates = ReturnRates::over(debits, now);
        assert_eq!(rates.unauthorized_bp(), 100);
        assert_eq!(rates.ceilings_passed(), vec!["unauthorized"]);
        assert_eq!(ReturnRates::over([], now).overall_bp(), 0);
    }
}
