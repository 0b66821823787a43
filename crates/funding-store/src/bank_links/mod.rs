//! [`BankLinkStore`] on a [`Store`]: each method is instrumented with the ids it touches (never a
//! secret) and delegates to the module that owns the idea — creating under an idempotency key,
//! reading, secrets, status moves (fenced where a link's work makes them), the reconciler's query.

mod create;
pub(crate) mod health;
mod read;
mod reconcile;
mod secrets;
mod status;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::model::BankLink;
use funding_core::ports::{
    BankLinkStore, Begin, Claim, IdempotencyClaim, LinkPage, LinkPageRequest, LinkSecretStore,
    LinkSecrets, LinkStatusChange, LinkStatusStore, NewBankLink, RelationshipSaved,
    SavedRelationship, StoreError, Unresolved, UnresolvedCounts,
};
use funding_domain::{
    AccessToken, AccountId, AchRelationshipId, BankLinkId, PlaidItemId, ProcessorToken,
};

use crate::Store;

#[async_trait]
impl BankLinkStore for Store {
    async fn begin_link(
        &self,
        claim: IdempotencyClaim,
        link: NewBankLink,
    ) -> Result<Begin<BankLink>, StoreError> {
        create::begin_link(self, claim, link).await
    }

    async fn get_link(&self, id: BankLinkId) -> Result<Option<BankLink>, StoreError> {
        read::get_link(self, id).await
    }

    async fn find_link_by_relationship(
        &self,
        id: AchRelationshipId,
    ) -> Result<Option<BankLink>, StoreError> {
        read::find_link_by_relationship(self, id).await
    }

    async fn find_replacement(&self, old: BankLinkId) -> Result<Option<BankLink>, StoreError> {
        read::find_replacement(self, old).await
    }

    async fn list_links(
        &self,
        account_id: AccountId,
        page: LinkPageRequest,
    ) -> Result<LinkPage<BankLink>, StoreError> {
        read::list_links(self, account_id, page).await
    }

    async fn links_to_reconcile(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError> {
        reconcile::links_to_reconcile(self, before, limit).await
    }

    async fn items_to_check(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankLink>, StoreError> {
        reconcile::items_to_check(self, before, limit).await
    }

    async fn record_link_checks(
        &self,
        checks: &[(BankLinkId, Option<Unresolved>)],
    ) -> Result<(), StoreError> {
        reconcile::record_link_checks(self, checks).await
    }

    async fn unresolved_links(&self) -> Result<UnresolvedCounts, StoreError> {
        reconcile::unresolved_links(self).await
    }
}

#[async_trait]
impl LinkSecretStore for Store {
    async fn link_secrets(&self, id: BankLinkId) -> Result<LinkSecrets, StoreError> {
        secrets::link_secrets(self, id).await
    }

    async fn mark_exchange_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        secrets::mark_exchange_requested(self, fence, id, at).await
    }

    async fn save_exchange(
        &self,
        fence: &Claim,
        id: BankLinkId,
        access_token: &AccessToken,
        item_id: &PlaidItemId,
    ) -> Result<(), StoreError> {
        secrets::save_exchange(self, fence, id, access_token, item_id).await
    }

    async fn save_processor_token(
        &self,
        fence: &Claim,
        id: BankLinkId,
        processor_token: &ProcessorToken,
    ) -> Result<(), StoreError> {
        secrets::save_processor_token(self, fence, id, processor_token).await
    }

    async fn forget_tokens(&self, fence: &Claim, id: BankLinkId) -> Result<(), StoreError> {
        secrets::forget_tokens(self, fence, id).await
    }
}

#[async_trait]
impl LinkStatusStore for Store {
    async fn mark_relationship_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        status::mark_relationship_requested(self, fence, id, at).await
    }

    async fn restore_relationship_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        previous: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        super::bank_links::secrets::update(
            self,
            fence,
            id,
            [(
                crate::entity::bank_link::Column::RelationshipRequestedAt,
                sea_orm::sea_query::Expr::value(previous.map(crate::convert::db_time)),
            )],
        )
        .await
    }

    async fn change_item_health(
        &self,
        item_id: &funding_domain::PlaidItemId,
        to: funding_domain::BankLinkHealth,
        reason: &str,
        source: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<BankLinkId>, StoreError> {
        health::change_item_health(self, item_id, to, reason, source, event_id, at).await
    }

    async fn note_creating_waiting(
        &self,
        fence: &Claim,
        id: BankLinkId,
        reason: &str,
    ) -> Result<(), StoreError> {
        status::note_creating_waiting(self, fence, id, reason).await
    }

    async fn save_relationship(
        &self,
        fence: &Claim,
        id: BankLinkId,
        relationship: SavedRelationship,
        change: LinkStatusChange,
    ) -> Result<RelationshipSaved, StoreError> {
        status::save_relationship(self, fence, id, relationship, change).await
    }

    async fn fail_link(
        &self,
        fence: &Claim,
        id: BankLinkId,
        change: LinkStatusChange,
        failure_code: String,
        remove_item: bool,
    ) -> Result<bool, StoreError> {
        status::fail_link(self, fence, id, change, failure_code, remove_item).await
    }

    async fn change_link_status(
        &self,
        id: BankLinkId,
        change: LinkStatusChange,
        remove_item: bool,
    ) -> Result<bool, StoreError> {
        status::change_link_status(self, id, change, remove_item).await
    }
}
