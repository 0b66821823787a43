//! [`BankTransferStore`] on a [`Store`]: each method is instrumented with the ids it touches and
//! delegates to the module that owns the idea — creating under an idempotency key, reading, status
//! moves (fenced where a transfer's submit work makes them), the reconciler's query, and the inbox
//! of Plaid's bank-transfer events with its sync cursor. The processor token is sealed in its own
//! column; the request's other fields are kept as JSON and checked again by the domain when read.

mod create;
pub(crate) mod events;
mod read;
mod reconcile;
mod secrets;
pub(crate) mod status;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::model::{BankTransfer, RiskDecision};
use funding_core::ports::{
    BankTransferChange, BankTransferFilter, BankTransferHistoryEntry, BankTransferStore, Begin,
    Begun, Claim, FastStart, IdempotencyClaim, InboxMark, NewBankTransfer, PendingPlaidEvent,
    PlaidAnswerSaved, PlaidBankTransfer, StoreError, SyncedPlaidEvent, Unresolved,
    UnresolvedCounts,
};
use funding_domain::{BankTransferId, PlaidBankTransferId};

use crate::Store;

#[async_trait]
impl BankTransferStore for Store {
    #[tracing::instrument(skip_all, fields(bank_transfer_id = %transfer.transfer.id))]
    async fn begin_bank_transfer(
        &self,
        claim: IdempotencyClaim,
        transfer: NewBankTransfer,
    ) -> Result<Begin<BankTransfer>, StoreError> {
        Ok(create::begin_bank_transfer(self, claim, transfer, None)
            .await?
            .begin)
    }

    async fn existing_bank_transfer(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Begin<BankTransfer>>, StoreError> {
        create::existing_bank_transfer(self, claim).await
    }

    #[tracing::instrument(skip_all, fields(bank_transfer_id = %transfer.transfer.id))]
    async fn begin_bank_transfer_claimed(
        &self,
        claim: IdempotencyClaim,
        transfer: NewBankTransfer,
        start: FastStart,
    ) -> Result<Begun<BankTransfer>, StoreError> {
        create::begin_bank_transfer(self, claim, transfer, Some(start)).await
    }

    async fn get_bank_transfer(
        &self,
        id: BankTransferId,
    ) -> Result<Option<BankTransfer>, StoreError> {
        read::get_bank_transfer(self, id).await
    }

    async fn find_bank_transfer_by_plaid_id(
        &self,
        id: &PlaidBankTransferId,
    ) -> Result<Option<BankTransfer>, StoreError> {
        read::find_bank_transfer_by_plaid_id(self, id).await
    }

    async fn find_bank_transfers_by_plaid_ids(
        &self,
        ids: &[PlaidBankTransferId],
    ) -> Result<Vec<BankTransfer>, StoreError> {
        read::find_bank_transfers_by_plaid_ids(self, ids).await
    }

    #[tracing::instrument(skip_all, fields(moves = moves.len(), marks = marks.len()))]
    async fn apply_bank_transfer_events(
        &self,
        moves: Vec<(BankTransferId, BankTransferChange)>,
        marks: Vec<InboxMark>,
    ) -> Result<bool, StoreError> {
        status::apply_events(self, moves, marks).await
    }

    async fn list_bank_transfers(
        &self,
        caller: &str,
        filter: BankTransferFilter,
        size: u32,
        after: Option<BankTransferId>,
    ) -> Result<(Vec<BankTransfer>, Option<BankTransferId>), StoreError> {
        read::list_bank_transfers(self, caller, filter, size, after).await
    }

    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id, work_id = %fence.work_id))]
    async fn mark_bank_transfer_submit_requested(
        &self,
        fence: &Claim,
        id: BankTransferId,
        at: DateTime<Utc>,
        decision: Option<&RiskDecision>,
    ) -> Result<bool, StoreError> {
        status::mark_bank_transfer_submit_requested(self, fence, id, at, decision).await
    }

    #[tracing::instrument(
        skip_all,
        fields(bank_transfer_id = %id, plaid_bank_transfer_id = %plaid.id, work_id = %fence.work_id)
    )]
    async fn save_plaid_answer(
        &self,
        fence: &Claim,
        id: BankTransferId,
        plaid: PlaidBankTransfer,
        change: BankTransferChange,
    ) -> Result<PlaidAnswerSaved, StoreError> {
        status::save_plaid_answer(self, fence, id, plaid, change, false).await
    }

    async fn save_plaid_answer_and_finish(
        &self,
        fence: &Claim,
        id: BankTransferId,
        plaid: PlaidBankTransfer,
        change: BankTransferChange,
    ) -> Result<PlaidAnswerSaved, StoreError> {
        status::save_plaid_answer(self, fence, id, plaid, change, true).await
    }

    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id, work_id = %fence.work_id))]
    async fn refuse_bank_transfer(
        &self,
        fence: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError> {
        status::refuse_bank_transfer(self, fence, id, change).await
    }

    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id, to = %change.to))]
    async fn cancel_unsent_bank_transfer(
        &self,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError> {
        status::cancel_unsent_bank_transfer(self, id, change).await
    }

    #[tracing::instrument(
        skip_all,
        fields(bank_transfer_id = %id, from = %change.from, to = %change.to)
    )]
    async fn change_bank_transfer_status(
        &self,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError> {
        status::change_bank_transfer_status(self, id, change).await
    }

    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id, cancellable))]
    async fn set_bank_transfer_cancellable(
        &self,
        id: BankTransferId,
        cancellable: bool,
    ) -> Result<bool, StoreError> {
        status::set_bank_transfer_cancellable(self, id, cancellable).await
    }

    async fn bank_transfer_history(
        &self,
        id: BankTransferId,
    ) -> Result<Vec<BankTransferHistoryEntry>, StoreError> {
        read::bank_transfer_history(self, id).await
    }

    async fn bank_transfers_to_reconcile(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankTransfer>, StoreError> {
        reconcile::bank_transfers_to_reconcile(self, cutoff, limit).await
    }

    async fn record_bank_transfer_checks(
        &self,
        checks: &[(BankTransferId, Option<Unresolved>)],
    ) -> Result<(), StoreError> {
        reconcile::record_bank_transfer_checks(self, checks).await
    }

    async fn unresolved_bank_transfers(&self) -> Result<UnresolvedCounts, StoreError> {
        reconcile::unresolved_bank_transfers(self).await
    }

    #[tracing::instrument(skip_all, fields(count = events.len(), after_id))]
    async fn store_plaid_events(
        &self,
        events: Vec<SyncedPlaidEvent>,
        after_id: u64,
    ) -> Result<u64, StoreError> {
        events::store_plaid_events(self, events, after_id).await
    }

    async fn pending_plaid_events(&self, limit: u32) -> Result<Vec<PendingPlaidEvent>, StoreError> {
        events::pending_plaid_events(self, limit).await
    }

    async fn plaid_sync_cursor(&self) -> Result<u64, StoreError> {
        events::plaid_sync_cursor(self).await
    }
}
