//! [`BankLinkStore`] on a [`Store`]: each method is instrumented with the ids it touches (never a
//! secret) and delegates to the module that owns the idea — creating under an idempotency key,
//! reading, secrets, status moves, leases.

mod create;
mod lease;
mod read;
mod secrets;
mod status;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::model::BankLink;
use funding_core::ports::{
    BankLinkStore, Begin, IdempotencyClaim, LinkSecrets, NewBankLink, Page, PageRequest,
    StatusChange, StoreError,
};
use funding_domain::{
    AccessToken, AccountId, AchRelationshipId, BankLinkId, PlaidItemId, ProcessorToken,
};

use crate::Store;

#[async_trait]
impl BankLinkStore for Store {
    #[tracing::instrument(skip_all, fields(caller = %claim.caller, operation = claim.operation, link_id = %link.link.id))]
    async fn begin_link(
        &self,
        claim: IdempotencyClaim,
        link: NewBankLink,
    ) -> Result<Begin<BankLink>, StoreError> {
        create::begin_link(self, claim, link).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id))]
    async fn get_link(&self, id: BankLinkId) -> Result<Option<BankLink>, StoreError> {
        read::get_link(self, id).await
    }

    #[tracing::instrument(skip_all, fields(ach_relationship_id = %id))]
    async fn find_link_by_relationship(
        &self,
        id: AchRelationshipId,
    ) -> Result<Option<BankLink>, StoreError> {
        read::find_link_by_relationship(self, id).await
    }

    #[tracing::instrument(skip_all, fields(account_id = %account_id, size = page.size))]
    async fn list_links(
        &self,
        account_id: AccountId,
        page: PageRequest,
    ) -> Result<Page<BankLink>, StoreError> {
        read::list_links(self, account_id, page).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id))]
    async fn link_secrets(&self, id: BankLinkId) -> Result<LinkSecrets, StoreError> {
        secrets::link_secrets(self, id).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id, item_id = %item_id))]
    async fn save_exchange(
        &self,
        id: BankLinkId,
        access_token: &AccessToken,
        item_id: &PlaidItemId,
    ) -> Result<(), StoreError> {
        secrets::save_exchange(self, id, access_token, item_id).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id))]
    async fn save_processor_token(
        &self,
        id: BankLinkId,
        processor_token: &ProcessorToken,
    ) -> Result<(), StoreError> {
        secrets::save_processor_token(self, id, processor_token).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id))]
    async fn mark_relationship_requested(
        &self,
        id: BankLinkId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        status::mark_relationship_requested(self, id, at).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id, ach_relationship_id = %relationship_id, to = %change.to))]
    async fn save_relationship(
        &self,
        id: BankLinkId,
        relationship_id: AchRelationshipId,
        account_owner_name: &str,
        change: StatusChange,
    ) -> Result<bool, StoreError> {
        status::save_relationship(self, id, relationship_id, account_owner_name, change).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id, from = %change.from, to = %change.to, event_id = change.event_id.as_deref()))]
    async fn change_link_status(
        &self,
        id: BankLinkId,
        change: StatusChange,
        failure_code: Option<String>,
    ) -> Result<bool, StoreError> {
        status::change_link_status(self, id, change, failure_code).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id, owner = owner))]
    async fn lease_link(
        &self,
        id: BankLinkId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        lease::lease_link(self, id, owner, until).await
    }

    #[tracing::instrument(skip_all, fields(link_id = %id, owner = owner))]
    async fn release_link(&self, id: BankLinkId, owner: &str) -> Result<(), StoreError> {
        lease::release_link(self, id, owner).await
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn stale_creating_links(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError> {
        lease::stale_creating_links(self, now, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Store::ping(self).await
    }
}
