//! What the bank-transfer use cases need from storage: bank transfers under an idempotency key
//! with their submit work, reads, status moves appended to each transfer's history, and the inbox
//! of Plaid's bank-transfer events with the sync cursor (`after_id`) advanced in the same
//! transaction. Writes made by a transfer's work take its [`Claim`] and are refused with
//! [`StoreError::Fenced`] once the claim is gone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{
    BankTransferDirection, BankTransferId, PlaidBankTransferId, PlaidBankTransferStatus,
};

use super::{
    BankTransferFailure, Begin, Claim, IdempotencyClaim, InboxMark, NewWork, PlaidBankTransfer,
    PlaidBankTransferEvent, StoreError, SyncedPlaidEvent, Unresolved, UnresolvedCounts,
};
use crate::model::{BankTransfer, RiskDecision};

/// The inbox stream of Plaid's bank-transfer events; its cursor is the last `event_id` stored.
pub const PLAID_BANK_TRANSFER_STREAM: &str = "plaid:bank_transfer_events";

/// A new bank transfer, stored SUBMITTING with its idempotency record, its submit work and its
/// first history entry.
#[derive(Debug, Clone)]
pub struct NewBankTransfer {
    pub transfer: BankTransfer,
    pub work: NewWork,
}

/// A status move of a bank transfer: applied only if the stored status is still `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransferChange {
    pub from: PlaidBankTransferStatus,
    pub to: PlaidBankTransferStatus,
    /// Plaid's `cancellable` after the move.
    pub cancellable: bool,
    /// Plaid's `failure_reason` after the move (failed, reversed).
    pub failure: Option<BankTransferFailure>,
    /// Why, in words (a refusal's message).
    pub reason: Option<String>,
    /// For REFUSED: the provider error's code.
    pub failure_code: Option<String>,
    /// `plaid:create`, `plaid:event`, `plaid:get`, `plaid:cancel`, `api:cancel`, `engine:gave_up`…
    pub source: String,
    /// The Plaid event that reported it (its `event_id`); unique per transfer in the history.
    pub event_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// One entry of a bank transfer's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransferHistoryEntry {
    pub status: PlaidBankTransferStatus,
    pub source: String,
    pub event_id: Option<String>,
    pub ach_return_code: Option<String>,
    pub description: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which of a caller's bank transfers to list (the filters of Plaid's `/bank_transfer/list`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankTransferFilter {
    /// Created at or after.
    pub start: Option<DateTime<Utc>>,
    /// Created before.
    pub end: Option<DateTime<Utc>>,
    /// As requested, or as Plaid answered when the request named none.
    pub origination_account_id: Option<String>,
    /// Plaid's `direction`.
    pub direction: Option<BankTransferDirection>,
}

/// What storing Plaid's answer for a bank transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaidAnswerSaved {
    /// The transfer holds Plaid's id and object now.
    Saved,
    /// Another of our transfers holds that Plaid transfer (UNIQUE(plaid_bank_transfer_id)).
    HeldByAnother,
    /// The transfer was no longer SUBMITTING.
    NotSubmitting,
}

/// A Plaid event waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPlaidEvent {
    pub event: PlaidBankTransferEvent,
    /// Times it was tried.
    pub attempts: u32,
}

#[async_trait]
pub trait BankTransferStore: Send + Sync + 'static {
    /// In one transaction: claims the idempotency record and, if it was new, stores the transfer
    /// (its processor token sealed), its work and its first history entry (`api:create`);
    /// otherwise returns the stored fingerprint and transfer, writing nothing.
    async fn begin_bank_transfer(
        &self,
        claim: IdempotencyClaim,
        transfer: NewBankTransfer,
    ) -> Result<Begin<BankTransfer>, StoreError>;

    /// What an earlier claim of this key made ([`Begin::Existing`], with its fingerprint), from a
    /// read; `None` for a key not used yet.
    async fn existing_bank_transfer(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Begin<BankTransfer>>, StoreError>;

    /// [`begin_bank_transfer`](Self::begin_bank_transfer), and in the same transaction, for a new
    /// transfer, the claim of its work for `start.owner` (its ordering key is its own, so nothing
    /// older holds it back) and with the claim the request mark of `start.send`.
    async fn begin_bank_transfer_claimed(
        &self,
        claim: IdempotencyClaim,
        transfer: NewBankTransfer,
        start: super::FastStart,
    ) -> Result<super::Begun<BankTransfer>, StoreError>;

    async fn get_bank_transfer(
        &self,
        id: BankTransferId,
    ) -> Result<Option<BankTransfer>, StoreError>;

    async fn find_bank_transfer_by_plaid_id(
        &self,
        id: &PlaidBankTransferId,
    ) -> Result<Option<BankTransfer>, StoreError>;

    /// The bank transfers that hold any of these Plaid transfers (one read for a batch of events).
    async fn find_bank_transfers_by_plaid_ids(
        &self,
        ids: &[PlaidBankTransferId],
    ) -> Result<Vec<BankTransfer>, StoreError>;

    /// A batch of event moves in one transaction: each move as
    /// [`change_bank_transfer_status`](Self::change_bank_transfer_status) makes it, in order, then
    /// every inbox mark. All or nothing: when any move finds its transfer no longer at `from`, or
    /// its event already in the transfer's history, nothing is written and `false` is returned (the
    /// caller applies the events one by one).
    async fn apply_bank_transfer_events(
        &self,
        moves: Vec<(BankTransferId, BankTransferChange)>,
        marks: Vec<InboxMark>,
    ) -> Result<bool, StoreError>;

    /// The caller's bank transfers matching `filter`, oldest first, `size` at most after `after`;
    /// and the last id when more follow.
    async fn list_bank_transfers(
        &self,
        caller: &str,
        filter: BankTransferFilter,
        size: u32,
        after: Option<BankTransferId>,
    ) -> Result<(Vec<BankTransfer>, Option<BankTransferId>), StoreError>;

    /// Records when the create was first sent (fenced; a later send keeps the first time), and
    /// with it the risk checks' `decision` when one is given (the first send's acceptance), only
    /// while the transfer is SUBMITTING; false if it is not (a local cancel won the race).
    async fn mark_bank_transfer_submit_requested(
        &self,
        fence: &Claim,
        id: BankTransferId,
        at: DateTime<Utc>,
        decision: Option<&RiskDecision>,
    ) -> Result<bool, StoreError>;

    /// Stores Plaid's answer (its id, UNIQUE, and object) and moves the transfer from SUBMITTING
    /// along `change` (fenced), and makes the inbox's events parked for that Plaid id pending
    /// again, in one transaction.
    async fn save_plaid_answer(
        &self,
        fence: &Claim,
        id: BankTransferId,
        plaid: PlaidBankTransfer,
        change: BankTransferChange,
    ) -> Result<PlaidAnswerSaved, StoreError>;

    /// [`save_plaid_answer`](Self::save_plaid_answer), and when it saved, the work of `fence`
    /// finished in the same transaction (the create's second and last commit).
    async fn save_plaid_answer_and_finish(
        &self,
        fence: &Claim,
        id: BankTransferId,
        plaid: PlaidBankTransfer,
        change: BankTransferChange,
    ) -> Result<PlaidAnswerSaved, StoreError>;

    /// Ends a SUBMITTING transfer REFUSED (fenced). Returns whether it moved.
    async fn refuse_bank_transfer(
        &self,
        fence: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError>;

    /// Cancels a transfer locally only if it is SUBMITTING and its create was never sent: one
    /// conditional update, so it and the submit's mark cannot both succeed. Returns whether it
    /// moved.
    async fn cancel_unsent_bank_transfer(
        &self,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError>;

    /// Moves the status (with `cancellable` and the failure) if it is still `change.from`, and
    /// appends the history entry; an event id already in the transfer's history is a no-op.
    /// Returns whether it moved.
    async fn change_bank_transfer_status(
        &self,
        id: BankTransferId,
        change: BankTransferChange,
    ) -> Result<bool, StoreError>;

    /// Refreshes `cancellable` without a status move (Plaid said so on a read). Returns whether
    /// it changed.
    async fn set_bank_transfer_cancellable(
        &self,
        id: BankTransferId,
        cancellable: bool,
    ) -> Result<bool, StoreError>;

    /// The transfer's history, oldest first.
    async fn bank_transfer_history(
        &self,
        id: BankTransferId,
    ) -> Result<Vec<BankTransferHistoryEntry>, StoreError>;

    /// For the reconciler: up to `limit` PENDING transfers (Plaid knows them) not updated since
    /// `cutoff`, those looked at least recently first (never, then longest ago; oldest change
    /// first among equals), each marked as looked at now, so that the next call, on any replica,
    /// takes others.
    async fn bank_transfers_to_reconcile(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BankTransfer>, StoreError>;

    /// Records what the reconciler's look found of each bank transfer: why it is still
    /// unresolved, or `None`.
    async fn record_bank_transfer_checks(
        &self,
        checks: &[(BankTransferId, Option<Unresolved>)],
    ) -> Result<(), StoreError>;

    /// PENDING bank transfers whose last look found them unresolved and that have not moved
    /// since, counted by reason.
    async fn unresolved_bank_transfers(&self) -> Result<UnresolvedCounts, StoreError>;

    /// In one transaction: stores every event not stored before (by its `event_id`, with its raw
    /// JSON) in the inbox of [`PLAID_BANK_TRANSFER_STREAM`]: a readable one as pending, under entity
    /// type `BankTransfer` and Plaid's transfer id; an unreadable one as unreadable, with why,
    /// under its `event_id` (or, without one, a digest of its JSON). Moves the stream's cursor to
    /// `after_id` (never back). Returns how many were new.
    async fn store_plaid_events(
        &self,
        events: Vec<SyncedPlaidEvent>,
        after_id: u64,
    ) -> Result<u64, StoreError>;

    /// Pending Plaid events, oldest `event_id` first.
    async fn pending_plaid_events(&self, limit: u32) -> Result<Vec<PendingPlaidEvent>, StoreError>;

    /// The sync cursor: the largest `event_id` stored (0 at first).
    async fn plaid_sync_cursor(&self) -> Result<u64, StoreError>;
}
