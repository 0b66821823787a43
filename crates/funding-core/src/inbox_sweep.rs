//! The inbox's upkeep, on a timer of its own and apart from every stream reader: parked events whose
//! subject is stored now are made pending (one statement, a join), events parked for longer than a
//! grace period are classed foreign (about subjects this service never made: counted, no longer
//! looked for), applied events are pruned after a retention, and the gauges are refreshed from an
//! index. Every step writes at most [`SWEEP_BATCH`] rows a statement and at most
//! [`MAX_STATEMENTS_PER_STEP`] statements a sweep, so a sweep is a bounded number of short
//! statements however large the inbox grows; what is left waits for the next sweep.
//!
//! One replica sweeps at a time: it holds a lease ([`INBOX_SWEEP_LEASE`]) in the store, like a
//! stream's. The readers only apply what is pending (Alpaca's follower looks for pending events on a
//! short timer; Plaid's sync applies them after each sync).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ports::{CursorStore, InboxState, InboxStats, InboxStore, StoreError};

/// The lease's name in the store.
pub const INBOX_SWEEP_LEASE: &str = "inbox:sweep";
/// Rows one statement of a sweep writes at most.
pub const SWEEP_BATCH: u32 = 5_000;
/// Statements a step of a sweep (classing foreign events, pruning) runs at most.
pub const MAX_STATEMENTS_PER_STEP: u32 = 4;

const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How the inbox is kept.
#[derive(Debug, Clone)]
pub struct InboxSweepSettings {
    /// This replica's name in the lease.
    pub owner: String,
    /// How long the sweep's lease lasts (renewed at every sweep; another replica sweeps this long
    /// after the holder stops).
    pub lease: Duration,
    /// How often the inbox is swept.
    pub interval: Duration,
    /// How long an event may wait for its subject before it is classed foreign.
    pub foreign_grace: Duration,
    /// How long an applied event is kept.
    pub retention: Duration,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxSweepReport {
    /// Parked events made pending: their subject is stored now.
    pub unparked: u64,
    /// Parked events classed foreign.
    pub foreign: u64,
    /// Applied events deleted.
    pub pruned: u64,
    /// Whether a step stopped at its statement limit with more to do (the next sweep goes on).
    pub more: bool,
    /// The counts by state after the sweep.
    pub stats: InboxStats,
}

/// Sweeps the inbox periodically on the replica that holds the sweep's lease.
pub struct InboxSweeper {
    inbox: Arc<dyn InboxStore>,
    cursors: Arc<dyn CursorStore>,
    settings: InboxSweepSettings,
}

impl InboxSweeper {
    pub fn new(
        inbox: Arc<dyn InboxStore>,
        cursors: Arc<dyn CursorStore>,
        settings: InboxSweepSettings,
    ) -> Self {
        Self {
            inbox,
            cursors,
            settings,
        }
    }

    /// Sweeps whenever this replica holds the lease, every `interval`, until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pause = tokio::select! {
                () = &mut shutdown => break,
                pause = self.turn() => pause,
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(error) = self
            .cursors
            .release_stream(INBOX_SWEEP_LEASE, &self.settings.owner)
            .await
        {
            tracing::warn!("cannot release the inbox sweep: {error}");
        }
    }

    /// One sweep if the lease is ours; how long to wait before the next.
    async fn turn(&self) -> Duration {
        match self
            .cursors
            .claim_stream(INBOX_SWEEP_LEASE, &self.settings.owner, self.settings.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return self.settings.interval,
            Err(error) => {
                tracing::warn!("cannot claim the inbox sweep: {error}");
                return RETRY_PAUSE.max(self.settings.interval);
            }
        }
        let started = Instant::now();
        match self.sweep().await {
            Ok(report) => {
                metrics::histogram!("funding_inbox_sweep_seconds")
                    .record(started.elapsed().as_secs_f64());
                if report.unparked + report.foreign + report.pruned > 0 {
                    tracing::info!(
                        unparked = report.unparked,
                        foreign = report.foreign,
                        pruned = report.pruned,
                        more = report.more,
                        "swept the inbox"
                    );
                }
            }
            Err(error) => tracing::warn!("the inbox sweep failed: {error}"),
        }
        self.settings.interval
    }

    /// One sweep: unpark, class foreign, prune, count. Runs whoever holds the lease; the caller
    /// claims it.
    pub async fn sweep(&self) -> Result<InboxSweepReport, StoreError> {
        let mut report = InboxSweepReport {
            // Before classing anything foreign: an event whose subject is stored now goes back to
            // pending, however long it waited.
            unparked: self.inbox.unpark_known_subjects().await?,
            ..InboxSweepReport::default()
        };
        metrics::counter!("funding_inbox_unparked_total").increment(report.unparked);
        let (foreign, more) = batches(|| {
            self.inbox
                .class_foreign(self.settings.foreign_grace, SWEEP_BATCH)
        })
        .await?;
        report.foreign = foreign;
        report.more |= more;
        metrics::counter!("funding_inbox_foreign_total").increment(foreign);
        if foreign > 0 {
            tracing::info!(
                count = foreign,
                "events waited longer than the grace period for a subject this service never stored; classed foreign"
            );
        }
        let (pruned, more) = batches(|| {
            self.inbox
                .prune_applied(self.settings.retention, SWEEP_BATCH)
        })
        .await?;
        report.pruned = pruned;
        report.more |= more;
        metrics::counter!("funding_inbox_pruned_total").increment(pruned);
        report.stats = self.inbox.inbox_stats().await?;
        for state in InboxState::ALL {
            if state == InboxState::Applied {
                continue;
            }
            let count = report
                .stats
                .by_state
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("funding_inbox_events", "state" => state.as_str()).set(count as f64);
        }
        Ok(report)
    }
}

/// Runs `step` until it does less than a batch or [`MAX_STATEMENTS_PER_STEP`] times; the rows it
/// did and whether it stopped with more to do.
async fn batches<F, Fut>(mut step: F) -> Result<(u64, bool), StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    for _ in 0..MAX_STATEMENTS_PER_STEP {
        let done = step().await?;
        total += done;
        if done < u64::from(SWEEP_BATCH) {
            return Ok((total, false));
        }
    }
    Ok((total, true))
}
