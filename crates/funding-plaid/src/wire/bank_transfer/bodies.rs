//! The request and response bodies of each legacy Bank Transfers endpoint (and the sandbox's),
//! as this adapter sends and reads them: requests serialize only the fields the spec declares,
//! unset optional ones left out; a sync page's events are read one by one
//! ([`read_synced_event`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use funding_core::ports::{
    BankTransferBalance, PlaidBankTransferEventFilter, PlaidBankTransferListFilter,
    SyncedPlaidEvent,
};
use funding_domain::{
    AchClass, Amount, BankTransferDirection, BankTransferRequest, BankTransferType, Currency,
    Network, PlaidBankTransferId, PlaidBankTransferStatus,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{BankTransfer, BankTransferEvent, BankTransferFailure, SimulatedBankTransferEvent};
use crate::failure::describe_json_error;

/// `ProcessorBankTransferCreateRequest`. `user.routing_number` has no field here: it is never sent.
#[derive(Serialize)]
pub(crate) struct ProcessorBankTransferCreateRequest<'a> {
    idempotency_key: &'a str,
    processor_token: &'a str,
    #[serde(rename = "type")]
    transfer_type: BankTransferType,
    network: Network,
    amount: Amount,
    iso_currency_code: Currency,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ach_class: Option<AchClass>,
    user: UserRequest<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origination_account_id: Option<&'a str>,
}

#[derive(Serialize)]
struct UserRequest<'a> {
    legal_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address: Option<&'a str>,
}

impl<'a> From<&'a BankTransferRequest> for ProcessorBankTransferCreateRequest<'a> {
    fn from(request: &'a BankTransferRequest) -> Self {
        Self {
            idempotency_key: request.idempotency_key().as_str(),
            processor_token: request.processor_token().expose_secret(),
            transfer_type: request.transfer_type(),
            network: request.network(),
            amount: request.amount(),
            iso_currency_code: request.currency(),
            description: request.description().as_str(),
            ach_class: request.ach_class(),
            user: UserRequest {
                legal_name: request.user().legal_name().as_str(),
                email_address: request.user().email_address().map(|email| email.as_str()),
            },
            custom_tag: request.custom_tag().map(|tag| tag.as_str()),
            metadata: request.metadata().map(|metadata| metadata.as_map()),
            origination_account_id: request.origination_account_id().map(|id| id.as_str()),
        }
    }
}

/// `ProcessorBankTransferCreateResponse` and `BankTransferGetResponse`.
#[derive(Deserialize)]
pub(crate) struct BankTransferResponse {
    pub bank_transfer: BankTransfer,
}

/// `BankTransferGetRequest` and `BankTransferCancelRequest`.
#[derive(Debug, Serialize)]
pub(crate) struct BankTransferIdRequest<'a> {
    pub bank_transfer_id: &'a str,
}

/// A response with nothing but `request_id` (`BankTransferCancelResponse`,
/// `SandboxBankTransferSimulateResponse`).
#[derive(Deserialize)]
pub(crate) struct EmptyResponse {}

/// `BankTransferEventSyncRequest`.
#[derive(Debug, Serialize)]
pub(crate) struct BankTransferEventSyncRequest {
    pub after_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u8>,
}

/// `BankTransferEventSyncResponse`, each event kept as sent: the events are read one by one
/// ([`read_synced_event`]), so one this adapter cannot read never fails the page (and the cursor
/// moves past it).
#[derive(Deserialize)]
pub(crate) struct BankTransferEventSyncResponse {
    pub bank_transfer_events: Vec<Box<RawValue>>,
}

/// `BankTransferEventListResponse`.
#[derive(Deserialize)]
pub(crate) struct BankTransferEventListResponse {
    pub bank_transfer_events: Vec<BankTransferEvent>,
}

/// One event of a sync page: read, or kept raw with why (and its `event_id` if that much is
/// readable). The error names where the event broke, never a value from it.
pub(crate) fn read_synced_event(raw: &RawValue) -> SyncedPlaidEvent {
    let text = raw.get();
    match serde_json::from_str::<BankTransferEvent>(text) {
        Ok(event) => SyncedPlaidEvent {
            event_id: Some(event.event_id),
            raw: text.to_owned(),
            event: Ok(event.into()),
        },
        Err(error) => {
            #[derive(Deserialize)]
            struct IdOnly {
                event_id: u64,
            }
            let event_id = serde_json::from_str::<IdOnly>(text)
                .ok()
                .map(|only| only.event_id);
            SyncedPlaidEvent {
                event_id,
                raw: text.to_owned(),
                event: Err(format!(
                    "a BankTransferEvent that cannot be read: {}",
                    describe_json_error(&error)
                )),
            }
        }
    }
}

/// `BankTransferListRequest`: every filter optional, unset ones left out.
#[derive(Debug, Serialize)]
pub(crate) struct BankTransferListRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<BankTransferDirection>,
}

impl<'a> BankTransferListRequest<'a> {
    /// The filter as sent; `count` brought into 1..=`max_count`.
    pub fn new(filter: &'a PlaidBankTransferListFilter, max_count: u8) -> Self {
        Self {
            start_date: filter.start_date,
            end_date: filter.end_date,
            count: filter.count.map(|count| count.clamp(1, max_count)),
            offset: filter.offset,
            origination_account_id: filter.origination_account_id.as_deref(),
            direction: filter.direction,
        }
    }
}

/// `BankTransferListResponse`.
#[derive(Deserialize)]
pub(crate) struct BankTransferListResponse {
    pub bank_transfers: Vec<BankTransfer>,
}

/// `BankTransferEventListRequest`: every filter optional, unset ones (and an empty `event_types`)
/// left out.
#[derive(Debug, Serialize)]
pub(crate) struct BankTransferEventListRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_transfer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_transfer_type: Option<BankTransferType>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub event_types: &'a [PlaidBankTransferStatus],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<BankTransferDirection>,
}

impl<'a> BankTransferEventListRequest<'a> {
    /// The filter as sent; `count` brought into 1..=`max_count`.
    pub fn new(filter: &'a PlaidBankTransferEventFilter, max_count: u8) -> Self {
        Self {
            start_date: filter.start_date,
            end_date: filter.end_date,
            bank_transfer_id: filter
                .bank_transfer_id
                .as_ref()
                .map(PlaidBankTransferId::as_str),
            account_id: filter.account_id.as_deref(),
            bank_transfer_type: filter.bank_transfer_type,
            event_types: &filter.event_types,
            count: filter.count.map(|count| count.clamp(1, max_count)),
            offset: filter.offset,
            origination_account_id: filter.origination_account_id.as_deref(),
            direction: filter.direction,
        }
    }
}

/// `BankTransferBalanceGetRequest`.
#[derive(Debug, Serialize)]
pub(crate) struct BankTransferBalanceGetRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination_account_id: Option<&'a str>,
}

/// `BankTransferBalanceGetResponse`.
#[derive(Deserialize)]
pub(crate) struct BankTransferBalanceGetResponse {
    pub balance: BankTransferBalanceAmounts,
    #[serde(default)]
    pub origination_account_id: Option<String>,
}

/// `BankTransferBalance`: decimal strings on the wire.
#[derive(Deserialize)]
pub(crate) struct BankTransferBalanceAmounts {
    pub available: Decimal,
    pub transactable: Decimal,
}

impl From<BankTransferBalanceGetResponse> for BankTransferBalance {
    fn from(response: BankTransferBalanceGetResponse) -> Self {
        Self {
            available: response.balance.available,
            transactable: response.balance.transactable,
            origination_account_id: response.origination_account_id,
        }
    }
}

/// `SandboxBankTransferSimulateRequest`.
#[derive(Debug, Serialize)]
pub(crate) struct SandboxBankTransferSimulateRequest<'a> {
    pub bank_transfer_id: &'a str,
    pub event_type: SimulatedBankTransferEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<BankTransferFailure>,
}

/// `SandboxBankTransferFireWebhookRequest`.
#[derive(Serialize)]
pub(crate) struct SandboxBankTransferFireWebhookRequest<'a> {
    pub webhook: &'a str,
}

/// `SandboxProcessorTokenCreateRequest` (without `options`: Plaid's default test user). The spec
/// has no field to choose the account the token is for.
#[derive(Debug, Serialize)]
pub(crate) struct SandboxProcessorTokenCreateRequest<'a> {
    pub institution_id: &'a str,
}

/// `SandboxProcessorTokenCreateResponse`.
#[derive(Deserialize)]
pub(crate) struct SandboxProcessorTokenCreateResponse {
    pub processor_token: String,
}
