//! The follower of Plaid's bank-transfer events: on the one replica that holds the sync's lease it
//! runs [`BankTransfers::sync`] periodically, and at once when woken (a verified webhook wakes the
//! replica that receives it).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::bank_transfers::BankTransfers;
use crate::ports::{CursorStore, PLAID_BANK_TRANSFER_STREAM};

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
