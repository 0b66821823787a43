//! Reading Plaid's bank-transfer events: a sync reads `/bank_transfer/event/sync` from the stored
//! cursor (`after_id`), page after page until a page comes back short, and stores the pages in the
//! inbox, eight at a time, in the transaction that moves the cursor (an event that cannot be read is kept raw, and the
//! cursor moves past it); the pending events are applied as they come, a batch at a time. A sync runs
//! when a verified webhook arrives, and periodically on the replica that holds the stream's lease
//! ([`BankTransferSyncFollower`](crate::follow::BankTransferSyncFollower)).

use super::BankTransfers;
use super::applier::APPLY_PAGE;
use crate::error::CoreError;
use crate::ports::{PLAID_BANK_TRANSFER_STREAM, SyncedPlaidEvent};

/// Events asked for per sync page (Plaid's maximum).
const SYNC_PAGE: u8 = 25;
/// Events read before they are stored, with the cursor, in one transaction (eight pages).
const STORE_BATCH: usize = 200;
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
        // Pages are gathered and stored together, with the cursor they reach, in one transaction
        // per STORE_BATCH events (a commit per 25-event page was most of a sync's cost on
        // PostgreSQL). Nothing is lost by a crash before the store: the cursor has not moved, so
        // the next sync reads those pages again.
        let mut gathered: Vec<SyncedPlaidEvent> = Vec::new();
        let mut gathered_last_at = None;
        loop {
            let page = self
                .gateway
                .sync_bank_transfer_events(after, SYNC_PAGE)
                .await?;
            let empty = page.is_empty();
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
            gathered.extend(page);
            gathered_last_at = gathered_last_at.max(last_at);
            let moved = last.filter(|last| *last > after);
            if let Some(last) = moved {
                after = last;
            }
            let end = moved.is_none() || !full;
            if !gathered.is_empty() && (gathered.len() >= STORE_BATCH || end) {
                let stored = self
                    .store
                    .store_plaid_events(std::mem::take(&mut gathered), after)
                    .await?;
                report.stored += stored;
                unapplied += stored;
                crate::observe::stream_advanced(
                    PLAID_BANK_TRANSFER_STREAM,
                    self.clock.now(),
                    gathered_last_at.take(),
                );
                // Applied as they come, a batch at a time: a long backlog is never sorted whole.
                if unapplied >= u64::from(APPLY_PAGE) {
                    report.applied += self.apply_pending_events().await?;
                    unapplied = 0;
                }
            }
            if moved.is_none() && !empty {
                // Not one id on the page could be read, or none beyond the cursor: asking again
                // would return the same page.
                tracing::error!(
                    after_id = after,
                    "a Plaid event sync page moved the cursor nowhere; stopping this sync"
                );
            }
            if end {
                break;
            }
        }
        report.cursor = after;
        tracing::Span::current().record("stored", report.stored);
        report.applied += self.apply_pending_events().await?;
        Ok(report)
    }
}
