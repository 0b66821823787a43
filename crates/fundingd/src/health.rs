//! The health service's truth: every service is SERVING while the database answers, NOT_SERVING while
//! it does not, and NOT_SERVING from the start of shutdown.

use std::sync::Arc;
use std::time::Duration;

use funding_core::ports::BankLinkStore;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The services health is reported for, besides the empty name (the whole server).
pub const SERVICES: &[&str] = &[
    "funding.v1.BankLinkService",
    "funding.v1.TransferService",
    "funding.v1.BankTransferService",
    "funding.v1.SandboxService",
];

pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in SERVICES {
        reporter.set_service_status(*service, status).await;
    }
}

/// Checks the database every `interval` until `shutdown`, then reports NOT_SERVING.
pub async fn watch(
    reporter: HealthReporter,
    store: Arc<dyn BankLinkStore>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut last: Option<bool> = None;
    loop {
        let healthy = store.ping().await.is_ok();
        if last != Some(healthy) {
            if healthy {
                tracing::info!("database reachable: SERVING");
            } else {
                tracing::warn!("database unreachable: NOT_SERVING");
            }
            set_all(
                &reporter,
                if healthy {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                },
            )
            .await;
            last = Some(healthy);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    set_all(&reporter, ServingStatus::NotServing).await;
}
