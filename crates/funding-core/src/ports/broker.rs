//! What the use cases need from the broker (Alpaca's Broker API).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, AlpacaTransferId, AlpacaTransferStatus,
    Amount, Nickname, ProcessorToken,
};
use futures::stream::BoxStream;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{IncomingEvent, ProviderError};

/// An ACH relationship as Alpaca reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AchRelationship {
    pub id: AchRelationshipId,
    pub account_id: AccountId,
    pub status: AchRelationshipStatus,
    pub account_owner_name: String,
    pub nickname: Option<String>,
    /// `bank_account_type` as Alpaca gives it (`CHECKING`, `SAVINGS`); `None` when missing or
    /// empty (Plaid-created relationships may come with `""`).
    pub bank_account_type: Option<String>,
    /// The last four digits of `bank_account_number`, never more: the full number is not kept.
    pub bank_account_mask: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which way an Alpaca transfer moves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferDirection {
    /// Into the brokerage account, from the bank: Alpaca's `INCOMING`.
    Deposit,
    /// Out of the brokerage account, to the bank: Alpaca's `OUTGOING`.
    Withdrawal,
}

impl TransferDirection {
    /// Alpaca's `direction`: `INCOMING` or `OUTGOING`.
    pub fn as_alpaca(&self) -> &'static str {
        match self {
            Self::Deposit => "INCOMING",
            Self::Withdrawal => "OUTGOING",
        }
    }

    /// From Alpaca's `direction`; `None` for anything else than `INCOMING` or `OUTGOING`.
    pub fn from_alpaca(text: &str) -> Option<Self> {
        match text {
            "INCOMING" => Some(Self::Deposit),
            "OUTGOING" => Some(Self::Withdrawal),
            _ => None,
        }
    }
}

/// An Alpaca transfer as Alpaca reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlpacaTransfer {
    pub id: AlpacaTransferId,
    pub account_id: AccountId,
    /// Present for ACH transfers (absent for wires).
    pub relationship_id: Option<AchRelationshipId>,
    /// What the recipient receives after fees, as Alpaca gives it (`"498"` is 498).
    pub amount: Decimal,
    /// What was asked for, before fees (`requested_amount`; Alpaca's sample: 500 requested, 2 fee,
    /// 498 amount). `None` when Alpaca leaves it out.
    pub requested_amount: Option<Decimal>,
    /// The fee Alpaca took (`fee`), when it says.
    pub fee: Option<Decimal>,
    pub direction: TransferDirection,
    /// A status this service does not know is kept as `Unknown(text)` (and logged).
    pub status: AlpacaTransferStatus,
    /// The cause of the status: a rejection reason, or an ACH return such as `R01 …`.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// May be missing.
    pub updated_at: Option<DateTime<Utc>>,
}

impl AlpacaTransfer {
    /// The amount our request asked for: `requested_amount`, or `amount` when Alpaca did not send
    /// it (without fees the two are equal). What a lookup matches on.
    pub fn requested(&self) -> Decimal {
        self.requested_amount.unwrap_or(self.amount)
    }
}

/// The figures of an Alpaca trading account a withdrawal is checked against
/// (`GET /v1/trading/accounts/{id}/account`). Alpaca's documents do not say whether
/// `cash_withdrawable` already nets queued withdrawals, so the service uses all three (DESIGN §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFunds {
    /// `cash`.
    pub cash: Decimal,
    /// `cash_withdrawable`.
    pub cash_withdrawable: Decimal,
    /// `pending_transfer_out`, when Alpaca reports it.
    pub pending_transfer_out: Option<Decimal>,
}

/// What a funding event is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FundingEntity {
    BankRelationship,
    Transfer,
    /// `WireBank`, `FundingWallet` or anything newer, kept as given.
    Other(String),
}

/// One event of Alpaca's funding status stream (`/v2/events/funding/status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FundingEvent {
    /// A ULID; the stream's cursor and the deduplication key.
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub account_id: AccountId,
    pub entity: FundingEntity,
    pub entity_id: Uuid,
    pub status_from: Option<String>,
    pub status_to: String,
    pub reason: Option<String>,
}

impl FundingEntity {
    /// Alpaca's `entity_type`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BankRelationship => "BankRelationship",
            Self::Transfer => "Transfer",
            Self::Other(other) => other,
        }
    }
}

/// The funding event stream: it resumes after the given event id, reconnects by itself with backoff
/// on transient failures, and yields an error only for failures it cannot recover from (such as
/// refused credentials), after which it ends. Every event is yielded with its raw payload, an
/// unreadable one too (so that it is kept, not skipped).
pub type FundingEventStream = BoxStream<'static, Result<IncomingEvent, ProviderError>>;

/// Alpaca's Broker API, as the funding flows use it. Implementations retry 429 and 5xx with backoff
/// where a retry cannot duplicate an effect.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// `POST /v1/accounts/{id}/ach_relationships` with a processor token. Not idempotent at Alpaca:
    /// an `Unavailable` or `Transport` error leaves the outcome unknown. Errors: `Conflict` (409) when
    /// the account already has an active relationship; `InvalidInput` (422); `InvalidRequest` (400);
    /// `Forbidden` (403); `NotFound` (404, no such account).
    async fn create_ach_relationship(
        &self,
        account_id: AccountId,
        processor_token: &ProcessorToken,
        nickname: Option<&Nickname>,
    ) -> Result<AchRelationship, ProviderError>;

    /// `GET /v1/accounts/{id}/ach_relationships`: every relationship of the account.
    async fn list_ach_relationships(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<AchRelationship>, ProviderError>;

    /// `DELETE /v1/accounts/{id}/ach_relationships/{rel}`: asks Alpaca to cancel it; the status moves
    /// through CANCEL_REQUESTED to CANCELED by events. Errors: `NotFound` (404).
    async fn delete_ach_relationship(
        &self,
        account_id: AccountId,
        relationship_id: AchRelationshipId,
    ) -> Result<(), ProviderError>;

    /// `POST /v1/accounts/{id}/transfers` for ACH, with `transfer_type`, `relationship_id`, `amount`
    /// and `direction` (never the deprecated `timing`). Not idempotent at Alpaca and never resent
    /// after a 5xx or a timeout: an `Unavailable` or `Transport` error leaves the outcome unknown
    /// (look the transfer up with [`list_transfers`](Self::list_transfers) before creating again).
    /// Errors: `Forbidden` (403, "deposits are not permitted for this account" or "withdrawals are
    /// not permitted for this account"); `InvalidInput` (422, e.g. "invalid relationship_id" or an
    /// amount below the partner's minimum); `InvalidRequest` (400); `NotFound` (404, no such account);
    /// `Decode` when the answer names a direction other than INCOMING or OUTGOING.
    async fn create_transfer(
        &self,
        account_id: AccountId,
        relationship_id: AchRelationshipId,
        amount: &Amount,
        direction: TransferDirection,
    ) -> Result<AlpacaTransfer, ProviderError>;

    /// `GET /v1/accounts/{id}/transfers`, every page (`limit`/`offset` until an empty page: Alpaca
    /// may answer fewer than `limit` before the end), only `direction` when given; oldest first.
    /// Each transfer is decoded on its own: one that cannot be read (a wire transfer, a direction
    /// other than INCOMING or OUTGOING, a new shape) is logged and skipped, never failing the list.
    /// A read: retried on 429 and 5xx. Errors: `NotFound` (404, no such account); `Decode` when the
    /// page itself is unreadable, or when Alpaca ignores `offset` (a page of transfers already seen).
    async fn list_transfers(
        &self,
        account_id: AccountId,
        direction: Option<TransferDirection>,
    ) -> Result<Vec<AlpacaTransfer>, ProviderError>;

    /// One transfer of the account, `None` when Alpaca does not list it. Alpaca has no GET by id:
    /// this lists every transfer and matches the id. Errors: as [`list_transfers`](Self::list_transfers).
    async fn get_transfer(
        &self,
        account_id: AccountId,
        transfer_id: AlpacaTransferId,
    ) -> Result<Option<AlpacaTransfer>, ProviderError>;

    /// `DELETE /v1/accounts/{id}/transfers/{transfer_id}` (204): only asks Alpaca to cancel; the
    /// status moves to CANCELED by events, if it still can. Errors: `NotFound` (404, no such
    /// transfer); any other refusal by its status (Alpaca documents only the 404; the emulator
    /// answers `InvalidInput`, 422, once the transfer can no longer be cancelled).
    async fn cancel_transfer(
        &self,
        account_id: AccountId,
        transfer_id: AlpacaTransferId,
    ) -> Result<(), ProviderError>;

    /// `cash`, `cash_withdrawable` and `pending_transfer_out` of
    /// `GET /v1/trading/accounts/{id}/account`. A read: retried on 429 and 5xx. Errors: `NotFound`
    /// (404, no such account); `Decode` when `cash` or `cash_withdrawable` is missing or not a
    /// decimal (a missing `pending_transfer_out` is `None`).
    async fn account_funds(&self, account_id: AccountId) -> Result<AccountFunds, ProviderError>;

    /// The brokerage account owner's full name (`identity.given_name`, `middle_name`,
    /// `family_name` of `GET /v1/accounts/{id}`), for the owner-name check; `None` when Alpaca
    /// holds no name. A read: retried on 429 and 5xx. Errors: `NotFound`, `Decode`.
    async fn account_owner_name(
        &self,
        account_id: AccountId,
    ) -> Result<Option<String>, ProviderError>;

    /// The funding status stream, from just after `since_event_id` (or live only when `None`).
    fn funding_events(&self, since_event_id: Option<String>) -> FundingEventStream;
}
