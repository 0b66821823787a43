//! What the use cases need from storage. Every write that guards money or a promise is a conditional
//! update or a unique constraint in the database, so that several replicas on one database stay correct.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    AccessToken, AccountId, AchRelationshipId, AchRelationshipStatus, BankLinkId, PlaidItemId,
    ProcessorToken,
};

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

/// A new bank link, stored in status CREATING together with its idempotency record.
#[derive(Debug, Clone)]
pub struct NewBankLink {
    pub link: BankLink,
}

/// A link's secrets, decrypted. Only the link use case reads them.
#[derive(Debug, Clone, Default)]
pub struct LinkSecrets {
    pub access_token: Option<AccessToken>,
    pub processor_token: Option<ProcessorToken>,
}

/// A status move to store: applied only if the stored status is still `from`, and appended to the
/// link's history with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: AchRelationshipStatus,
    pub to: AchRelationshipStatus,
    pub reason: Option<String>,
    /// Where the change came from: `api`, `alpaca:create`, `alpaca:event`, `resumer`.
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

/// Bank links and their idempotency records.
#[async_trait]
pub trait BankLinkStore: Send + Sync + 'static {
    /// In one transaction: claims the idempotency record (INSERT … ON CONFLICT DO NOTHING) and, if it
    /// was new, stores the link. If the key was used before, returns the stored fingerprint and link
    /// instead, without writing. Safe under any number of concurrent callers on any number of replicas.
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

    /// The account's links, oldest first.
    async fn list_links(
        &self,
        account_id: AccountId,
        page: PageRequest,
    ) -> Result<Page<BankLink>, StoreError>;

    /// The link's tokens, decrypted. `Corrupt` if they cannot be decrypted with the configured key.
    async fn link_secrets(&self, id: BankLinkId) -> Result<LinkSecrets, StoreError>;

    /// Stores the access token (encrypted) and Item id from the public token exchange.
    async fn save_exchange(
        &self,
        id: BankLinkId,
        access_token: &AccessToken,
        item_id: &PlaidItemId,
    ) -> Result<(), StoreError>;

    /// Stores the processor token (encrypted).
    async fn save_processor_token(
        &self,
        id: BankLinkId,
        processor_token: &ProcessorToken,
    ) -> Result<(), StoreError>;

    /// Records that a relationship create is about to be sent.
    async fn mark_relationship_requested(
        &self,
        id: BankLinkId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Stores the relationship Alpaca created and moves the status from CREATING (conditional).
    /// Returns false if the link was no longer CREATING.
    async fn save_relationship(
        &self,
        id: BankLinkId,
        relationship_id: AchRelationshipId,
        account_owner_name: &str,
        change: StatusChange,
    ) -> Result<bool, StoreError>;

    /// Moves the status if it is still `change.from` and appends the history entry; a
    /// `change.event_id` already in this link's history is a no-op. Returns whether it moved. `failure_code` is stored with a
    /// move to FAILED.
    async fn change_link_status(
        &self,
        id: BankLinkId,
        change: StatusChange,
        failure_code: Option<String>,
    ) -> Result<bool, StoreError>;

    /// Takes the right to drive a CREATING link until `until`, if nobody holds it (or their lease ran
    /// out). Returns whether it was taken.
    async fn lease_link(
        &self,
        id: BankLinkId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back.
    async fn release_link(&self, id: BankLinkId, owner: &str) -> Result<(), StoreError>;

    /// CREATING links whose lease ran out before `now`, oldest first: for the resumer.
    async fn stale_creating_links(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Where each event stream was read up to, and which replica reads it.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    async fn load_cursor(&self, stream: &str) -> Result<Option<String>, StoreError>;
    async fn save_cursor(&self, stream: &str, cursor: &str) -> Result<(), StoreError>;

    /// Takes the right to read `stream` until `until` if nobody holds it or its holder's lease ran
    /// out, or renews it for `owner`. Returns whether `owner` holds it now. One conditional write, safe
    /// for any number of replicas.
    async fn claim_stream(
        &self,
        stream: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the stream up, so another replica can take it at once.
    async fn release_stream(&self, stream: &str, owner: &str) -> Result<(), StoreError>;
}
