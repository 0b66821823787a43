//! The health service's truth: every service is SERVING while the database answers, NOT_SERVING while
//! it does not, and NOT_SERVING from the start of shutdown.

use std::sync::Arc;
use std::time::Duration;

use funding_core::ports::DatabasePing;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The services served in every mode; health is reported for them and for the empty name (the whole
/// server). Services that are declared but not served yet are not reported, so a health check for
/// them answers NOT_FOUND rather than a SERVING that UNIMPLEMENTED would contradict.
pub const SERVICES: &[&str] = &[
    "funding.v1.BankLinkService",
    "funding.v1.TransferService",
    "funding.v1.BankTransferService",
];

/// Served in sandbox mode only.
pub const SANDBOX_SERVICES: &[&str] = &["funding.v1.SandboxService"];

/// The services one server reports health for.
#[derive(Debug, Clone)]
pub struct Served(pub Vec<&'static str>);

impl Served {
    pub fn new(sandbox: bool) -> Self {
        let mut services = SERVICES.to_vec();
        if sandbox {
            services.extend_from_slice(SANDBOX_SERVICES);
        }
        Self(services)
    }
}

pub async fn set_all(reporter: &HealthReporter, served: &Served, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in &served.0 {
        reporter.set_service_status(*service, status).await;
    }
}

/// Checks the database every `interval` until `shutdown`, then reports NOT_SERVING.
pub async fn watch(
    reporter: HealthReporter,
    served: Served,
    store: Arc<dyn DatabasePing>,
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
                &served,
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
    set_all(&reporter, &served, ServingStatus::NotServing).await;
}
