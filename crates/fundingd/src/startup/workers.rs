//! The background workers [`Application::run_until_stopped`](super::Application::run_until_stopped)
//! starts beside the gRPC server, each stopping at shutdown: `/metrics` (when asked for), the
//! health watch of the database, Plaid's event sync, Plaid's webhook listener (when there is one),
//! the inbox sweeper, the Alpaca event follower, the engine's provider work, the reconciler with the
//! orphan sweep, the engine's gauges, and the outbox publisher to NATS (when asked for).

use std::sync::Arc;
use std::time::Duration;

use funding_core::bank_transfers::BankTransferSyncFollower;
use funding_core::ports::{
    BankTransferGateway, CursorStore, DatabasePing, InboxStore, SystemClock,
};
use funding_core::{
    FollowerSettings, FundingEventFollower, InboxSweepSettings, InboxSweeper, OrphanSweep,
    Reconciler,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Health, Parts};
use crate::health;
use crate::settings::Settings;

/// The workers' own listeners, bound by `build`.
pub(super) struct Listeners {
    /// `/metrics`, when asked for.
    pub(super) metrics: Option<TcpListener>,
    /// Plaid's webhooks, when received.
    pub(super) webhooks: Option<TcpListener>,
}

/// Starts every worker over `parts`; each ends once `shutdown` is cancelled.
pub(super) fn spawn(
    parts: &Parts,
    settings: &Settings,
    instance: &str,
    listeners: Listeners,
    health: &Health,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let store_port: Arc<dyn DatabasePing> = Arc::new(parts.store.clone());
    let cursors: Arc<dyn CursorStore> = Arc::new(parts.store.clone());
    let inbox: Arc<dyn InboxStore> = Arc::new(parts.store.clone());
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    if let Some(listener) = listeners.metrics {
        workers.push(tokio::spawn(crate::metrics::serve(
            listener,
            crate::metrics::handle(),
            shutdown.clone(),
        )));
    }
    workers.push(tokio::spawn(health::watch(
        health.reporter.clone(),
        health.served.clone(),
        store_port,
        Duration::from_millis(settings.health_check_interval_ms),
        shutdown.clone(),
    )));
    let plaid_sync = BankTransferSyncFollower::new(
        parts.bank_transfers.clone(),
        cursors.clone(),
        instance.to_owned(),
        Duration::from_millis(settings.stream_lease_ms),
        Duration::from_millis(settings.plaid_sync_interval_ms.max(10)),
    );
    let stop = shutdown.clone();
    workers.push(tokio::spawn(async move {
        plaid_sync.run(stop.cancelled_owned()).await
    }));
    if let Some(listener) = listeners.webhooks {
        let gateway: Arc<dyn BankTransferGateway> = parts.plaid.clone();
        let verifier = Arc::new(funding_plaid::WebhookVerifier::new(
            gateway,
            Arc::new(SystemClock),
        ));
        workers.push(tokio::spawn(crate::webhooks::serve(
            listener,
            verifier,
            parts.bank_transfers.clone(),
            parts.links.clone(),
            shutdown.clone(),
        )));
    }
    // The inbox's upkeep: its own timer and task, never inside a stream reader's loop.
    let sweep_interval = Duration::from_millis(settings.inbox_sweep_interval_ms.max(1));
    let sweeper = InboxSweeper::new(
        inbox.clone(),
        cursors.clone(),
        InboxSweepSettings {
            owner: instance.to_owned(),
            // Held from one sweep to the next, so the same replica keeps sweeping.
            lease: Duration::from_millis(settings.stream_lease_ms).max(sweep_interval * 2),
            interval: sweep_interval,
            foreign_grace: Duration::from_millis(settings.inbox_foreign_grace_ms),
            retention: Duration::from_millis(settings.inbox_retention_ms),
        },
    );
    let stop = shutdown.clone();
    workers.push(tokio::spawn(async move {
        sweeper.run(stop.cancelled_owned()).await
    }));
    let follower = FundingEventFollower::new(
        parts.broker.clone(),
        parts.links.clone(),
        Some(parts.transfers.clone()),
        inbox,
        cursors,
        Arc::new(SystemClock),
        FollowerSettings {
            owner: instance.to_owned(),
            lease: Duration::from_millis(settings.stream_lease_ms),
            apply_interval: Duration::from_millis(settings.work_poll_interval_ms.max(50)),
        },
    );
    let stop = shutdown.clone();
    workers.push(tokio::spawn(async move {
        follower.run(stop.cancelled_owned()).await
    }));
    let stop = shutdown.clone();
    workers.push(tokio::spawn(
        parts.engine.clone().run(stop.cancelled_owned()),
    ));
    workers.push(tokio::spawn(reconcile_loop(
        parts.reconciler.clone(),
        parts.orphans.clone(),
        parts.risk.clone(),
        Duration::from_millis(settings.reconcile_interval_ms.max(10)),
        shutdown.clone(),
    )));
    workers.push(tokio::spawn(crate::metrics::watch_engine(
        parts.engine.queue().clone(),
        shutdown.clone(),
    )));
    if let Some(url) = &settings.nats_url {
        let events_out = crate::events_out::EventsOut {
            settings: crate::events_out::EventsOutSettings {
                url: url.clone(),
                subject_prefix: settings.nats_subject_prefix.clone(),
                stream: settings.nats_stream.clone(),
                poll_interval: Duration::from_millis(settings.nats_poll_interval_ms.max(10)),
                retention: Duration::from_millis(settings.nats_outbox_retention_ms),
                json: settings.nats_payload == "json",
            },
            outbox: Arc::new(parts.store.clone()),
            links: Arc::new(parts.store.clone()),
            transfers: Arc::new(parts.store.clone()),
            bank_transfers: Arc::new(parts.store.clone()),
            risk: Arc::new(parts.store.clone()),
        };
        workers.push(tokio::spawn(events_out.run(shutdown.clone())));
    }
    workers
}

/// The reconciler: a pass every `interval` (after the previous one ended; a pass paces its
/// provider calls, so it may take a while and stops where it stands at shutdown), then the expiry of
/// unreviewed holds, then a step of the orphan sweep.
async fn reconcile_loop(
    reconciler: Reconciler,
    orphans: OrphanSweep,
    risk: funding_core::Risk,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // Where the orphan sweep goes on from: a few accounts a pass, every account in turn.
    let mut orphan_cursor = None;
    let mut rates_at: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reconciler.pass() => {}
        }
        // The 60-day return rates for the alert rules, a minute apart at most.
        if rates_at.is_none_or(|at: std::time::Instant| at.elapsed() >= Duration::from_secs(60)) {
            rates_at = Some(std::time::Instant::now());
            match risk.return_rates_of(None).await {
                Ok(rates) => crate::metrics::return_rates("alpaca", &rates),
                Err(error) => tracing::warn!("reading the return rates failed: {error}"),
            }
        }
        // Holds unreviewed past their expiry end here (one indexed read when none is due).
        match risk.expire_reviews().await {
            Ok(0) => {}
            Ok(ended) => {
                tracing::info!(
                    ended,
                    "reviews expired unreviewed: their transfers FAILED, bank transfers REFUSED"
                )
            }
            Err(error) => tracing::warn!("expiring reviews failed: {error}"),
        }
        match orphans.sweep(&mut orphan_cursor, 20).await {
            Ok(report) if report.orphans > 0 => {
                tracing::warn!(
                    accounts = report.accounts,
                    orphans = report.orphans,
                    awaiting_adoption = report.awaiting_adoption,
                    "provider resources on our relationships that nothing of ours holds (ListProviderOrphans)"
                )
            }
            Ok(_) => {}
            Err(error) => tracing::warn!("the orphan sweep failed: {error}"),
        }
    }
}
