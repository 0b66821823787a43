//! A link's status and health moves in storage, each appended to its history with its source: the
//! relationship Alpaca made, a failure, a move from an event or the reconciler.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{AchRelationshipId, AchRelationshipStatus, BankLinkId};

use super::{Claim, StoreError};

/// The relationship Alpaca made for a link, to store with its first status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRelationship {
    pub relationship_id: AchRelationshipId,
    pub account_owner_name: String,
    pub bank_account_type: Option<String>,
    pub bank_account_mask: Option<String>,
}

/// What storing a relationship did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationshipSaved {
    /// The link holds it now.
    Saved,
    /// Another link holds that relationship already (UNIQUE(ach_relationship_id)): not ours.
    HeldByAnother,
    /// The link was no longer CREATING.
    NotCreating,
}

/// A link's status move to store: applied only if the stored status is still `from`, and appended to the
/// link's history with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatusChange {
    pub from: AchRelationshipStatus,
    pub to: AchRelationshipStatus,
    pub reason: Option<String>,
    /// Where the change came from: `api:delete`, `alpaca:create`, `alpaca:lookup`, `alpaca:event`,
    /// `reconciler`, `<provider>:error`, `engine:gave_up`.
    pub source: String,
    /// The provider event that reported it (Alpaca's ULID), when one did. Unique per link in the
    /// history: an event applied twice is a no-op.
    pub event_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// A link's status moves, each appended to its history with its source in the same transaction.
/// The moves a link's work makes take its [`Claim`] (fenced); moves from events and the reconciler
/// are conditioned on the status they saw.
#[async_trait]
pub trait LinkStatusStore: Send + Sync + 'static {
    /// Records that a relationship create is about to be sent (fenced).
    async fn mark_relationship_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Puts back the relationship request time a link had before a create that the provider did
    /// not process (a rate limit, a connection never made), fenced.
    async fn restore_relationship_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        previous: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Moves the health of every link of Plaid Item `item_id` that may become `to` (a final
    /// health stays), each with a history entry whose event id is `event_id` (a webhook applied
    /// before is a no-op) and an outbox row, in one transaction. The links that moved.
    #[allow(clippy::too_many_arguments)]
    async fn change_item_health(
        &self,
        item_id: &funding_domain::PlaidItemId,
        to: funding_domain::BankLinkHealth,
        reason: &str,
        source: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<BankLinkId>, StoreError>;

    /// Records why a CREATING link waits (its `status_reason`), fenced; the status does not move.
    async fn note_creating_waiting(
        &self,
        fence: &Claim,
        id: BankLinkId,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Stores the relationship Alpaca made and moves the status from CREATING (fenced), and makes
    /// the inbox's events parked for that relationship pending again, in one transaction.
    async fn save_relationship(
        &self,
        fence: &Claim,
        id: BankLinkId,
        relationship: SavedRelationship,
        change: LinkStatusChange,
    ) -> Result<RelationshipSaved, StoreError>;

    /// Ends a CREATING link FAILED with `failure_code` (fenced); when `remove_item` the link's Plaid
    /// Item removal is queued in the same transaction. Returns whether it moved.
    async fn fail_link(
        &self,
        fence: &Claim,
        id: BankLinkId,
        change: LinkStatusChange,
        failure_code: String,
        remove_item: bool,
    ) -> Result<bool, StoreError>;

    /// Moves the status if it is still `change.from` and appends the history entry; a
    /// `change.event_id` already in this link's history is a no-op. Returns whether it moved. When
    /// `remove_item`, the link's Plaid Item removal is queued in the same transaction.
    ///
    /// A link that replaces another and reaches APPROVED or an end (here or through
    /// [`fail_link`](Self::fail_link)) also queues, in the same transaction, the removal of the
    /// replaced link's Item, once that link has been cancelled.
    async fn change_link_status(
        &self,
        id: BankLinkId,
        change: LinkStatusChange,
        remove_item: bool,
    ) -> Result<bool, StoreError>;
}
