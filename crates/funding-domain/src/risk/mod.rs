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
