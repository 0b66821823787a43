//! What the orphan sweep needs from storage: which accounts to look at, and the report of the
//! provider resources on our relationships that nothing of ours holds (DESIGN §4.2, §9).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{AccountId, AchRelationshipId};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{StoreError, TransferDirection};

/// What kind of provider resource an orphan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrphanKind {
    /// An Alpaca transfer over one of our relationships.
    Transfer,
    /// An Alpaca ACH relationship on an account we link.
    Relationship,
}

impl OrphanKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::Relationship => "relationship",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Transfer, Self::Relationship]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A provider resource that nothing of ours holds, as a sweep saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOrphan {
    pub kind: OrphanKind,
    /// Alpaca's id of the transfer or relationship.
    pub provider_id: Uuid,
    pub account_id: AccountId,
    /// The relationship a transfer moves money over (a relationship's own id for a relationship).
    pub relationship_id: Option<AchRelationshipId>,
    /// A transfer's requested amount.
    pub amount: Option<Decimal>,
    pub direction: Option<TransferDirection>,
    /// The provider's status, as given.
    pub status: String,
    pub provider_created_at: DateTime<Utc>,
    /// When a sweep first and last saw it (the store keeps the first).
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// An account the sweep looks at, with the relationships our links hold there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptAccount {
    pub account_id: AccountId,
    pub relationships: Vec<AchRelationshipId>,
}

#[async_trait]
pub trait OrphanStore: Send + Sync + 'static {
    /// Up to `limit` accounts that have (or asked Alpaca for) a relationship through one of our
    /// links, in account order after `after`: the sweep rotates through them all.
    async fn accounts_to_sweep(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<SweptAccount>, StoreError>;

    /// Replaces what is recorded for `account_id` with `found` (in one transaction): rows no longer
    /// found are removed (adopted, or gone), each found one keeps the time it was first seen.
    async fn record_orphans(
        &self,
        account_id: AccountId,
        found: Vec<ProviderOrphan>,
    ) -> Result<(), StoreError>;

    /// The orphans recorded, of one account or all, in provider id order after `after`,
    /// `limit` at most.
    async fn list_orphans(
        &self,
        account_id: Option<AccountId>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ProviderOrphan>, StoreError>;

    /// How many orphans are recorded, by kind (for the gauge).
    async fn count_orphans(&self) -> Result<Vec<(OrphanKind, u64)>, StoreError>;
}
