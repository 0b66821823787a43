//! What the use cases need from the broker (Alpaca's Broker API).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, Nickname, ProcessorToken,
};
use futures::stream::BoxStream;
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

    /// The funding status stream, from just after `since_event_id` (or live only when `None`).
    fn funding_events(&self, since_event_id: Option<String>) -> FundingEventStream;
}
