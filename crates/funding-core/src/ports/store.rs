//! What the use cases need from storage. Every write that guards money or a promise is a conditional
//! update or a unique constraint in the database, so that several replicas on one database stay correct.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    AccessToken, AccountId, AchRelationshipId, AchRelationshipStatus, BankLinkId, PlaidItemId,
    ProcessorToken, PublicToken,
};

use super::{Claim, NewWork, Unresolved, UnresolvedCounts};
use crate::model::BankLink;

/// A storage failure. Adapters keep the cause for logs; none of them carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation for a transient reason.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A record was not where the caller expected it (a bug or a concurrent delete).
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data cannot be read back (bad ciphertext, wrong key, corrupt row).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A write refused because the work's claim is no longer held: its lease ran out and somebody
    /// else may be driving the work now. The writer must stop.
    #[error("the claim on {0} is no longer held")]
    Fenced(String),
    #[error("database error: {0}")]
    Other(String),
}

/// The idempotency record a create claims: one per (caller, operation, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub caller: String,
    /// e.g. `CreateBankLink`.
    pub operation: &'static str,
    pub key: String,
    /// The request's fields, canonical, secrets replaced by their SHA-256; compared on a repeat.
    pub fingerprint: String,
}

/// What `begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin<T> {
    /// The key was new: the record was created with the resource.
    Created(T),
    /// The key was used before: the stored fingerprint and the resource it made.
    Existing { fingerprint: String, resource: T },
}

/// A new bank link, stored in status CREATING together with its idempotency record, its public
/// token (sealed, until it is exchanged) and the work that creates it.
#[derive(Debug, Clone)]
pub struct NewBankLink {
    pub link: BankLink,
    pub public_token: PublicToken,
    pub work: NewWork,
}

/// A link's secrets, decrypted. Only the link use case reads them.
#[derive(Debug, Clone, Default)]
pub struct LinkSecrets {
    /// Until it is exchanged.
    pub public_token: Option<PublicToken>,
    pub access_token: Option<AccessToken>,
    pub processor_token: Option<ProcessorToken>,
}

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

/// A status move to store: applied only if the stored status is still `from`, and appended to the
/// link's history with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
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

/// Page through a list: `after` is the last id of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    pub after: Option<BankLinkId>,
}

/// One page of results and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<BankLinkId>,
}

/// Bank links and their idempotency records: creating one under a caller's key, and reading them.
#[async_trait]
pub trait BankLinkStore: Send + Sync + 'static {
    /// In one transaction: claims the idempotency record (INSERT … ON CONFLICT DO NOTHING) and, if it
    /// was new, stores the link, its sealed public token and its work. If the key was used before,
    /// returns the stored fingerprint and link instead, without writing. Safe under any number of
    /// concurrent callers on any number of replicas.
    async fn begin_link(
        &self,
        claim: IdempotencyClaim,
        link: NewBankLink,
    ) -> Result<Begin<BankLink>, StoreError>;

    async fn get_link(&self, id: BankLinkId) -> Result<Option<BankLink>, StoreError>;

    async fn find_link_by_relationship(
        &self,
        id: AchRelationshipId,
    ) -> Result<Option<BankLink>, StoreError>;

    /// The link that replaces `old` (changing banks), if any.
    async fn find_replacement(&self, old: BankLinkId) -> Result<Option<BankLink>, StoreError>;

    /// The account's links, oldest first.
    async fn list_links(
        &self,
        account_id: AccountId,
        page: PageRequest,
    ) -> Result<Page<BankLink>, StoreError>;

    /// For the reconciler: up to `limit` links with a relationship, in a status that waits on
    /// Alpaca (not CREATING, not terminal), that have not moved since `before`, those looked at
    /// least recently first (never, then longest ago; oldest change first among equals), each
    /// marked as looked at now, so that the next call, on any replica, takes others.
    async fn links_to_reconcile(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError>;

    /// For the Item check: up to `limit` APPROVED links with a Plaid Item whose health may still
    /// move (HEALTHY, NEEDS_REAUTH), whose Item was not read since `before`, those read least
    /// recently first, each marked as read now (so every one comes in turn, on any replica).
    async fn items_to_check(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError>;

    /// Records what the reconciler's look found of each link: why it is still unresolved, or
    /// `None`.
    async fn record_link_checks(
        &self,
        checks: &[(BankLinkId, Option<Unresolved>)],
    ) -> Result<(), StoreError>;

    /// Links waiting on Alpaca whose last look found them unresolved and that have not moved
    /// since, counted by reason.
    async fn unresolved_links(&self) -> Result<UnresolvedCounts, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A link's Plaid tokens, sealed at rest. The writes a link's work makes take its [`Claim`] and are
/// refused with [`StoreError::Fenced`] once the claim is no longer held.
#[async_trait]
pub trait LinkSecretStore: Send + Sync + 'static {
    /// The link's tokens, decrypted. `Corrupt` if they cannot be decrypted with the configured key.
    async fn link_secrets(&self, id: BankLinkId) -> Result<LinkSecrets, StoreError>;

    /// Records that the public token exchange is about to be sent (fenced). A later attempt that
    /// finds it set and no access token knows the outcome of that exchange is unknown.
    async fn mark_exchange_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Stores the access token (sealed) and Item id from the exchange, and forgets the public token
    /// (fenced).
    async fn save_exchange(
        &self,
        fence: &Claim,
        id: BankLinkId,
        access_token: &AccessToken,
        item_id: &PlaidItemId,
    ) -> Result<(), StoreError>;

    /// Stores the processor token (sealed) (fenced).
    async fn save_processor_token(
        &self,
        fence: &Claim,
        id: BankLinkId,
        processor_token: &ProcessorToken,
    ) -> Result<(), StoreError>;

    /// Forgets the link's access and processor tokens once its Item is removed (fenced).
    async fn forget_tokens(&self, fence: &Claim, id: BankLinkId) -> Result<(), StoreError>;
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
        change: StatusChange,
    ) -> Result<RelationshipSaved, StoreError>;

    /// Ends a CREATING link FAILED with `failure_code` (fenced); when `remove_item` the link's Plaid
    /// Item removal is queued in the same transaction. Returns whether it moved.
    async fn fail_link(
        &self,
        fence: &Claim,
        id: BankLinkId,
        change: StatusChange,
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
        change: StatusChange,
        remove_item: bool,
    ) -> Result<bool, StoreError>;
}

/// Where each event stream was read up to, and which replica reads it.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    async fn load_cursor(&self, stream: &str) -> Result<Option<String>, StoreError>;
    async fn save_cursor(&self, stream: &str, cursor: &str) -> Result<(), StoreError>;

    /// Takes the right to read `stream` for `lease` if nobody holds it or its holder's lease ran
    /// out, or renews it for `owner`. Returns whether `owner` holds it now. One conditional write,
    /// safe for any number of replicas; the lease's expiry is measured by the database's clock, so
    /// replicas whose clocks disagree still agree on when it runs out.
    async fn claim_stream(
        &self,
        stream: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the stream up, so another replica can take it at once.
    async fn release_stream(&self, stream: &str, owner: &str) -> Result<(), StoreError>;
}
