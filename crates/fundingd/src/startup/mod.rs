//! [`Application`]: builds the whole service from [`Settings`] — store and migrations, the provider
//! adapters (or the in-process emulator in sandbox mode), the use cases, the gRPC server with health,
//! reflection, auth and request ids — and runs it with its background workers until told to stop.
//! `main` and the tests start the service the same way.
//!
//! [`Application::build`] is in `build`, the settings checks it starts with in `validate`, the
//! background workers in `workers` and the gRPC server in `grpc`; this module holds what they
//! share and [`Application::run_until_stopped`], which starts the pieces and waits for shutdown.

mod build;
mod grpc;
mod validate;
mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use funding_core::bank_transfers::BankTransfers;
use funding_core::ports::Broker;
use funding_core::{BankLinks, Engine, OrphanSweep, Reconciler, Risk, Sandbox, Transfers};
use funding_plaid::PlaidClient;
use funding_sandbox::{SandboxControl, SandboxHandle};
use funding_store::Store;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::health;
use crate::settings::Settings;

pub(crate) use build::connect;
pub(crate) use validate::validate;

/// A built service, bound to its port, not yet serving.
pub struct Application {
    endpoint: grpc::Endpoint,
    local_addr: SocketAddr,
    listeners: workers::Listeners,
    settings: Settings,
    parts: Parts,
    sandbox: Option<(SandboxHandle, Sandbox)>,
    instance: String,
    shutdown: CancellationToken,
}

/// What `build` wires and both the workers and the gRPC services use: the store, the use cases,
/// the engine, the reconciler and the provider adapters.
struct Parts {
    store: Store,
    risk: Risk,
    links: BankLinks,
    transfers: Transfers,
    orphans: OrphanSweep,
    bank_transfers: BankTransfers,
    reconciler: Reconciler,
    plaid: Arc<PlaidClient>,
    engine: Engine,
    broker: Arc<dyn Broker>,
}

/// The health service's reporter and the services it reports for.
struct Health {
    reporter: HealthReporter,
    served: health::Served,
}

impl Application {
    /// The address gRPC listens on (its port is real even when the settings said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served, when asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listeners
            .metrics
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Where Plaid's webhooks are received, when they are.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.listeners
            .webhooks
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The emulator, in sandbox mode.
    pub fn sandbox(&self) -> Option<SandboxControl> {
        self.sandbox.as_ref().map(|(handle, _)| handle.control())
    }

    /// The emulator's addresses, in sandbox mode: (Plaid, Alpaca).
    pub fn sandbox_urls(&self) -> Option<(String, String)> {
        self.sandbox
            .as_ref()
            .map(|(handle, _)| (handle.plaid_url(), handle.alpaca_url()))
    }

    /// The reconciler, for a test that runs its passes by hand (with a `reconcile_interval_ms` long
    /// enough that the service's own loop stays out of the way).
    pub fn reconciler(&self) -> Reconciler {
        self.parts.reconciler.clone()
    }

    /// Cancelling this token stops the service gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains calls, stops the workers and the
    /// emulator, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            endpoint,
            listeners,
            settings,
            parts,
            sandbox,
            instance,
            shutdown,
            ..
        } = self;
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let health = Health {
            reporter,
            served: health::Served::new(sandbox.is_some()),
        };
        health::set_all(&health.reporter, &health.served, ServingStatus::Serving).await;

        let workers = workers::spawn(&parts, &settings, &instance, listeners, &health, &shutdown);
        let server = grpc::server(
            endpoint,
            &settings.limits,
            &parts,
            sandbox.as_ref().map(|(_, use_case)| use_case),
            health_service,
            &health,
            shutdown.clone(),
        )?;
        let result = server.await;

        shutdown.cancel();
        for worker in workers {
            let _ = worker.await;
        }
        parts.engine.clear_handlers();
        if let Some((handle, _)) = sandbox {
            handle.shutdown().await;
        }
        let _ = parts.store.close().await;
        tracing::info!("stopped");
        result.context("the gRPC server failed")
    }
}
