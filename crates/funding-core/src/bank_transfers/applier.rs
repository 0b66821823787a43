//! The applier of the inbox's pending Plaid events, one at a time in this process, in `event_id`
//! order: a page at once in one transaction when it can be, else event by event. An event for a
//! transfer whose create answer is not stored yet is parked and applied when it is; one that fails
//! to apply is parked with its error.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::BankTransfers;
use super::apply::{Judged, PlaidEventOutcome, change, judge, moved};
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::{InboxMark, InboxState, PLAID_BANK_TRANSFER_STREAM, PendingPlaidEvent};

/// Pending events applied per read of the inbox.
pub(super) const APPLY_PAGE: u32 = 200;

impl BankTransfers {
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
}
