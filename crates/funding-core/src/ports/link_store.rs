//! Bank links and their idempotency records in storage: creating one under a caller's key, and
//! reading them (by id, by relationship, an account's page, the reconciler's and Item check's
//! batches).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{AccountId, AchRelationshipId, BankLinkId, PublicToken};

use super::{Begin, IdempotencyClaim, NewWork, StoreError, Unresolved, UnresolvedCounts};
use crate::model::BankLink;

/// A new bank link, stored in status CREATING together with its idempotency record, its public
/// token (sealed, until it is exchanged) and the work that creates it.
#[derive(Debug, Clone)]
pub struct NewBankLink {
    pub link: BankLink,
    pub public_token: PublicToken,
    pub work: NewWork,
}

/// Page through an account's links: `after` is the last id of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPageRequest {
    pub size: u32,
    pub after: Option<BankLinkId>,
}

/// One page of results and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPage<T> {
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
        page: LinkPageRequest,
    ) -> Result<LinkPage<BankLink>, StoreError>;

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
}
