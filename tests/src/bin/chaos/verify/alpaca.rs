//! Alpaca's side of the run: each account's relationships and transfers as its API shows them, and
//! the overdraw check against them (OVERDRAW).

use std::collections::BTreeMap;

use super::{Examination, Rows};
use crate::{Account, Run};

/// The `reason` Alpaca gives a withdrawal its cash did not cover (gross `cash_withdrawable`).
const INSUFFICIENT_FUNDS: &str = "R01 insufficient funds";

/// How long before a withdrawal's creation fundingd may have read the account's cash: a deposit
/// returned since then may have made it uncovered.
const RETURN_SLACK_S: f64 = 10.0;

/// Alpaca's timestamp (`2021-04-08T23:01:53.35743328Z`) as seconds since 1970 (`NaN` if it is
/// not one, so that no comparison holds).
fn seconds(text: &str) -> f64 {
    let parse = || -> Option<f64> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, d) = (date.next()??, date.next()??, date.next()??);
        let mut time = time.split(':');
        let (h, min) = (
            time.next()?.parse::<f64>().ok()?,
            time.next()?.parse::<f64>().ok()?,
        );
        let sec = time.next()?.parse::<f64>().ok()?;
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days as f64 * 86_400.0 + h * 3_600.0 + min * 60.0 + sec)
    };
    parse().unwrap_or(f64::NAN)
}

fn cents(amount: &str) -> Option<i64> {
    let value: rust_decimal::Decimal = amount.parse().ok()?;
    let scaled = (value * rust_decimal::Decimal::from(100)).round();
    scaled.to_string().parse().ok()
}

/// One Alpaca transfer as verification needs it.
#[derive(Debug, Clone)]
pub(super) struct SeenTransfer {
    pub(super) direction: String,
    pub(super) status: String,
    pub(super) reason: String,
    /// `created_at` and `updated_at` (the time of its last change), in seconds.
    pub(super) created: f64,
    pub(super) updated: f64,
    /// What was asked for (`requested_amount`): our amount.
    pub(super) requested_cents: i64,
    /// What moves into the account for a deposit (`amount`, net of the fee).
    pub(super) net_cents: i64,
}

impl SeenTransfer {
    /// What the emulator counts in cash: a deposit credits the net amount, a withdrawal debits
    /// the requested one.
    fn cash_cents(&self) -> i64 {
        if self.direction == "INCOMING" {
            self.net_cents
        } else {
            self.requested_cents
        }
    }
}

/// Alpaca's view of one account.
#[derive(Default)]
pub(super) struct AtAlpaca {
    pub(super) relationships: BTreeMap<String, String>,
    pub(super) transfers: BTreeMap<String, SeenTransfer>,
}

/// Whether our transfer status agrees with Alpaca's: SETTLED (sent after COMPLETE, beyond the
/// spec) is COMPLETE to us.
pub(super) fn same_transfer_status(ours: &str, theirs: &str) -> bool {
    ours == theirs || (ours == "COMPLETE" && theirs == "SETTLED")
}

/// Alpaca's view of `account`: its relationships and transfers.
pub(super) async fn alpaca_account(run: &Run, account: &str) -> anyhow::Result<AtAlpaca> {
    let mut seen = AtAlpaca::default();
    let relationships = run
        .emulator
        .alpaca_get(&format!("/v1/accounts/{account}/ach_relationships"))
        .await?;
    for relationship in relationships.as_array().cloned().unwrap_or_default() {
        seen.relationships.insert(
            relationship["id"].as_str().unwrap_or_default().to_owned(),
            relationship["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for transfer in run.emulator.alpaca_transfers(account).await? {
        let text = |field: &str| transfer[field].as_str().unwrap_or_default().to_owned();
        let net_cents = cents(transfer["amount"].as_str().unwrap_or("0")).unwrap_or(0);
        seen.transfers.insert(
            text("id"),
            SeenTransfer {
                direction: text("direction"),
                status: text("status"),
                reason: text("reason"),
                created: seconds(&text("created_at")),
                updated: seconds(&text("updated_at")),
                requested_cents: transfer["requested_amount"]
                    .as_str()
                    .and_then(cents)
                    .unwrap_or(net_cents),
                net_cents,
            },
        );
    }
    Ok(seen)
}

/// No overdraw, account by account (the rows are our transfers'); the number of withdrawals Alpaca
/// rejected for cash that an ACH return explains.
pub(super) fn overdraw(ex: &mut Examination, accounts: &[Account], transfer_rows: &Rows) -> usize {
    let mut rejected_after_return = 0;
    // No overdraw: what Alpaca let out of each account never exceeds what it had (its cash at the
    // start plus what the deposits that completed credited, net of any fee, returned ones
    // included, since they were cash then; a withdrawal debits its requested amount, as the
    // emulator does); and neither does what we accepted. With a gross `cash_withdrawable` Alpaca
    // takes any withdrawal and REJECTs the one cash does not cover: fundingd must never send one,
    // unless an ACH return took back a deposit the account's cash counted.
    for account in accounts {
        let Some(seen) = ex.alpaca.get(&account.account_id) else {
            continue;
        };
        let mut available = account.initial_cash_cents;
        let mut withdrawn = 0;
        // When the account's deposits were returned.
        let mut returns = Vec::new();
        for t in seen.transfers.values() {
            if t.direction == "INCOMING"
                && matches!(t.status.as_str(), "COMPLETE" | "SETTLED" | "RETURNED")
            {
                available += t.cash_cents();
                if t.status == "RETURNED" {
                    returns.push(t.updated);
                }
            }
            if t.direction == "OUTGOING"
                && !matches!(t.status.as_str(), "CANCELED" | "REJECTED" | "EXPIRED")
            {
                withdrawn += t.cash_cents();
            }
        }
        let ours: i64 = transfer_rows
            .iter()
            .filter(|r| r[1].as_deref() == Some(account.account_id.as_str()))
            .filter(|r| r[4].as_deref() == Some("withdrawal"))
            .filter(|r| {
                !matches!(
                    r[2].as_deref(),
                    Some("FAILED" | "CANCELED" | "REJECTED" | "EXPIRED")
                )
            })
            .filter_map(|r| cents(r[5].as_deref().unwrap_or("0")))
            .sum();
        if withdrawn > available || ours > available {
            ex.violations.push(format!(
                "OVERDRAW: account {}: {withdrawn} cents withdrawn at Alpaca, {ours} accepted by us, against {available} available",
                account.account_id
            ));
        }
        for (id, t) in &seen.transfers {
            if t.direction == "OUTGOING" && t.status == "REJECTED" && t.reason == INSUFFICIENT_FUNDS
            {
                // A return between the moment fundingd could have read the cash (shortly before
                // the create) and the rejection explains it; anything else is ours.
                if returns
                    .iter()
                    .any(|at| *at >= t.created - RETURN_SLACK_S && *at <= t.updated)
                {
                    rejected_after_return += 1;
                } else {
                    ex.violations.push(format!(
                        "OVERDRAW: account {}: Alpaca REJECTED withdrawal {id} of {} cents ({:?}): \
                         fundingd sent a withdrawal the account's cash did not cover, and no ACH \
                         return took cash back in the meantime",
                        account.account_id, t.requested_cents, t.reason
                    ));
                }
            }
        }
    }
    rejected_after_return
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpaca_timestamps_read_as_seconds() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(seconds("2021-04-08T23:01:53Z"), 1_617_922_913.0);
        let fraction = seconds("2021-04-08T23:01:53.35743328Z") - 1_617_922_913.0;
        assert!((fraction - 0.357_433_28).abs() < 1e-6);
        assert!(seconds("2024-03-01T00:00:00Z") - seconds("2024-02-28T00:00:00Z") == 172_800.0);
        assert!(seconds("yesterday").is_nan());
    }
}
