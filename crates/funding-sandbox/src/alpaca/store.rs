//! Alpaca's state: brokerage accounts (any well-formed UUID is an ACTIVE account with zero cash
//! until told otherwise), ACH relationships and transfers, kept in creation order, with their
//! wire shapes (`ACHRelationship`, `Transfer`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::settings::CashWithdrawable;
use crate::ids::alpaca_timestamp;

/// Status every account has until control says otherwise.
pub(crate) const ACTIVE: &str = "ACTIVE";

/// Relationship statuses that no longer count as "active" (a new one may be created).
pub(crate) const INACTIVE_RELATIONSHIP: &[&str] = &["CANCELED", "REJECTED"];
/// Transfer statuses in which money has not moved yet and a withdrawal still holds cash.
pub(crate) const PENDING_TRANSFER: &[&str] = &[
    "QUEUED",
    "APPROVAL_PENDING",
    "PENDING",
    "SENT_TO_CLEARING",
    "APPROVED",
];
/// Outgoing transfer statuses past the point where a `"gross"` withdrawal's cash was checked,
/// whose amount the account still owes until they COMPLETE.
pub(crate) const COMMITTED_TRANSFER: &[&str] = &["SENT_TO_CLEARING", "APPROVED"];
/// Transfer statuses in which the amount counts in the account's cash.
pub(crate) const SETTLED_TRANSFER: &[&str] = &["COMPLETE", "SETTLED"];
/// Transfer statuses in which a DELETE still cancels.
pub(crate) const CANCELABLE_TRANSFER: &[&str] = &["QUEUED", "APPROVAL_PENDING", "PENDING"];

/// Owner every account has until control says otherwise: Plaid's sandbox owner, so that a
/// default link passes an owner-name check. `identity.given_name` is all but the last word.
pub(crate) const DEFAULT_GIVEN_NAME: &str = "Alberta Bobbeth";
/// `identity.family_name` of the default owner.
pub(crate) const DEFAULT_FAMILY_NAME: &str = "Charleson";

/// A brokerage account as far as funding (and its risk checks) cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSnapshot {
    /// Account status (`ACTIVE`, `ACCOUNT_CLOSED`, …).
    pub status: String,
    /// Settled cash: completed deposits minus completed withdrawals (plus control adjustments).
    pub cash: Decimal,
    /// The owner's `identity.given_name` (first and middle names), `Alberta Bobbeth` by default.
    pub given_name: String,
    /// The owner's `identity.family_name`, `Charleson` by default.
    pub family_name: String,
}

impl AccountSnapshot {
    /// The owner's full name: given name, then family name.
    pub fn owner_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

impl Default for AccountSnapshot {
    fn default() -> Self {
        Self {
            status: ACTIVE.to_owned(),
            cash: Decimal::ZERO,
            given_name: DEFAULT_GIVEN_NAME.to_owned(),
            family_name: DEFAULT_FAMILY_NAME.to_owned(),
        }
    }
}

/// Direction of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "INCOMING" => Some(Self::Incoming),
            "OUTGOING" => Some(Self::Outgoing),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "INCOMING",
            Self::Outgoing => "OUTGOING",
        }
    }
}

/// An ACH relationship.
#[derive(Clone, Debug)]
pub(crate) struct Relationship {
    pub id: Uuid,
    pub account_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status: String,
    pub account_owner_name: String,
    /// `CHECKING` or `SAVINGS` (for a processor token, from the Plaid account's subtype).
    pub bank_account_type: String,
    /// Masked account number (`XXXXXXXXXXXX0000`): all but the last four characters are `X`.
    pub bank_account_number: String,
    pub bank_routing_number: String,
    pub nickname: Option<String>,
    /// Bumped on every change; scheduled steps carry the version they expect.
    pub version: u64,
}

impl Relationship {
    pub(crate) fn is_active(&self) -> bool {
        !INACTIVE_RELATIONSHIP.contains(&self.status.as_str())
    }

    /// `ACHRelationship`. `bank_account_type`, `bank_account_number` and `bank_routing_number`
    /// are always present: alpaca-py's `ACHRelationship` model requires them.
    pub(crate) fn to_wire(&self) -> Value {
        let mut wire = json!({
            "id": self.id,
            "account_id": self.account_id,
            "created_at": alpaca_timestamp(self.created_at),
            "updated_at": alpaca_timestamp(self.updated_at),
            "status": self.status,
            "account_owner_name": self.account_owner_name,
            "bank_account_type": self.bank_account_type,
            "bank_account_number": self.bank_account_number,
            "bank_routing_number": self.bank_routing_number,
        });
        if let (Value::Object(map), Some(nickname)) = (&mut wire, &self.nickname) {
            map.insert("nickname".into(), json!(nickname));
        }
        wire
    }
}

/// An ACH transfer.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub id: Uuid,
    pub account_id: Uuid,
    pub relationship_id: Uuid,
    /// What the recipient gets: `requested_amount` less the fee.
    pub amount: Decimal,
    /// What was asked for.
    pub requested_amount: Decimal,
    /// The ACH fee taken (zero by default).
    pub fee: Decimal,
    pub direction: Direction,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether the amount is currently counted in the account's cash (true exactly while the
    /// status is COMPLETE or SETTLED).
    pub cash_applied: bool,
    pub version: u64,
}

impl Transfer {
    /// `Transfer`. Amounts are written the way Alpaca's decimals print (`"500"`, `"10.5"`). With
    /// a fee, as in Alpaca's sample: `requested_amount` 500, `fee` 2, `amount` 498, paid by the
    /// `user`; without, the fee is `"0"` and `invoice`.
    pub(crate) fn to_wire(&self) -> Value {
        let text = |value: Decimal| value.normalize().to_string();
        let fee_payment_method = if self.fee.is_zero() {
            "invoice"
        } else {
            "user"
        };
        json!({
            "id": self.id,
            "relationship_id": self.relationship_id,
            "account_id": self.account_id,
            "type": "ach",
            "status": self.status,
            "reason": self.reason,
            "amount": text(self.amount),
            "direction": self.direction.as_str(),
            "created_at": alpaca_timestamp(self.created_at),
            "updated_at": alpaca_timestamp(self.updated_at),
            "expires_at": alpaca_timestamp(self.expires_at),
            "requested_amount": text(self.requested_amount),
            "fee": text(self.fee),
            "fee_payment_method": fee_payment_method,
        })
    }

    /// What the transfer moves in or out of the account's cash: a deposit credits the net
    /// amount, a withdrawal debits the requested amount.
    pub(crate) fn cash_amount(&self) -> Decimal {
        match self.direction {
            Direction::Incoming => self.amount,
            Direction::Outgoing => self.requested_amount,
        }
    }

    /// Signed effect on cash when COMPLETE (or SETTLED).
    pub(crate) fn cash_effect(&self) -> Decimal {
        match self.direction {
            Direction::Incoming => self.cash_amount(),
            Direction::Outgoing => -self.cash_amount(),
        }
    }
}

/// All Alpaca state.
#[derive(Debug, Default)]
pub(crate) struct AlpacaWorld {
    pub accounts: HashMap<Uuid, AccountSnapshot>,
    pub relationships: Vec<Relationship>,
    pub transfers: Vec<Transfer>,
}

impl AlpacaWorld {
    pub(crate) fn account(&self, account_id: Uuid) -> AccountSnapshot {
        self.accounts.get(&account_id).cloned().unwrap_or_default()
    }

    pub(crate) fn account_mut(&mut self, account_id: Uuid) -> &mut AccountSnapshot {
        self.accounts.entry(account_id).or_default()
    }

    pub(crate) fn relationship_mut(&mut self, id: Uuid) -> Option<&mut Relationship> {
        self.relationships.iter_mut().find(|r| r.id == id)
    }

    pub(crate) fn transfer_mut(&mut self, id: Uuid) -> Option<&mut Transfer> {
        self.transfers.iter_mut().find(|t| t.id == id)
    }

    /// The account's relationships, oldest first.
    pub(crate) fn relationships_of(&self, account_id: Uuid) -> impl Iterator<Item = &Relationship> {
        self.relationships
            .iter()
            .filter(move |r| r.account_id == account_id)
    }

    /// `cash_withdrawable`: cash minus pending withdrawals (`net`), or cash itself (`gross`).
    pub(crate) fn withdrawable(&self, account_id: Uuid, mode: CashWithdrawable) -> Decimal {
        let cash = self.account(account_id).cash;
        match mode {
            CashWithdrawable::Net => {
                cash.saturating_sub(self.pending(account_id, Direction::Outgoing))
            }
            CashWithdrawable::Gross => cash,
        }
    }

    /// Sum of pending transfers of the account in one direction (what they will move in cash).
    pub(crate) fn pending(&self, account_id: Uuid, direction: Direction) -> Decimal {
        self.sum_outstanding(account_id, direction, PENDING_TRANSFER, None)
    }

    /// Whether the account's cash covers withdrawal `transfer_id`, counting the other
    /// withdrawals already sent to clearing (`"gross"` mode's check at each lifecycle step).
    pub(crate) fn cash_covers(&self, transfer: &Transfer) -> bool {
        let committed = self.sum_outstanding(
            transfer.account_id,
            Direction::Outgoing,
            COMMITTED_TRANSFER,
            Some(transfer.id),
        );
        let available = self
            .account(transfer.account_id)
            .cash
            .saturating_sub(committed);
        transfer.cash_amount() <= available
    }

    fn sum_outstanding(
        &self,
        account_id: Uuid,
        direction: Direction,
        statuses: &[&str],
        except: Option<Uuid>,
    ) -> Decimal {
        self.transfers
            .iter()
            .filter(|t| {
                t.account_id == account_id
                    && t.direction == direction
                    && Some(t.id) != except
                    && statuses.contains(&t.status.as_str())
            })
            .map(Transfer::cash_amount)
            .fold(Decimal::ZERO, Decimal::saturating_add)
    }
}
