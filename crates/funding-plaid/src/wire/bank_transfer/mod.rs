//! The legacy Bank Transfers bodies: `/processor/bank_transfer/create`, `/bank_transfer/get`,
//! `/bank_transfer/cancel`, `/bank_transfer/list`, `/bank_transfer/event/list`,
//! `/bank_transfer/event/sync`, `/bank_transfer/balance/get` and the sandbox's
//! `/sandbox/processor_token/create`, `/sandbox/bank_transfer/simulate` and
//! `/sandbox/bank_transfer/fire_webhook`; Plaid's [`BankTransfer`] and [`BankTransferEvent`]
//! objects and their conversion into the core port's types. Enum strings this adapter does not know
//! are kept ([`OrUnknown`], `PlaidBankTransferStatus::Unknown`), so one new value never blocks the
//! event cursor; fields Plaid adds later (`receiver_details` on events since 2020-09-14_1.778,
//! `originator_client_id` on transfers) are read past.
//!
//! This file holds Plaid's objects and their conversions; the endpoints' bodies are in `bodies.rs`.

mod bodies;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use funding_core::ports::{self, PlaidBankTransfer, PlaidBankTransferEvent};
use funding_domain::{
    AchClass, AchReturnCode, BankTransferDirection, BankTransferType, Network, OrUnknown,
    PlaidBankTransferId, PlaidBankTransferStatus,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub(crate) use bodies::{
    BankTransferBalanceGetRequest, BankTransferBalanceGetResponse, BankTransferEventListRequest,
    BankTransferEventListResponse, BankTransferEventSyncRequest, BankTransferEventSyncResponse,
    BankTransferIdRequest, BankTransferListRequest, BankTransferListResponse, BankTransferResponse,
    EmptyResponse, ProcessorBankTransferCreateRequest, SandboxBankTransferFireWebhookRequest,
    SandboxBankTransferSimulateRequest, SandboxProcessorTokenCreateRequest,
    SandboxProcessorTokenCreateResponse, read_synced_event,
};

/// Plaid's `BankTransfer` object (all 17 fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BankTransfer {
    pub id: PlaidBankTransferId,
    /// Required by the spec; `None` if Plaid ever sends `null` (wires carry no ACH class).
    pub ach_class: Option<OrUnknown<AchClass>>,
    /// The Plaid account of the end user.
    pub account_id: String,
    #[serde(rename = "type")]
    pub transfer_type: OrUnknown<BankTransferType>,
    pub user: BankTransferUserDetails,
    /// A decimal string on the wire (`"12.34"`).
    pub amount: Decimal,
    pub iso_currency_code: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub status: PlaidBankTransferStatus,
    pub network: OrUnknown<Network>,
    /// Whether `/bank_transfer/cancel` may still cancel it.
    pub cancellable: bool,
    /// Set when the transfer failed or was reversed.
    pub failure_reason: Option<BankTransferFailure>,
    pub custom_tag: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub origination_account_id: Option<String>,
    pub direction: Option<OrUnknown<BankTransferDirection>>,
}

/// `BankTransferUser` as Plaid returns it, `routing_number` included.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BankTransferUserDetails {
    pub legal_name: String,
    #[serde(default)]
    pub email_address: Option<String>,
    /// Response-only; never sent.
    #[serde(default)]
    pub routing_number: Option<String>,
}

/// `BankTransferFailure`: why a transfer failed or was reversed. Also the `failure_reason` of a
/// sandbox simulation, where unset fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransferFailure {
    /// Given when the transfer was reversed, e.g. `R01`; unknown codes are kept as given.
    #[serde(default, with = "return_code", skip_serializing_if = "Option::is_none")]
    pub ach_return_code: Option<AchReturnCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Plaid's `BankTransferEvent`, as `/bank_transfer/event/sync` and `/bank_transfer/event/list`
/// list them. Fields this adapter does not read (`receiver_details`, which newer API versions
/// require) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BankTransferEvent {
    /// Sequential; the cursor for the next sync.
    pub event_id: u64,
    pub timestamp: DateTime<Utc>,
    /// `BankTransferEventType`: its values are the statuses the transfer moves to.
    pub event_type: PlaidBankTransferStatus,
    pub account_id: String,
    pub bank_transfer_id: PlaidBankTransferId,
    /// Kept as given; Plaid may send `null` or an empty string.
    pub origination_account_id: Option<String>,
    pub bank_transfer_type: OrUnknown<BankTransferType>,
    pub bank_transfer_amount: Decimal,
    pub bank_transfer_iso_currency_code: String,
    pub failure_reason: Option<BankTransferFailure>,
    pub direction: Option<OrUnknown<BankTransferDirection>>,
}

/// The events `/sandbox/bank_transfer/simulate` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimulatedBankTransferEvent {
    /// pending → posted.
    Posted,
    /// pending → failed.
    Failed,
    /// posted → reversed (give an `ach_return_code`).
    Reversed,
}

impl From<BankTransferFailure> for ports::BankTransferFailure {
    fn from(failure: BankTransferFailure) -> Self {
        Self {
            ach_return_code: failure.ach_return_code,
            description: failure.description,
        }
    }
}

impl From<&ports::BankTransferFailure> for BankTransferFailure {
    fn from(failure: &ports::BankTransferFailure) -> Self {
        Self {
            ach_return_code: failure.ach_return_code.clone(),
            description: failure.description.clone(),
        }
    }
}

impl From<ports::SimulatedBankTransferEvent> for SimulatedBankTransferEvent {
    fn from(event: ports::SimulatedBankTransferEvent) -> Self {
        match event {
            ports::SimulatedBankTransferEvent::Posted => Self::Posted,
            ports::SimulatedBankTransferEvent::Failed => Self::Failed,
            ports::SimulatedBankTransferEvent::Reversed => Self::Reversed,
        }
    }
}

impl From<BankTransfer> for PlaidBankTransfer {
    /// Enum values as read (an unknown one as the string Plaid sent); a `null` metadata an empty
    /// map.
    fn from(transfer: BankTransfer) -> Self {
        Self {
            id: transfer.id,
            ach_class: transfer.ach_class,
            account_id: transfer.account_id,
            transfer_type: transfer.transfer_type,
            user_legal_name: transfer.user.legal_name,
            user_email_address: transfer.user.email_address,
            user_routing_number: transfer.user.routing_number,
            amount: transfer.amount,
            iso_currency_code: transfer.iso_currency_code,
            description: transfer.description,
            created: transfer.created,
            status: transfer.status,
            network: transfer.network,
            cancellable: transfer.cancellable,
            failure_reason: transfer.failure_reason.map(Into::into),
            custom_tag: transfer.custom_tag,
            metadata: transfer.metadata.unwrap_or_default(),
            origination_account_id: transfer.origination_account_id,
            direction: transfer.direction,
        }
    }
}

impl From<BankTransferEvent> for PlaidBankTransferEvent {
    /// Enum values as read (an unknown one as the string Plaid sent).
    fn from(event: BankTransferEvent) -> Self {
        Self {
            event_id: event.event_id,
            timestamp: event.timestamp,
            event_type: event.event_type,
            account_id: event.account_id,
            bank_transfer_id: event.bank_transfer_id,
            origination_account_id: event.origination_account_id,
            bank_transfer_type: event.bank_transfer_type,
            bank_transfer_amount: event.bank_transfer_amount,
            bank_transfer_iso_currency_code: event.bank_transfer_iso_currency_code,
            failure_reason: event.failure_reason.map(Into::into),
            direction: event.direction,
        }
    }
}

/// `ach_return_code` as a string on the wire, an [`AchReturnCode`] here.
mod return_code {
    use funding_domain::AchReturnCode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<AchReturnCode>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(|code| AchReturnCode::parse(&code)))
    }

    pub fn serialize<S: Serializer>(
        code: &Option<AchReturnCode>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match code {
            Some(code) => serializer.serialize_str(code.code()),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bank_transfer_with_values_plaid_added_later_is_still_read() {
        let transfer: BankTransfer = serde_json::from_value(serde_json::json!({
            "id": "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9", "ach_class": "iat",
            "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B", "type": "refund",
            "user": {"legal_name": "John Smith", "email_address": null, "routing_number": "111111111"},
            "amount": "12.34", "iso_currency_code": "USD", "description": "Testing2",
            "created": "2020-08-06T17:27:15Z", "status": "settled", "network": "rtp", "cancellable": false,
            "failure_reason": {"ach_return_code": "R99", "description": "new"}, "custom_tag": null,
            "metadata": null, "origination_account_id": "", "direction": "sideways", "brand_new_field": 1
        }))
        .unwrap();
        assert_eq!(transfer.ach_class, Some(OrUnknown::Unknown("iat".into())));
        assert_eq!(transfer.transfer_type, OrUnknown::Unknown("refund".into()));
        assert_eq!(
            transfer.status,
            PlaidBankTransferStatus::Unknown("settled".into())
        );
        assert_eq!(transfer.network, OrUnknown::Unknown("rtp".into()));
        assert_eq!(
            transfer.direction,
            Some(OrUnknown::Unknown("sideways".into()))
        );
        let failure = transfer.failure_reason.unwrap();
        assert_eq!(
            failure.ach_return_code,
            Some(AchReturnCode::Unknown("R99".into()))
        );
        assert_eq!(transfer.amount.to_string(), "12.34");
    }

    #[test]
    fn a_simulated_failure_sends_only_what_is_set() {
        let failure = BankTransferFailure {
            ach_return_code: Some(AchReturnCode::parse("R01")),
            description: None,
        };
        assert_eq!(
            serde_json::to_value(&failure).unwrap(),
            serde_json::json!({"ach_return_code": "R01"})
        );
        assert_eq!(
            serde_json::to_value(BankTransferFailure::default()).unwrap(),
            serde_json::json!({})
        );
    }
}
