//! [`TransferStore`] on a [`Store`]: each method is instrumented with the ids it touches and
//! delegates to the module that owns the idea — creating under an idempotency key, reading, status
//! moves (fenced where a transfer's work makes them), the reconciler's query.

mod changes;
pub(crate) use changes::number_committed;
mod create;
mod read;
mod reconcile;
pub(crate) mod status;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::model::Transfer;
use funding_core::ports::{
    Begin, Begun, Claim, FastStart, IdempotencyClaim, InboxMark, NewTransfer, StoreError,
    TransferChange, TransferEvent, TransferFilter, TransferSaved, TransferStore, Unresolved,
    UnresolvedCounts,
};
use funding_domain::{AccountId, AlpacaTransferId, TransferId};

use crate::Store;

#[async_trait]
impl TransferStore for Store {
    #[tracing::instrument(skip_all, fields(transfer_id = %transfer.transfer.id))]
    async fn begin_transfer(
        &self,
        claim: IdempotencyClaim,
        transfer: NewTransfer,
    ) -> Result<Begin<Transfer>, StoreError> {
        Ok(create::begin_transfer(self, claim, transfer, None)
            .await?
            .begin)
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %transfer.transfer.id))]
    async fn begin_transfer_claimed(
        &self,
        claim: IdempotencyClaim,
        transfer: NewTransfer,
        start: FastStart,
    ) -> Result<Begun<Transfer>, StoreError> {
        create::begin_transfer(self, claim, transfer, Some(start)).await
    }

    async fn existing_transfer(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Begin<Transfer>>, StoreError> {
        create::existing_transfer(self, claim).await
    }

    async fn get_transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError> {
        read::get_transfer(self, id).await
    }

    async fn find_transfer_by_provider_id(
        &self,
        id: AlpacaTransferId,
    ) -> Result<Option<Transfer>, StoreError> {
        read::find_transfer_by_provider_id(self, id).await
    }

    async fn find_transfers_by_provider_ids(
        &self,
        ids: &[AlpacaTransferId],
    ) -> Result<Vec<Transfer>, StoreError> {
        read::find_transfers_by_provider_ids(self, ids).await
    }

    #[tracing::instrument(skip_all, fields(moves = moves.len(), marks = marks.len()))]
    async fn apply_transfer_events(
        &self,
        moves: Vec<(TransferId, TransferChange)>,
        marks: Vec<InboxMark>,
    ) -> Result<bool, StoreError> {
        status::apply_events(self, moves, marks).await
    }

    async fn list_transfers(
        &self,
        account_id: AccountId,
        filter: TransferFilter,
        size: u32,
        after: Option<TransferId>,
    ) -> Result<(Vec<Transfer>, Option<TransferId>), StoreError> {
        read::list_transfers(self, account_id, filter, size, after).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, work_id = %fence.work_id))]
    async fn mark_submit_requested(
        &self,
        fence: &Claim,
        id: TransferId,
        at: DateTime<Utc>,
        decision: Option<&funding_core::model::RiskDecision>,
    ) -> Result<bool, StoreError> {
        status::mark_submit_requested(self, fence, id, at, decision).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, work_id = %fence.work_id))]
    async fn restore_submit_requested(
        &self,
        fence: &Claim,
        id: TransferId,
        previous: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        status::restore_submit_requested(self, fence, id, previous).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, work_id = %fence.work_id))]
    async fn note_submit_waiting(
        &self,
        fence: &Claim,
        id: TransferId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        status::note_submit_waiting(self, fence, id, reason).await
    }

    async fn withdrawals_in_flight(
        &self,
        account_id: AccountId,
        except: TransferId,
    ) -> Result<Vec<funding_domain::Amount>, StoreError> {
        read::withdrawals_in_flight(self, account_id, except).await
    }

    #[tracing::instrument(
        skip_all,
        fields(transfer_id = %id, provider_transfer_id = %provider_id, work_id = %fence.work_id)
    )]
    async fn save_submitted(
        &self,
        fence: &Claim,
        id: TransferId,
        provider_id: AlpacaTransferId,
        change: TransferChange,
    ) -> Result<TransferSaved, StoreError> {
        status::save_submitted(self, fence, id, provider_id, change, false).await
    }

    #[tracing::instrument(
        skip_all,
        fields(transfer_id = %id, provider_transfer_id = %provider_id, work_id = %fence.work_id)
    )]
    async fn save_submitted_and_finish(
        &self,
        fence: &Claim,
        id: TransferId,
        provider_id: AlpacaTransferId,
        change: TransferChange,
    ) -> Result<TransferSaved, StoreError> {
        status::save_submitted(self, fence, id, provider_id, change, true).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, to = %change.to, work_id = %fence.work_id))]
    async fn end_unsubmitted(
        &self,
        fence: &Claim,
        id: TransferId,
        change: TransferChange,
        failure_code: Option<String>,
    ) -> Result<bool, StoreError> {
        status::end_unsubmitted(self, fence, id, change, failure_code).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, to = %change.to))]
    async fn cancel_unsent(
        &self,
        id: TransferId,
        change: TransferChange,
    ) -> Result<bool, StoreError> {
        status::cancel_unsent(self, id, change).await
    }

    #[tracing::instrument(skip_all, fields(transfer_id = %id, from = %change.from, to = %change.to))]
    async fn change_transfer_status(
        &self,
        id: TransferId,
        change: TransferChange,
    ) -> Result<bool, StoreError> {
        status::change_transfer_status(self, id, change).await
    }

    async fn transfers_to_reconcile(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError> {
        reconcile::transfers_to_reconcile(self, before, limit).await
    }

    async fn account_transfers_to_reconcile(
        &self,
        accounts: &[AccountId],
        before: DateTime<Utc>,
    ) -> Result<Vec<Transfer>, StoreError> {
        reconcile::account_transfers_to_reconcile(self, accounts, before).await
    }

    async fn record_transfer_checks(
        &self,
        checks: &[(TransferId, Option<Unresolved>)],
    ) -> Result<(), StoreError> {
        reconcile::record_transfer_checks(self, checks).await
    }

    async fn unresolved_transfers(&self) -> Result<UnresolvedCounts, StoreError> {
        reconcile::unresolved_transfers(self).await
    }

    #[tracing::instrument(skip_all, fields(account_id = %account_id, after))]
    async fn transfer_events(
        &self,
        account_id: AccountId,
        transfer_id: Option<TransferId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TransferEvent>, StoreError> {
        changes::transfer_events(self, account_id, transfer_id, after, limit).await
    }

    async fn latest_transfer_event(&self) -> Result<i64, StoreError> {
        changes::latest_transfer_event(self).await
    }
}
