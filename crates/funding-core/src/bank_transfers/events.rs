//! Following Plaid's bank-transfer events, and the reconciler that backs them up.
//!
//! A sync reads `/bank_transfer/event/sync` from the stored cursor (`after_id`), page after page
//! until a page comes back short, and stores each page in the inbox in the transaction that moves
//! the cursor (an event that cannot be read is kept raw, and the cursor moves past it); then the
//! pending events are applied in `event_id` order. Each reported status moves the transfer along
//! the lifecycle table once; duplicates, late and out-of-order events change nothing; an event for
//! a transfer whose create answer is not stored yet is parked and applied when it is. A sync runs
//! when a verified webhook arrives, and periodically on the replica that holds the stream's lease.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::{BankTransferId, PlaidBankTransferStatus};

use super::BankTransfers;
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::{
    BankTransferChange, BankTransferFailure, CursorStore, InboxMark, InboxState,
    PLAID_BANK_TRANSFER_STREAM, PendingPlaidEvent, PlaidBankTransferEvent, Unresolved,
};
use crate::reconcile::{Pacer, ReconcileReport, ReconcileSettings, ago, publish_unresolved};

/// Events asked for per sync page (Plaid's maximum).
const SYNC_PAGE: u8 = 25;
/// Pending events applied per read of the inbox.
const APPLY_PAGE: u32 = 200;

/// What applying one Plaid event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaidEventOutcome {
    Moved {
        from: PlaidBankTransferStatus,
        to: PlaidBankTransferStatus,
    },
    /// A duplicate, a late or out-of-order event.
    Ignored(&'static str),
    /// No transfer of ours holds this Plaid transfer (yet).
    NoSubject,
    /// A status this service does not know; the transfer kept its status.
    UnknownStatus(String),
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events read from Plaid that were new.
    pub stored: u64,
    /// Events applied (moved a transfer or found to change nothing).
    pub applied: u64,
    /// The cursor after the sync.
    pub cursor: u64,
}

impl BankTransfers {
    /// Reads every new event from Plaid into the inbox and applies the pending ones.
    #[tracing::instrument(skip_all, fields(after_id, stored))]
    pub async fn sync(&self) -> Result<SyncReport, CoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let mut after = self.store.plaid_sync_cursor().await?;
        tracing::Span::current().record("after_id", after);
        let mut report = SyncReport::default();
        let mut unapplied = 0;
        loop {
            let page = self
                .gateway
                .sync_bank_transfer_events(after, SYNC_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            let full = page.len() >= usize::from(SYNC_PAGE);
            // Unreadable events count for the cursor when their id could be read: the sync moves
            // past them (they are kept raw).
            let last = page.iter().filter_map(|event| event.event_id).max();
            let last_at = page
                .iter()
                .filter_map(|event| event.event.as_ref().ok().map(|event| event.timestamp))
                .max();
            let unreadable = page.iter().filter(|event| event.event.is_err()).count();
            if unreadable > 0 {
                tracing::error!(
                    unreadable,
                    "Plaid bank-transfer events could not be read; kept raw, the sync goes on"
                );
                metrics::counter!(
                    "funding_provider_events_unreadable_total",
                    "stream" => PLAID_BANK_TRANSFER_STREAM
                )
                .increment(unreadable as u64);
            }
            let stored = self
                .store
                .store_plaid_events(page, last.unwrap_or(after).max(after))
                .await?;
            report.stored += stored;
            unapplied += stored;
            // Applied as they come, a batch at a time: a long backlog is never sorted whole.
            if unapplied >= u64::from(APPLY_PAGE) {
                report.applied += self.apply_pending_events().await?;
                unapplied = 0;
            }
            crate::observe::stream_advanced(PLAID_BANK_TRANSFER_STREAM, self.clock.now(), last_at);
            let Some(last) = last.filter(|last| *last > after) else {
                // Not one id on the page could be read, or none beyond the cursor: asking again
                // would return the same page.
                tracing::error!(
                    after_id = after,
                    "a Plaid event sync page moved the cursor nowhere; stopping this sync"
                );
                break;
            };
            after = last;
            if !full {
                break;
            }
        }
        report.cursor = after;
        tracing::Span::current().record("stored", report.stored);
        report.applied += self.apply_pending_events().await?;
        Ok(report)
    }

    /// Applies the inbox's pending Plaid events, oldest first. Returns how many this call applied.
    ///
    /// One applier at a time in this process: two applying the same pages at once would write the
    /// same rows in different orders, and on PostgreSQL wait on each other until one is chosen as a
    /// deadlock victim (every bank transfer's submit asks for an apply once Plaid has it). A call
    /// that finds another applying leaves its request and returns at once: the applier reads the
    /// inbox again before it stops, so what the caller stored or unparked before calling is applied.
    pub async fn apply_pending_events(&self) -> Result<u64, CoreError> {
        self.apply_requested.store(true, Ordering::SeqCst);
        let mut applied = 0;
        loop {
            let Ok(applier) = self.applying.try_lock() else {
                return Ok(applied);
            };
            while self.apply_requested.swap(false, Ordering::SeqCst) {
                applied += self.apply_pending_pages().await?;
            }
            drop(applier);
            // A request left after the last read but before the unlock is served here.
            if !self.apply_requested.load(Ordering::SeqCst) {
                return Ok(applied);
            }
        }
    }

    /// Applies pending pages until a page is not full.
    async fn apply_pending_pages(&self) -> Result<u64, CoreError> {
        let mut applied = 0;
        loop {
            let pending = self.store.pending_plaid_events(APPLY_PAGE).await?;
            let count = pending.len();
            if count > 1
                && let Some(moved) = self.apply_events_together(&pending).await?
            {
                applied += moved;
                if count < APPLY_PAGE as usize {
                    return Ok(applied);
                }
                continue;
            }
            for waiting in pending {
                let event_id = waiting.event.event_id.to_string();
                let (state, error) = match self.apply_event(&waiting.event).await {
                    Ok(PlaidEventOutcome::NoSubject) => (InboxState::ParkedNoSubject, None),
                    Ok(_) => {
                        applied += 1;
                        (InboxState::Applied, None)
                    }
                    Err(error) => {
                        tracing::warn!(%event_id, "a Plaid event failed to apply; parked: {error}");
                        (InboxState::ParkedError, Some(error.to_string()))
                    }
                };
                self.inbox
                    .mark_event(
                        PLAID_BANK_TRANSFER_STREAM,
                        &event_id,
                        state,
                        error.as_deref(),
                    )
                    .await?;
            }
            if count < APPLY_PAGE as usize {
                return Ok(applied);
            }
        }
    }

    /// Applies a page of pending events (in `event_id` order) in one transaction with their inbox
    /// marks. The transfers are read once for the page and followed in memory through the
    /// lifecycle table, so several events of one transfer move it step by step. Returns how many
    /// were applied, or `None` when the page could not be applied as one (a transfer moved
    /// meanwhile, an event already in a history): nothing was written, and the caller applies the
    /// events one by one.
    async fn apply_events_together(
        &self,
        pending: &[PendingPlaidEvent],
    ) -> Result<Option<u64>, CoreError> {
        let ids: Vec<_> = pending
            .iter()
            .map(|waiting| waiting.event.bank_transfer_id.clone())
            .collect();
        let mut known: HashMap<_, BankTransfer> = self
            .store
            .find_bank_transfers_by_plaid_ids(&ids)
            .await?
            .into_iter()
            .filter_map(|transfer| transfer.provider_id().cloned().map(|id| (id, transfer)))
            .collect();
        let mut moves = Vec::new();
        let mut marks = Vec::with_capacity(pending.len());
        let mut applied = 0;
        for waiting in pending {
            let event = &waiting.event;
            let state = match known.get_mut(&event.bank_transfer_id) {
                None => InboxState::ParkedNoSubject,
                Some(transfer) => {
                    if let Judged::Moved { from, to } = judge(transfer, event.event_type.clone()) {
                        let change = change(
                            transfer,
                            from,
                            to.clone(),
                            event.failure_reason.clone(),
                            Some(event.event_id.to_string()),
                            "plaid:event",
                            self.clock.now(),
                        );
                        transfer.status = to;
                        if let Some(plaid) = transfer.plaid.as_mut() {
                            plaid.cancellable = change.cancellable;
                        }
                        moves.push((transfer.id, change));
                    }
                    applied += 1;
                    InboxState::Applied
                }
            };
            marks.push(InboxMark {
                stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
                event_id: event.event_id.to_string(),
                state,
                error: None,
            });
        }
        if !self
            .store
            .apply_bank_transfer_events(moves.clone(), marks)
            .await?
        {
            return Ok(None);
        }
        for (id, change) in &moves {
            moved(*id, change);
        }
        Ok(Some(applied))
    }

    /// Applies one Plaid event to the transfer that holds its Plaid transfer.
    #[tracing::instrument(skip_all, fields(event_id = event.event_id, plaid_bank_transfer_id = %event.bank_transfer_id, event_type = %event.event_type))]
    pub async fn apply_event(
        &self,
        event: &PlaidBankTransferEvent,
    ) -> Result<PlaidEventOutcome, CoreError> {
        let Some(transfer) = self
            .store
            .find_bank_transfer_by_plaid_id(&event.bank_transfer_id)
            .await?
        else {
            return Ok(PlaidEventOutcome::NoSubject);
        };
        self.apply_status(
            &transfer,
            event.event_type.clone(),
            event.failure_reason.clone(),
            Some(event.event_id.to_string()),
            "plaid:event",
        )
        .await
    }

    async fn apply_status(
        &self,
        transfer: &BankTransfer,
        reported: PlaidBankTransferStatus,
        failure: Option<BankTransferFailure>,
        event_id: Option<String>,
        source: &str,
    ) -> Result<PlaidEventOutcome, CoreError> {
        match judge(transfer, reported) {
            Judged::Moved { from, to } => {
                let change = change(
                    transfer,
                    from.clone(),
                    to.clone(),
                    failure,
                    event_id,
                    source,
                    self.clock.now(),
                );
                if self
                    .store
                    .change_bank_transfer_status(transfer.id, change.clone())
                    .await?
                {
                    moved(transfer.id, &change);
                    Ok(PlaidEventOutcome::Moved { from, to })
                } else {
                    Ok(PlaidEventOutcome::Ignored(
                        "the transfer moved meanwhile or the event was applied before",
                    ))
                }
            }
            Judged::Not(outcome) => Ok(outcome),
        }
    }

    /// Reads the transfer back from Plaid and applies what differs.
    pub(super) async fn refresh(
        &self,
        transfer: &BankTransfer,
    ) -> Result<PlaidEventOutcome, CoreError> {
        let Some(plaid_id) = transfer.provider_id() else {
            return Ok(PlaidEventOutcome::NoSubject);
        };
        let found = self.gateway.get_bank_transfer(plaid_id).await?;
        if found.status == transfer.status {
            if found.cancellable != transfer.cancellable() {
                self.store
                    .set_bank_transfer_cancellable(transfer.id, found.cancellable)
                    .await?;
            }
            return Ok(PlaidEventOutcome::Ignored("duplicate"));
        }
        self.apply_status(
            transfer,
            found.status,
            found.failure_reason,
            None,
            "plaid:get",
        )
        .await
    }

    /// Reads back from Plaid, by id and each in its turn of `pacer`, up to `settings.pass_size`
    /// pending transfers that have not moved for longer than `settings.after` (those looked at
    /// least recently first); applies any difference and records what stays unresolved.
    pub async fn reconcile(
        &self,
        settings: &ReconcileSettings,
        pacer: &Pacer,
    ) -> Result<ReconcileReport, CoreError> {
        let now = self.clock.now();
        let cutoff = ago(now, settings.after);
        let stuck_before = ago(now, settings.stuck_after);
        let mut report = ReconcileReport::default();
        let due = self
            .store
            .bank_transfers_to_reconcile(cutoff, settings.pass_size)
            .await?;
        let mut checks: Vec<(BankTransferId, Option<Unresolved>)> = Vec::with_capacity(due.len());
        for transfer in due {
            pacer.wait().await;
            report.lookups += 1;
            report.checked += 1;
            let unresolved = match self.refresh(&transfer).await {
                Ok(PlaidEventOutcome::Moved { .. }) => {
                    report.moved += 1;
                    tracing::warn!(bank_transfer_id = %transfer.id, "the reconciler moved a bank transfer its events had not");
                    metrics::counter!("funding_reconciler_moves_total", "resource" => "bank_transfer").increment(1);
                    None
                }
                Ok(PlaidEventOutcome::UnknownStatus(_)) => Some(Unresolved::UnknownStatus),
                Ok(_) if transfer.updated_at <= stuck_before => Some(Unresolved::Unchanged),
                Ok(_) => None,
                Err(CoreError::Provider(error))
                    if error.kind == crate::ports::ProviderErrorKind::NotFound =>
                {
                    report.missing += 1;
                    tracing::error!(bank_transfer_id = %transfer.id, "Plaid does not know the bank transfer");
                    metrics::counter!("funding_reconciler_missing_total", "resource" => "bank_transfer").increment(1);
                    Some(Unresolved::Missing)
                }
                Err(CoreError::Provider(error)) => {
                    tracing::warn!(bank_transfer_id = %transfer.id, "cannot reconcile the bank transfer: {error}");
                    Some(Unresolved::LookupFailed)
                }
                Err(error) => return Err(error),
            };
            checks.push((transfer.id, unresolved));
        }
        self.store.record_bank_transfer_checks(&checks).await?;
        report.unresolved = self.store.unresolved_bank_transfers().await?;
        publish_unresolved("bank_transfer", &report.unresolved);
        Ok(report)
    }
}

/// What a reported status does to a bank transfer: a move, or an outcome that changes nothing.
enum Judged {
    Moved {
        from: PlaidBankTransferStatus,
        to: PlaidBankTransferStatus,
    },
    Not(PlaidEventOutcome),
}

/// Follows the lifecycle table from the transfer's status to the reported one (logging what is
/// ignored).
fn judge(transfer: &BankTransfer, reported: PlaidBankTransferStatus) -> Judged {
    match lifecycle::apply(&transfer.status, reported) {
        Ok(Transition::Moved { from, to }) => Judged::Moved { from, to },
        Ok(Transition::Unchanged) => Judged::Not(PlaidEventOutcome::Ignored("duplicate")),
        Err(TransitionError::Illegal { from, to }) => {
            tracing::info!(bank_transfer_id = %transfer.id, %from, %to, "late or out-of-order bank transfer status ignored");
            Judged::Not(PlaidEventOutcome::Ignored("not a move the table allows"))
        }
        Err(TransitionError::UnknownStatus(status)) => {
            tracing::error!(bank_transfer_id = %transfer.id, %status, "UNKNOWN bank transfer status from Plaid; the transfer keeps its status");
            Judged::Not(PlaidEventOutcome::UnknownStatus(status))
        }
    }
}

/// The move of `transfer` from `from` to `to`, with Plaid's failure.
fn change(
    transfer: &BankTransfer,
    from: PlaidBankTransferStatus,
    to: PlaidBankTransferStatus,
    failure: Option<BankTransferFailure>,
    event_id: Option<String>,
    source: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> BankTransferChange {
    BankTransferChange {
        // Only a pending transfer may still be cancelled.
        cancellable: to == PlaidBankTransferStatus::Pending && transfer.cancellable(),
        from,
        to,
        reason: failure.as_ref().and_then(|f| f.description.clone()),
        failure,
        failure_code: None,
        source: source.to_owned(),
        event_id,
        at,
    }
}

/// Logs and counts a stored move.
fn moved(id: BankTransferId, change: &BankTransferChange) {
    let BankTransferChange {
        from, to, source, ..
    } = change;
    tracing::info!(bank_transfer_id = %id, %from, %to, source, "bank transfer status moved");
    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => to.as_str().to_owned())
        .increment(1);
    if *to == PlaidBankTransferStatus::Reversed {
        let code = change
            .failure
            .as_ref()
            .and_then(|f| f.ach_return_code.clone());
        crate::observe::entry_returned("plaid", code.as_ref());
    }
}

/// Syncs Plaid's bank-transfer events periodically (and at once when woken), on the one replica
/// that holds the stream's lease. Webhooks sync on whichever replica receives them.
pub struct BankTransferSyncFollower {
    transfers: BankTransfers,
    cursors: Arc<dyn CursorStore>,
    owner: String,
    lease: Duration,
    interval: Duration,
    wake: Arc<tokio::sync::Notify>,
}

impl BankTransferSyncFollower {
    pub fn new(
        transfers: BankTransfers,
        cursors: Arc<dyn CursorStore>,
        owner: String,
        lease: Duration,
        interval: Duration,
    ) -> Self {
        Self {
            transfers,
            cursors,
            owner,
            lease,
            interval,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Wakes the follower for a sync now.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Syncs whenever this replica holds the lease, until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let lease_name = format!("{PLAID_BANK_TRANSFER_STREAM}:sync");
        loop {
            match self
                .cursors
                .claim_stream(&lease_name, &self.owner, self.lease)
                .await
            {
                Ok(true) => match self.transfers.sync().await {
                    Ok(report) if report.stored > 0 => {
                        tracing::debug!(
                            stored = report.stored,
                            cursor = report.cursor,
                            "synced Plaid's bank-transfer events"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!("cannot sync Plaid's bank-transfer events: {error}")
                    }
                },
                Ok(false) => {}
                Err(error) => tracing::warn!("cannot claim the Plaid event sync: {error}"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.interval) => {}
            }
        }
        if let Err(error) = self.cursors.release_stream(&lease_name, &self.owner).await {
            tracing::warn!("cannot release the Plaid event sync: {error}");
        }
    }
}
