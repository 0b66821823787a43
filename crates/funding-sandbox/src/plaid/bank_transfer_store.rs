//! Plaid's legacy Bank Transfers state: transfers (`BankTransfer`), their idempotency keys, and the
//! event log behind `/bank_transfer/event/list` and `/bank_transfer/event/sync` (sequential
//! integer event ids from 1). A transfer is created `pending` and stays there until cancelled or
//! simulated (`posted`, `failed`, then `reversed` from `posted`). The origination account's
//! balance follows them: a debit counts once `posted` (and no more once `reversed`); a credit
//! counts from creation while `pending` or `posted` (a cancelled, failed or reversed one gives the
//! money back).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::ids::plaid_timestamp;

/// The one origination account of the emulated client (Plaid's sample id).
pub(crate) const ORIGINATION_ACCOUNT_ID: &str = "11111111-1111-1111-1111-111111111111";

/// `BankTransferFailure`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub ach_return_code: Option<String>,
    pub description: Option<String>,
}

impl Failure {
    fn to_wire(&self) -> Value {
        let mut wire = json!({ "ach_return_code": self.ach_return_code });
        if let (Value::Object(map), Some(description)) = (&mut wire, &self.description) {
            map.insert("description".into(), json!(description));
        }
        wire
    }
}

/// One bank transfer.
#[derive(Clone, Debug)]
pub(crate) struct BankTransfer {
    pub id: String,
    pub account_id: String,
    pub ach_class: Option<String>,
    pub kind: String,
    pub network: String,
    pub amount: String,
    pub iso_currency_code: String,
    pub description: String,
    pub legal_name: String,
    pub email_address: Option<String>,
    pub routing_number: String,
    pub custom_tag: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub created: DateTime<Utc>,
    pub status: String,
    pub failure: Option<Failure>,
}

impl BankTransfer {
    pub(crate) fn cancellable(&self) -> bool {
        self.status == "pending"
    }

    /// What this transfer does to the origination account's available balance now.
    fn balance_effect(&self) -> Decimal {
        let amount = self.amount.parse::<Decimal>().unwrap_or_default();
        match (self.kind.as_str(), self.status.as_str()) {
            ("debit", "posted") => amount,
            ("credit", "pending" | "posted") => -amount,
            _ => Decimal::ZERO,
        }
    }

    /// `ach_class` as sent; a wire sent without one shows `ccd` (the spec's `ACHClass` has no
    /// empty value, and an SDK refuses a transfer whose class is outside the enum).
    fn ach_class_on_wire(&self) -> &str {
        self.ach_class.as_deref().unwrap_or("ccd")
    }

    /// `BankTransfer`.
    pub(crate) fn to_wire(&self) -> Value {
        json!({
            "account_id": self.account_id,
            "ach_class": self.ach_class_on_wire(),
            "amount": self.amount,
            "cancellable": self.cancellable(),
            "created": plaid_timestamp(self.created),
            "custom_tag": self.custom_tag,
            "description": self.description,
            "direction": "outbound",
            "failure_reason": self.failure.as_ref().map(Failure::to_wire),
            "id": self.id,
            "iso_currency_code": self.iso_currency_code,
            "metadata": self.metadata,
            "network": self.network,
            "origination_account_id": ORIGINATION_ACCOUNT_ID,
            "status": self.status,
            "type": self.kind,
            "user": {
                "email_address": self.email_address,
                "legal_name": self.legal_name,
                "routing_number": self.routing_number,
            },
        })
    }
}

/// One stored `BankTransferEvent` with what the list filters need.
#[derive(Clone, Debug)]
pub(crate) struct StoredEvent {
    pub event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event_type: String,
    pub bank_transfer_id: String,
    pub account_id: String,
    pub kind: String,
    wire: Value,
}

impl StoredEvent {
    pub(crate) fn to_wire(&self) -> Value {
        self.wire.clone()
    }
}

/// All bank transfers and their events.
#[derive(Debug, Default)]
pub(crate) struct BankTransfers {
    transfers: Vec<BankTransfer>,
    events: Vec<StoredEvent>,
    /// idempotency key → (index in `transfers`, the request that created it).
    by_key: HashMap<String, (usize, Value)>,
    /// transfer id → index in `transfers` (lookups stay O(1) with many transfers: funding-bench).
    by_id: HashMap<String, usize>,
}

impl BankTransfers {
    /// The transfer created earlier with this key, and whether `request` is the same request.
    pub(crate) fn replay(&self, key: &str, request: &Value) -> Option<(&BankTransfer, bool)> {
        let (index, original) = self.by_key.get(key)?;
        let transfer = self.transfers.get(*index)?;
        Some((transfer, original == request))
    }

    /// Stores a new pending transfer and its `pending` event.
    pub(crate) fn create(&mut self, key: String, request: Value, transfer: BankTransfer) -> Value {
        let wire = transfer.to_wire();
        let now = transfer.created;
        let id = transfer.id.clone();
        self.transfers.push(transfer);
        self.by_key.insert(key, (self.transfers.len() - 1, request));
        self.by_id.insert(id.clone(), self.transfers.len() - 1);
        self.record(&id, "pending", now);
        wire
    }

    pub(crate) fn get(&self, id: &str) -> Option<&BankTransfer> {
        self.by_id
            .get(id)
            .and_then(|&index| self.transfers.get(index))
    }

    /// Newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &BankTransfer> {
        self.transfers.iter().rev()
    }

    /// Moves a transfer to `status` and records the event of the same name.
    pub(crate) fn change(
        &mut self,
        id: &str,
        status: &str,
        failure: Option<Failure>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(transfer) = self
            .by_id
            .get(id)
            .and_then(|&index| self.transfers.get_mut(index))
        else {
            return false;
        };
        transfer.status = status.to_owned();
        transfer.failure = failure;
        self.record(id, status, now);
        true
    }

    /// Events in id order.
    pub(crate) fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// The origination account's available balance: posted debits minus live credits.
    pub(crate) fn available_balance(&self) -> Decimal {
        self.transfers
            .iter()
            .map(BankTransfer::balance_effect)
            .sum()
    }

    /// Appends `wire` as the next event, sent exactly as given (fault injection): its place in
    /// the log is the next `event_id`, which is written into it unless it (an object) carries an
    /// `event_id` already (sent as given, readable or not). Returns its place.
    pub(crate) fn record_raw(&mut self, mut wire: Value, now: DateTime<Utc>) -> u64 {
        let event_id = self.events.last().map_or(1, |last| last.event_id + 1);
        if let Some(object) = wire.as_object_mut() {
            object.entry("event_id").or_insert(json!(event_id));
        }
        let text = |key: &str| {
            wire.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (event_type, bank_transfer_id, account_id, kind) = (
            text("event_type"),
            text("bank_transfer_id"),
            text("account_id"),
            text("bank_transfer_type"),
        );
        self.events.push(StoredEvent {
            event_id,
            timestamp: now,
            event_type,
            bank_transfer_id,
            account_id,
            kind,
            wire,
        });
        event_id
    }

    fn record(&mut self, id: &str, event_type: &str, now: DateTime<Utc>) {
        let Some(transfer) = self
            .by_id
            .get(id)
            .and_then(|&index| self.transfers.get(index))
        else {
            return;
        };
        let event_id = self.events.last().map_or(1, |last| last.event_id + 1);
        let wire = json!({
            "account_id": transfer.account_id,
            "bank_transfer_amount": transfer.amount,
            "bank_transfer_id": transfer.id,
            "bank_transfer_iso_currency_code": transfer.iso_currency_code,
            "bank_transfer_type": transfer.kind,
            "direction": "outbound",
            "event_id": event_id,
            "event_type": event_type,
            "failure_reason": transfer.failure.as_ref().map(Failure::to_wire),
            "origination_account_id": ORIGINATION_ACCOUNT_ID,
            // Only receiver (inbound) events carry a balance; these are all outbound.
            "receiver_details": {"available_balance": null},
            "timestamp": plaid_timestamp(now),
        });
        self.events.push(StoredEvent {
            event_id,
            timestamp: now,
            event_type: event_type.to_owned(),
            bank_transfer_id: transfer.id.clone(),
            account_id: transfer.account_id.clone(),
            kind: transfer.kind.clone(),
            wire,
        });
    }
}
