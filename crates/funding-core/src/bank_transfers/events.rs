//! Following Plaid's bank-transfer events, and the reconciler that backs them up.
//!
//! A sync reads `/bank_transfer/event/sync` from the stored cursor (`after_id`), page after page
//! until a page comes back short, and stores each page in the inbox in the transaction that moves
//! the cursor; then the pending events are applied in `event_id` order. Each reported status moves
//! the transfer along the lifecycle table once; duplicates, late and out-of-order events change
//! nothing; an event for a transfer whose create answer is not stored yet is parked and applied
//! when it is. A sync runs when a verified webhook arrives, and periodically on the replica that
//! holds the stream's lease.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use funding_domain::PlaidBankTransferStatus;
use funding_domain::lifecycle::{self, Transition, TransitionError};

use super::BankTransfers;
use crate::error::CoreError;
use crate::links::ReconcileReport;
use crate::model::BankTransfer;
use crate::ports::{
    BankTransferChange, BankTransferFailure, CursorStore, InboxState, PLAID_BANK_TRANSFER_STREAM,
    PlaidBankTransferEvent,
};

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
        loop {
            let page = self
                .gateway
                .sync_bank_transfer_events(after, SYNC_PAGE)
                .await?;
            let full = page.len() >= usize::from(SYNC_PAGE);
            let Some(last) = page.iter().map(|event| event.event_id).max() else {
                break;
            };
            let last_at = page.iter().map(|event| event.timestamp).max();
            let events = page
                .into_iter()
                .map(|event| (serde_json::to_string(&event).unwrap_or_default(), event))
                .collect();
            report.stored += self.store.store_plaid_events(events, last).await?;
            crate::observe::stream_advanced(PLAID_BANK_TRANSFER_STREAM, self.clock.now(), last_at);
            after = after.max(last);
            if !full {
                break;
            }
        }
        report.cursor = after;
        tracing::Span::current().record("stored", report.stored);
        report.applied = self.apply_pending_events().await?;
        Ok(report)
    }

    /// Applies the inbox's pending Plaid events, oldest first. Returns how many were applied.
    pub async fn apply_pending_events(&self) -> Result<u64, CoreError> {
        let mut applied = 0;
        loop {
            let pending = self.store.pending_plaid_events(APPLY_PAGE).await?;
            let count = pending.len();
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
        match lifecycle::apply(&transfer.status, reported) {
            Ok(Transition::Moved { from, to }) => {
                let return_code = failure.as_ref().and_then(|f| f.ach_return_code.clone());
                let change = BankTransferChange {
                    from: from.clone(),
                    to: to.clone(),
                    // Only a pending transfer may still be cancelled.
                    cancellable: to == PlaidBankTransferStatus::Pending && transfer.cancellable(),
                    reason: failure.as_ref().and_then(|f| f.description.clone()),
                    failure,
                    failure_code: None,
                    source: source.to_owned(),
                    event_id,
                    at: self.clock.now(),
                };
                if self
                    .store
                    .change_bank_transfer_status(transfer.id, change)
                    .await?
                {
                    tracing::info!(bank_transfer_id = %transfer.id, %from, %to, source, "bank transfer status moved");
                    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => to.as_str().to_owned()).increment(1);
                    if to == PlaidBankTransferStatus::Reversed {
                        crate::observe::entry_returned("plaid", return_code.as_ref());
                    }
                    Ok(PlaidEventOutcome::Moved { from, to })
                } else {
                    Ok(PlaidEventOutcome::Ignored(
                        "the transfer moved meanwhile or the event was applied before",
                    ))
                }
            }
            Ok(Transition::Unchanged) => Ok(PlaidEventOutcome::Ignored("duplicate")),
            Err(TransitionError::Illegal { from, to }) => {
                tracing::info!(bank_transfer_id = %transfer.id, %from, %to, "late or out-of-order bank transfer status ignored");
                Ok(PlaidEventOutcome::Ignored("not a move the table allows"))
            }
            Err(TransitionError::UnknownStatus(status)) => {
                tracing::error!(bank_transfer_id = %transfer.id, %status, "UNKNOWN bank transfer status from Plaid; the transfer keeps its status");
                Ok(PlaidEventOutcome::UnknownStatus(status))
            }
        }
    }

    /// Reads the transfer back from Plaid and applies what differs. Returns whether it moved.
    pub(super) async fn refresh(&self, transfer: &BankTransfer) -> Result<bool, CoreError> {
        let Some(plaid_id) = transfer.provider_id() else {
            return Ok(false);
        };
        let found = self.gateway.get_bank_transfer(plaid_id).await?;
        if found.status == transfer.status {
            if found.cancellable != transfer.cancellable() {
                self.store
                    .set_bank_transfer_cancellable(transfer.id, found.cancellable)
                    .await?;
            }
            return Ok(false);
        }
        let outcome = self
            .apply_status(
                transfer,
                found.status,
                found.failure_reason,
                None,
                "plaid:get",
            )
            .await?;
        Ok(matches!(outcome, PlaidEventOutcome::Moved { .. }))
    }

    /// Reads back from Plaid up to `limit` pending transfers that have not moved for longer than
    /// `older_than`, and applies any difference.
    pub async fn reconcile(
        &self,
        older_than: Duration,
        limit: u32,
    ) -> Result<ReconcileReport, CoreError> {
        let cutoff = self.clock.now()
            - ChronoDuration::from_std(older_than).unwrap_or(ChronoDuration::minutes(1));
        let mut report = ReconcileReport::default();
        for transfer in self
            .store
            .bank_transfers_to_reconcile(cutoff, limit)
            .await?
        {
            report.checked += 1;
            match self.refresh(&transfer).await {
                Ok(true) => {
                    report.moved += 1;
                    tracing::warn!(bank_transfer_id = %transfer.id, "the reconciler moved a bank transfer its events had not");
                    metrics::counter!("funding_reconciler_moves_total", "resource" => "bank_transfer").increment(1);
                }
                Ok(false) => {}
                Err(CoreError::Provider(error))
                    if error.kind == crate::ports::ProviderErrorKind::NotFound =>
                {
                    report.missing += 1;
                    tracing::error!(bank_transfer_id = %transfer.id, "Plaid does not know the bank transfer");
                    metrics::counter!("funding_reconciler_missing_total", "resource" => "bank_transfer").increment(1);
                }
                Err(error) => {
                    tracing::warn!(bank_transfer_id = %transfer.id, "cannot reconcile the bank transfer: {error}");
                }
            }
        }
        Ok(report)
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
            let until = self.transfers.clock.now()
                + ChronoDuration::from_std(self.lease).unwrap_or(ChronoDuration::seconds(15));
            match self
                .cursors
                .claim_stream(&lease_name, &self.owner, until)
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
