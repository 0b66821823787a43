//! Behaviours of the live Alpaca API that its spec leaves out or that a partner's configuration
//! decides, each off by default (the defaults are the emulator's long-standing behaviour): an ACH
//! fee, whether `cash_withdrawable` nets queued withdrawals, a cap on list pages, and transfers
//! that move on from COMPLETE to SETTLED. Set at run time with
//! [`crate::SandboxControl::set_alpaca_settings`] or `POST /_sandbox/alpaca/settings`.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ControlError;

/// How `cash_withdrawable` treats withdrawals that are queued or in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashWithdrawable {
    /// `cash_withdrawable` is cash less the withdrawals not yet complete, and a withdrawal above
    /// it is refused at create (403). The default.
    #[default]
    Net,
    /// `cash_withdrawable` is cash itself; any withdrawal is accepted at create, and one that cash
    /// does not cover (less the other withdrawals already sent to clearing) is REJECTED at its
    /// next lifecycle step, with the reason [`INSUFFICIENT_FUNDS`] and its funding event.
    Gross,
}

/// The `reason` of a withdrawal rejected because cash did not cover it (`"gross"` mode).
pub const INSUFFICIENT_FUNDS: &str = "R01 insufficient funds";

/// The Alpaca behaviours control can switch; [`Default`] is the emulator's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlpacaSettings {
    /// Fee taken from every ACH transfer created from now on (zero: none). A transfer then shows
    /// `requested_amount` (what was asked), `fee`, `fee_payment_method: "user"` and a net `amount`
    /// (requested − fee), as Alpaca's own sample does. A deposit credits cash with the net amount;
    /// a withdrawal debits cash with the requested amount (the bank receives the net one). A
    /// transfer whose amount does not exceed the fee is refused (422).
    pub ach_fee: Decimal,
    /// Net (default) or gross `cash_withdrawable`.
    pub cash_withdrawable: CashWithdrawable,
    /// List endpoints (`GET /v1/accounts/{id}/transfers`) answer at most this many items whatever
    /// `limit` says (`offset` still applies), so a client must page until an empty page. `None`:
    /// no cap.
    pub list_page_cap: Option<usize>,
    /// COMPLETE transfers (reached by themselves) move on to `SETTLED` this long after, with
    /// their funding event; `None`: they stay COMPLETE. Cash counts a transfer while COMPLETE or
    /// SETTLED, so a RETURNED set through control after SETTLED reverses it.
    pub settled_after_complete: Option<Duration>,
}

impl AlpacaSettings {
    /// Refuses values the emulator cannot honour, naming the field.
    pub(crate) fn check(&self) -> Result<(), ControlError> {
        if self.ach_fee.is_sign_negative() && !self.ach_fee.is_zero() {
            return Err(ControlError::Invalid("ach_fee must not be negative".into()));
        }
        if self.list_page_cap == Some(0) {
            return Err(ControlError::Invalid(
                "list_page_cap must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
