//! The transactional outbox (DESIGN §9): every status-history entry of a link, a transfer or a bank
//! transfer has an outbox row written in the same transaction, and a publisher sends the rows to a
//! message broker, oldest first, marking each once the broker acknowledged it. The row's id is
//! stable, so a row published but not marked (a crash in between) is sent again under the same id
//! and the broker's deduplication drops the copy.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// What an outbox row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxResource {
    BankLink,
    Transfer,
    BankTransfer,
    /// An account's funding frozen or unfrozen (status `frozen`, `unfrozen`).
    Account,
}

impl OutboxResource {
    /// As stored, and as the subject names it: `bank_link`, `transfer`, `bank_transfer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BankLink => "bank_link",
            Self::Transfer => "transfer",
            Self::BankTransfer => "bank_transfer",
            Self::Account => "account",
        }
    }

    /// The resource a stored name means, if known.
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "bank_link" => Some(Self::BankLink),
            "transfer" => Some(Self::Transfer),
            "bank_transfer" => Some(Self::BankTransfer),
            "account" => Some(Self::Account),
            _ => None,
        }
    }
}

/// One unpublished change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The order rows are published in.
    pub seq: i64,
    /// The history entry's id: unique and stable, the broker's deduplication id.
    pub id: String,
    pub resource: OutboxResource,
    pub resource_id: Uuid,
    /// The status the resource took, as the API names it, lowercase (`approved`, `complete`, …).
    pub status: String,
    /// A snapshot the writer stored, if any.
    pub payload: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Up to `limit` unpublished rows, oldest first.
    async fn unpublished_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks a row published; a row already marked stays as it was (another replica published it).
    async fn mark_outbox_published(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// How many rows wait to be published.
    async fn outbox_pending(&self) -> Result<u64, StoreError>;

    /// Deletes up to `limit` rows published before `published_before`, oldest first; how many went.
    /// Unpublished rows are never deleted.
    async fn prune_outbox(
        &self,
        published_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;
}
