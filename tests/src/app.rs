//! [`TestApp`]: the real service (the same `Application` that `main` runs) started in-process on
//! port 0 in sandbox mode, on a fresh SQLite file or PostgreSQL database, with the typed client
//! connected to it; [`AppOptions`] says how; [`test_log`] whether its logs are shown.

use std::time::Duration;

use funding_client::FundingClient;
use funding_sandbox::SandboxControl;
use fundingd::settings::{ClientSettings, EmulatorSettings, LimitSettings};
use fundingd::{Application, Settings};
use tokio_util::sync::CancellationToken;

use crate::Backend;
use crate::database::{create_postgres_database, drop_postgres_database};

/// How to start the app.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub relationship_approval_delay_ms: u64,
    pub clients: Vec<ClientSettings>,
    pub token: Option<String>,
    /// Short work claims (600 ms), so that work left by a failed attempt is taken up again quickly.
    pub resume: bool,
    /// Serve `/metrics` on a free port.
    pub metrics: bool,
    /// How often Plaid's bank-transfer events are synced without a webhook (a long one proves a
    /// webhook brought the news).
    pub plaid_sync_interval_ms: u64,
    /// Publish status changes to NATS JetStream at this URL (the outbox publisher).
    pub nats_url: Option<String>,
    /// `[limits]`; none: the defaults without rate limits (the suites call faster than a caller may).
    pub limits: Option<LimitSettings>,
    /// `unknown_outcome_settle_ms`: short in the suites (a create that got no answer waits this
    /// long before an empty lookup counts), so a test of a late effect sets it above the delay.
    pub unknown_outcome_settle_ms: u64,
    /// `link_max_attempts`.
    pub link_max_attempts: u32,
    /// The reconciler runs only when the test asks ([`TestApp::reconcile_pass`]): its loop waits a
    /// day, everything in flight is due at once (`reconcile_after_ms` 0), unmoved counts as stuck
    /// at once (`reconcile_stuck_after_ms` 0). (The suites never pace its provider calls.)
    pub reconcile_by_hand: bool,
    /// `reconcile_pass_size`.
    pub reconcile_pass_size: u32,
    /// `reconcile_after_ms`: long in a test that must see a status come from events alone.
    pub reconcile_after_ms: u64,
    /// `[risk]`: the checks before money moves (all off by default).
    pub risk: fundingd::settings::RiskSettings,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            relationship_approval_delay_ms: 100,
            clients: Vec::new(),
            token: None,
            resume: false,
            metrics: false,
            plaid_sync_interval_ms: 200,
            unknown_outcome_settle_ms: 2_000,
            link_max_attempts: Settings::default().link_max_attempts,
            reconcile_after_ms: 2_000,
            nats_url: None,
            limits: None,
            reconcile_by_hand: false,
            reconcile_pass_size: Settings::default().reconcile_pass_size,
            risk: fundingd::settings::RiskSettings::default(),
        }
    }
}

/// Whether the servers' logs are shown: `TEST_LOG` is set to anything but empty or `0`.
pub fn test_log() -> bool {
    std::env::var_os("TEST_LOG").is_some_and(|value| !value.is_empty() && value != "0")
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: FundingClient,
    pub sandbox: SandboxControl,
    pub database_url: String,
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where the service receives Plaid's webhooks (`http://…/plaid/webhook`).
    pub webhook_url: String,
    /// The emulator's Plaid base URL.
    pub plaid_url: String,
    /// The emulator's Alpaca base URL.
    pub alpaca_url: String,
    pub dir: tempfile::TempDir,
    postgres_db: Option<String>,
    reconciler: funding_core::Reconciler,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(options: AppOptions) -> Self {
        if test_log() {
            // The first call installs the subscriber; later ones, and a suite's own, are kept.
            fundingd::telemetry::init("pretty");
        }
        let dir = tempfile::tempdir().unwrap();
        let (database_url, postgres_db) = match options.backend {
            Backend::Sqlite => (
                format!("sqlite:{}", dir.path().join("funding.db").display()),
                None,
            ),
            Backend::Postgres => {
                let (name, url) = create_postgres_database("funding_e2e").await;
                (url, Some(name))
            }
        };
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.clone(),
            encryption_key_file: Some(dir.path().join("funding.key")),
            // Sandbox mode on PostgreSQL must be asked for (DESIGN §10); SQLite is the default.
            explicit_sandbox: options.backend == Backend::Postgres,
            clients: options.clients.clone(),
            sandbox: EmulatorSettings {
                relationship_approval_delay_ms: options.relationship_approval_delay_ms,
                transfer_step_delay_ms: 100,
            },
            health_check_interval_ms: 100,
            metrics_listen: options.metrics.then(|| "127.0.0.1:0".parse().unwrap()),
            work_poll_interval_ms: 50,
            work_lease_ms: if options.resume { 600 } else { 30_000 },
            work_backoff_base_ms: 50,
            work_backoff_cap_ms: 500,
            reconcile_interval_ms: if options.reconcile_by_hand {
                86_400_000
            } else {
                200
            },
            watch_buffer: 16,
            reconcile_after_ms: if options.reconcile_by_hand {
                0
            } else {
                options.reconcile_after_ms
            },
            reconcile_pass_size: options.reconcile_pass_size,
            // Not paced: the suites' few resources and the local emulator.
            reconcile_calls_per_second: 0,
            reconcile_stuck_after_ms: if options.reconcile_by_hand {
                0
            } else {
                Settings::default().reconcile_stuck_after_ms
            },
            plaid_sync_interval_ms: options.plaid_sync_interval_ms,
            // The inbox sweep (unparking, gauges) as often as the old in-reader sweep ran here.
            inbox_sweep_interval_ms: 100,
            unknown_outcome_settle_ms: options.unknown_outcome_settle_ms,
            link_max_attempts: options.link_max_attempts,
            nats_url: options.nats_url.clone(),
            risk: options.risk.clone(),
            limits: options.limits.clone().unwrap_or(LimitSettings {
                calls_per_minute: 0,
                writes_per_minute: 0,
                ..LimitSettings::default()
            }),
            ..Settings::default()
        };
        let app = Application::build(settings).await.expect("the app starts");
        let address = format!("http://{}", app.local_addr());
        let sandbox = app.sandbox().expect("sandbox mode");
        let metrics_addr = app.metrics_addr();
        let webhook_url = format!(
            "http://{}{}",
            app.webhook_addr().expect("sandbox mode receives webhooks"),
            fundingd::webhooks::WEBHOOK_PATH
        );
        let (plaid_url, alpaca_url) = app.sandbox_urls().expect("sandbox mode");
        let shutdown = app.shutdown_token();
        let reconciler = app.reconciler();
        let server = tokio::spawn(app.run_until_stopped());
        let client = FundingClient::connect(address.clone(), options.token.as_deref())
            .await
            .expect("the client connects");
        Self {
            address,
            client,
            sandbox,
            database_url,
            metrics_addr,
            webhook_url,
            plaid_url,
            alpaca_url,
            dir,
            postgres_db,
            reconciler,
            shutdown,
            server,
        }
    }

    /// One pass of the reconciler, now (see [`AppOptions::reconcile_by_hand`]).
    pub async fn reconcile_pass(&self) -> funding_core::PassReport {
        self.reconciler.pass().await
    }

    /// Stops the service gracefully and drops its PostgreSQL database.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.server).await;
        if let Some(name) = self.postgres_db {
            drop_postgres_database(&name).await;
        }
    }
}
