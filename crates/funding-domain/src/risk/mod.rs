//! Risk rules (DESIGN §11), as pure functions other tools can reuse: each check answers a
//! [`Decision`] (ACCEPT, REVIEW or REFUSE) naming the rule that decided and the figures it saw.
//! - [`balance`]: the bank's available balance against a debit;
//! - [`limits`]: per-transfer, daily and rolling 30-day limits, soft (review) and hard (refuse),
//!   over a window of past transfers;
//! - [`names`]: the owner-name scorer used when Plaid's `/identity/match` is not available.
//!
//! Amounts are whole cents (`i64`) and times milliseconds since the Unix epoch (UTC), so the
//! rules need no clock and no IO.

pub mod balance;
mod decision;
pub mod limits;
pub mod names;

pub use decision::{Decision, Rule, Verdict};

/// The reason code of a transfer refused because its account's funding is frozen.
pub const ACCOUNT_FROZEN: &str = "ACCOUNT_FROZEN";

/// The decision on any transfer of an account whose funding is frozen (DESIGN §11, §12): REFUSE.
pub fn frozen(why: &str) -> Decision {
    Decision {
        verdict: Verdict::Refuse,
        rule: Rule::Frozen,
        reason: Some(ACCOUNT_FROZEN),
        detail: format!("the account's funding is frozen: {why}"),
        figures: Vec::new(),
    }
}

/// Whole cents of a decimal amount (`"12.34"` → 1234), rounded half away from zero; `None` when
/// it does not fit.
pub fn cents(amount: rust_decimal::Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    (amount * rust_decimal::Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
}

/// Cents as the providers print amounts: `"1000.00"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_print_as_providers_print_amounts() {
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(100_000), "1000.00");
        assert_eq!(format_cents(-1_234), "-12.34");
    }
}
