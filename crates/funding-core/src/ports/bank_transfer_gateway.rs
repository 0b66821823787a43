//! What the Plaid processor rail needs from Plaid: the legacy Bank Transfers API
//! (`/processor/bank_transfer/create` and friends), its event sync, and the key that verifies its
//! webhooks. Implementations retry 429 and 5xx with backoff before giving up; a create carries its
//! stable idempotency key, so Plaid makes one bank transfer per key however often it is sent.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    AchClass, AchReturnCode, BankTransferDirection, BankTransferRequest, BankTransferType, Network,
    OrUnknown, PlaidBankTransferId, PlaidBankTransferStatus, ProcessorToken,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{AccountBalance, ProviderError};

/// Why a bank transfer failed or was reversed (`BankTransferFailure`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransferFailure {
    /// Given when the transfer was reversed, e.g. `R01`; unknown codes are kept as given.
    pub ach_return_code: Option<AchReturnCode>,
    pub description: Option<String>,
}

/// Plaid's `BankTransfer` object, every field. Its enums are typed; a value newer than this service
/// is kept as the string Plaid sent ([`OrUnknown::Unknown`]), so it is never lost. Serialized,
/// every enum is Plaid's string (`"debit"`, `"same-day-ach"`, `"ppd"`, `"outbound"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaidBankTransfer {
    pub id: PlaidBankTransferId,
    pub ach_class: Option<OrUnknown<AchClass>>,
    /// The Plaid account of the end user.
    pub account_id: String,
    pub transfer_type: OrUnknown<BankTransferType>,
    pub user_legal_name: String,
    pub user_email_address: Option<String>,
    /// Response-only; never sent.
    pub user_routing_number: Option<String>,
    pub amount: Decimal,
    pub iso_currency_code: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub status: PlaidBankTransferStatus,
    pub network: OrUnknown<Network>,
    /// Whether `/bank_transfer/cancel` may still cancel it.
    pub cancellable: bool,
    pub failure_reason: Option<BankTransferFailure>,
    pub custom_tag: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub origination_account_id: Option<String>,
    /// `None` when Plaid gave none.
    pub direction: Option<OrUnknown<BankTransferDirection>>,
}

/// Plaid's `BankTransferEvent`, as `/bank_transfer/event/sync` and `/bank_transfer/event/list`
/// give them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaidBankTransferEvent {
    /// Sequential unsigned 64-bit; the sync cursor (`after_id`) and the deduplication key.
    pub event_id: u64,
    pub timestamp: DateTime<Utc>,
    /// The status the transfer moved to.
    pub event_type: PlaidBankTransferStatus,
    pub account_id: String,
    pub bank_transfer_id: PlaidBankTransferId,
    pub origination_account_id: Option<String>,
    pub bank_transfer_type: OrUnknown<BankTransferType>,
    pub bank_transfer_amount: Decimal,
    pub bank_transfer_iso_currency_code: String,
    pub failure_reason: Option<BankTransferFailure>,
    /// `None` when Plaid gave none.
    pub direction: Option<OrUnknown<BankTransferDirection>>,
}

/// One event of a `/bank_transfer/event/sync` page, read on its own: an event this service cannot
/// read (a malformed one, or one of a shape Plaid introduced later) is kept raw instead of failing
/// the page, so the cursor moves past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedPlaidEvent {
    /// Plaid's `event_id`, when one could be read (from an unreadable event too).
    pub event_id: Option<u64>,
    /// The event's JSON exactly as Plaid sent it.
    pub raw: String,
    /// The event, or why it could not be read.
    pub event: Result<PlaidBankTransferEvent, String>,
}

impl SyncedPlaidEvent {
    /// A readable event, with its JSON as this service writes it (tests, fakes).
    pub fn read(event: PlaidBankTransferEvent) -> Self {
        Self {
            event_id: Some(event.event_id),
            raw: serde_json::to_string(&event).unwrap_or_default(),
            event: Ok(event),
        }
    }
}

/// The filters of `/bank_transfer/list` (all optional); `count` 1..=25, `offset` ≥ 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaidBankTransferListFilter {
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub count: Option<u8>,
    pub offset: Option<u32>,
    pub origination_account_id: Option<String>,
    pub direction: Option<BankTransferDirection>,
}

/// The filters of `/bank_transfer/event/list` (all optional); if more match than `count` (1..=25),
/// Plaid returns the most recent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaidBankTransferEventFilter {
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub bank_transfer_id: Option<PlaidBankTransferId>,
    pub account_id: Option<String>,
    pub bank_transfer_type: Option<BankTransferType>,
    pub event_types: Vec<PlaidBankTransferStatus>,
    pub count: Option<u8>,
    pub offset: Option<u32>,
    pub origination_account_id: Option<String>,
    pub direction: Option<BankTransferDirection>,
}

/// `/bank_transfer/balance/get`: `available` (successful debits less credits) and `transactable`
/// (available less the minimum balance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransferBalance {
    pub available: Decimal,
    pub transactable: Decimal,
    pub origination_account_id: Option<String>,
}

/// A key that signs Plaid's webhooks (`/webhook_verification_key/get`, a JWK on P-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookVerificationKey {
    /// `ES256`.
    pub alg: String,
    /// `P-256`.
    pub crv: String,
    pub kid: String,
    /// `EC`.
    pub kty: String,
    /// `sig`.
    pub key_use: String,
    /// Base64url big-endian coordinates.
    pub x: String,
    pub y: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; a key with an expiry is no longer accepted.
    pub expired_at: Option<i64>,
}

/// Plaid's Bank Transfers API.
#[async_trait]
pub trait BankTransferGateway: Send + Sync + 'static {
    /// `/processor/bank_transfer/create` with every field of `request` (its idempotency key
    /// unchanged). Safe to repeat: Plaid answers the first transfer for a key it has seen with the
    /// same body. Errors: `InvalidInput` with Plaid's code (`BANK_TRANSFER_LIMIT_EXCEEDED`,
    /// `INVALID_PROCESSOR_TOKEN`, `BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT`, an idempotency key
    /// reused with another body…), `Unauthorized`; `RateLimited`, `Unavailable`, `Transport` after
    /// retries, whose outcome is unknown.
    async fn create_bank_transfer(
        &self,
        request: &BankTransferRequest,
    ) -> Result<PlaidBankTransfer, ProviderError>;

    /// `/bank_transfer/get`. Errors: `NotFound` or `InvalidInput` for an unknown id.
    async fn get_bank_transfer(
        &self,
        id: &PlaidBankTransferId,
    ) -> Result<PlaidBankTransfer, ProviderError>;

    /// `/bank_transfer/cancel`. Errors: `InvalidInput` with `BANK_TRANSFER_NOT_CANCELLABLE` once
    /// the transfer is no longer `cancellable`.
    async fn cancel_bank_transfer(&self, id: &PlaidBankTransferId) -> Result<(), ProviderError>;

    /// `/bank_transfer/list`.
    async fn list_bank_transfers(
        &self,
        filter: &PlaidBankTransferListFilter,
    ) -> Result<Vec<PlaidBankTransfer>, ProviderError>;

    /// `/bank_transfer/event/list`.
    async fn list_bank_transfer_events(
        &self,
        filter: &PlaidBankTransferEventFilter,
    ) -> Result<Vec<PlaidBankTransferEvent>, ProviderError>;

    /// `/bank_transfer/event/sync`: the events after `after_id` (0 at first), oldest first, at
    /// most `count` (1..=25). Fewer than `count` means there are no more for now. Each event is
    /// read on its own: one that cannot be read comes back raw, with why (and its `event_id` when
    /// that much can be read); only a page that is not a list of events at all is an error.
    async fn sync_bank_transfer_events(
        &self,
        after_id: u64,
        count: u8,
    ) -> Result<Vec<SyncedPlaidEvent>, ProviderError>;

    /// `/bank_transfer/balance/get`.
    async fn bank_transfer_balance(
        &self,
        origination_account_id: Option<&str>,
    ) -> Result<BankTransferBalance, ProviderError>;

    /// `/processor/balance/get` with the transfer's processor token: the real-time balances of the
    /// bank account behind it, for the risk checks' balance check of a debit (DESIGN §11).
    /// Errors: Plaid's when the bank cannot be reached for them (`INSTITUTION_NOT_RESPONDING`, …;
    /// the risk settings say what an unavailable balance means), `InvalidInput` with
    /// `INVALID_PROCESSOR_TOKEN`, and the retryable kinds.
    async fn processor_balance(
        &self,
        processor_token: &ProcessorToken,
    ) -> Result<AccountBalance, ProviderError>;

    /// `/webhook_verification_key/get` for the `kid` of a webhook's JWT. Errors: `InvalidInput`
    /// with `INVALID_WEBHOOK_VERIFICATION_KEY_ID` for an unknown key.
    async fn webhook_verification_key(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKey, ProviderError>;
}

/// What a sandbox simulation does to a bank transfer (`/sandbox/bank_transfer/simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedBankTransferEvent {
    /// pending → posted.
    Posted,
    /// pending → failed.
    Failed,
    /// posted → reversed (with an ACH return code).
    Reversed,
}

/// The Plaid sandbox endpoints of the rail, for sandbox mode only.
#[async_trait]
pub trait BankTransferSandbox: Send + Sync + 'static {
    /// `/sandbox/processor_token/create`: a processor token for a new test Item at
    /// `institution_id` (and its first account, or `account_id` when given).
    async fn create_processor_token(
        &self,
        institution_id: &str,
        account_id: Option<&str>,
    ) -> Result<ProcessorToken, ProviderError>;

    /// `/sandbox/bank_transfer/simulate`. Errors: `InvalidInput` with
    /// `SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID` off the lifecycle.
    async fn simulate_bank_transfer(
        &self,
        id: &PlaidBankTransferId,
        event: SimulatedBankTransferEvent,
        failure_reason: Option<&BankTransferFailure>,
    ) -> Result<(), ProviderError>;

    /// `/sandbox/bank_transfer/fire_webhook`: Plaid sends `BANK_TRANSFERS_EVENTS_UPDATE` to `url`.
    async fn fire_webhook(&self, url: &str) -> Result<(), ProviderError>;
}
