//! What the transfer use cases need from storage: transfers under an idempotency key with their
//! work, reads, and status moves appended to the transfer's history. The writes a transfer's work
//! makes take its [`Claim`] and are refused with [`StoreError::Fenced`] once the claim is gone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{AccountId, AlpacaTransferId, AlpacaTransferStatus, TransferId};

use super::{
    Begin, Claim, ClaimedWork, IdempotencyClaim, InboxMark, NewWork, StoreError, TransferDirection,
    Unresolved, UnresolvedCounts,
};
use crate::model::Transfer;

/// A new transfer, stored SUBMITTING with its idempotency record and its submit work.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub transfer: Transfer,
    pub work: NewWork,
}

/// The fast path's share of a create's first commit (DESIGN §9): the submit work claimed by this
/// process in the same transaction as the transfer, when it heads its ordering key (no older work of
/// the account is pending), and, when the checks have already decided, the request mark too, so
/// the create can be sent at once and its answer stored in the second and last commit.
#[derive(Debug, Clone)]
pub struct FastStart {
    /// This process's name in claims.
    pub owner: String,
    pub lease: std::time::Duration,
    /// The request time and the checks' decision, stored only with the claim: the create is sent
    /// right after the commit, under that claim.
    pub send: Option<(DateTime<Utc>, Option<crate::model::RiskDecision>)>,
}

/// What [`TransferStore::begin_transfer_claimed`] (or the Plaid rail's
/// `begin_bank_transfer_claimed`) did.
#[derive(Debug, Clone)]
#[must_use]
pub struct Begun<T> {
    pub begin: Begin<T>,
    /// The submit work, claimed for this process (a new transfer heading its ordering key).
    pub claimed: Option<ClaimedWork>,
    /// Whether the request mark (and decision) of [`FastStart::send`] was stored with it.
    pub marked: bool,
}

impl<T> Begun<T> {
    /// A key used before: nothing written, nothing claimed.
    pub fn existing(begin: Begin<T>) -> Self {
        Self {
            begin,
            claimed: None,
            marked: false,
        }
    }
}

/// A transfer status move: applied only if the stored status is still `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferChange {
    pub from: AlpacaTransferStatus,
    pub to: AlpacaTransferStatus,
    pub reason: Option<String>,
    /// Set on a move to RETURNED.
    pub ach_return_code: Option<String>,
    /// `alpaca:create`, `alpaca:lookup`, `alpaca:event`, `reconciler`, `api:cancel`, …
    pub source: String,
    /// The provider event that reported it; unique per transfer in the history.
    pub event_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which of an account's transfers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    pub status: Option<AlpacaTransferStatus>,
    pub direction: Option<TransferDirection>,
}

/// What storing Alpaca's id for a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferSaved {
    /// The transfer holds it now.
    Saved,
    /// Another of our transfers holds that Alpaca transfer (UNIQUE(provider_transfer_id)).
    HeldByAnother,
    /// The transfer was no longer SUBMITTING.
    NotSubmitting,
}

/// One entry of the ordered log of transfer changes: the transfer as it was right after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEvent {
    /// Increasing, gap-free in commit order: a watcher resumes after it.
    pub seq: i64,
    pub transfer: Transfer,
}

#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
    /// In one transaction: claims the idempotency record and, if it was new, stores the transfer
    /// and its work; otherwise returns the stored fingerprint and transfer, writing nothing.
    async fn begin_transfer(
        &self,
        claim: IdempotencyClaim,
        transfer: NewTransfer,
    ) -> Result<Begin<Transfer>, StoreError>;

    /// [`begin_transfer`](Self::begin_transfer), and in the same transaction, for a new transfer,
    /// the claim of its work for `start.owner` when no older work of its ordering key is pending,
    /// and with the claim the request mark of `start.send`.
    async fn begin_transfer_claimed(
        &self,
        claim: IdempotencyClaim,
        transfer: NewTransfer,
        start: FastStart,
    ) -> Result<Begun<Transfer>, StoreError>;

    /// What an earlier claim of this key made ([`Begin::Existing`], with its fingerprint), from a
    /// read; `None` for a key not used yet.
    async fn existing_transfer(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Begin<Transfer>>, StoreError>;

    async fn get_transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError>;

    async fn find_transfer_by_provider_id(
        &self,
        id: AlpacaTransferId,
    ) -> Result<Option<Transfer>, StoreError>;

    /// The transfers that hold any of these Alpaca transfers (one read for a batch of events).
    async fn find_transfers_by_provider_ids(
        &self,
        ids: &[AlpacaTransferId],
    ) -> Result<Vec<Transfer>, StoreError>;

    /// A batch of event moves in one transaction: each move as
    /// [`change_transfer_status`](Self::change_transfer_status) makes it, in order, then every inbox
    /// mark. All or nothing: when any move finds its transfer no longer at `from`, or its event
    /// already in the transfer's history, nothing is written and `false` is returned (the caller
    /// applies the events one by one).
    async fn apply_transfer_events(
        &self,
        moves: Vec<(TransferId, TransferChange)>,
        marks: Vec<InboxMark>,
    ) -> Result<bool, StoreError>;

    /// The account's transfers matching `filter`, oldest first, `size` at most after `after`;
    /// and the last id when more follow.
    async fn list_transfers(
        &self,
        account_id: AccountId,
        filter: TransferFilter,
        size: u32,
        after: Option<TransferId>,
    ) -> Result<(Vec<Transfer>, Option<TransferId>), StoreError>;

    /// Records that the create is about to be sent (fenced), only while the transfer is still
    /// SUBMITTING; false if it is not (a cancel won the race, and nothing must be sent).
    async fn mark_submit_requested(
        &self,
        fence: &Claim,
        id: TransferId,
        at: DateTime<Utc>,
        decision: Option<&crate::model::RiskDecision>,
    ) -> Result<bool, StoreError>;

    /// Puts back the request time a create had before it was sent (fenced), after the provider
    /// answered that it did not process it (a rate limit, a connection never made): nothing is
    /// waiting to land, so the next attempt need not settle an outcome.
    async fn restore_submit_requested(
        &self,
        fence: &Claim,
        id: TransferId,
        previous: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Records why a SUBMITTING transfer waits (its `status_reason`), fenced, only while it is
    /// still SUBMITTING; the status does not move. False if it is not SUBMITTING.
    async fn note_submit_waiting(
        &self,
        fence: &Claim,
        id: TransferId,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// The amounts of the account's withdrawals that may be at Alpaca and are not finished: sent
    /// or being sent (`submit_requested_at` set, or Alpaca's id stored) and in flight (SUBMITTING,
    /// QUEUED … APPROVED), every one but `except`. What DESIGN §4.7 takes off the withdrawable cash.
    async fn withdrawals_in_flight(
        &self,
        account_id: AccountId,
        except: TransferId,
    ) -> Result<Vec<funding_domain::Amount>, StoreError>;

    /// Stores Alpaca's id and moves the transfer from SUBMITTING (fenced), and makes the inbox's
    /// events parked for that Alpaca transfer pending again, in one transaction.
    async fn save_submitted(
        &self,
        fence: &Claim,
        id: TransferId,
        provider_id: AlpacaTransferId,
        change: TransferChange,
    ) -> Result<TransferSaved, StoreError>;

    /// [`save_submitted`](Self::save_submitted), and when it saved, the work of `fence` finished
    /// in the same transaction (the create's second and last commit).
    async fn save_submitted_and_finish(
        &self,
        fence: &Claim,
        id: TransferId,
        provider_id: AlpacaTransferId,
        change: TransferChange,
    ) -> Result<TransferSaved, StoreError>;

    /// Ends a SUBMITTING transfer FAILED (or CANCELED by a local cancel) with `failure_code`
    /// (fenced). Returns whether it moved.
    async fn end_unsubmitted(
        &self,
        fence: &Claim,
        id: TransferId,
        change: TransferChange,
        failure_code: Option<String>,
    ) -> Result<bool, StoreError>;

    /// Cancels a transfer locally (to `change.to`, CANCELED) only if it is SUBMITTING and its
    /// create was never sent (`submit_requested_at` is not set): one conditional update, so it and
    /// [`mark_submit_requested`](Self::mark_submit_requested) cannot both succeed. Returns whether
    /// it moved.
    async fn cancel_unsent(
        &self,
        id: TransferId,
        change: TransferChange,
    ) -> Result<bool, StoreError>;

    /// Moves the status if it is still `change.from` and appends the history entry; an event id
    /// already in the transfer's history is a no-op. Returns whether it moved.
    async fn change_transfer_status(
        &self,
        id: TransferId,
        change: TransferChange,
    ) -> Result<bool, StoreError>;

    /// The log of changes of the account's transfers (or of one of them) after `after`, in order,
    /// `limit` at most. Every status a transfer takes is in it, its creation too.
    async fn transfer_events(
        &self,
        account_id: AccountId,
        transfer_id: Option<TransferId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TransferEvent>, StoreError>;

    /// The newest sequence number in the log (0 when it is empty): where a live-only watch starts.
    async fn latest_transfer_event(&self) -> Result<i64, StoreError>;

    /// For the reconciler: up to `limit` transfers Alpaca knows that are in flight (QUEUED …
    /// APPROVED) and have not moved since `before`, those looked at least recently first (never,
    /// then longest ago; oldest change first among equals), each marked as looked at now, so that
    /// the next call, on any replica, takes others and every one comes in turn however many never
    /// resolve. Then up to a quarter of `limit` COMPLETE ones that have not moved since `before`
    /// and may still be returned, each in turn from sweep to sweep.
    async fn transfers_to_reconcile(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError>;

    /// For the reconciler, which lists these accounts at Alpaca anyway: every transfer of theirs
    /// in flight (as [`transfers_to_reconcile`](Self::transfers_to_reconcile)) that has not moved
    /// since `before`, each marked as looked at now.
    async fn account_transfers_to_reconcile(
        &self,
        accounts: &[AccountId],
        before: DateTime<Utc>,
    ) -> Result<Vec<Transfer>, StoreError>;

    /// Records what the reconciler's look found of each transfer: why it is still unresolved, or
    /// `None` (it moved, or is within its expected time).
    async fn record_transfer_checks(
        &self,
        checks: &[(TransferId, Option<Unresolved>)],
    ) -> Result<(), StoreError>;

    /// Transfers in flight whose last look found them unresolved and that have not moved since,
    /// counted by reason.
    async fn unresolved_transfers(&self) -> Result<UnresolvedCounts, StoreError>;
}
