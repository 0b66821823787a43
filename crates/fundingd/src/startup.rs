//! [`Application`]: builds the whole service from [`Settings`] — store and migrations, the provider
//! adapters (or the in-process emulator in sandbox mode), the use cases, the gRPC server with health,
//! reflection, auth and request ids — and runs it with its background workers until told to stop.
//! `main` and the tests start the service the same way.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use funding_alpaca::{AlpacaClient, AlpacaConfig};
use funding_core::bank_transfers::{BankTransferSettings, BankTransferSyncFollower, BankTransfers};
use funding_core::engine::Backoff;
use funding_core::ports::{
    BankLinkStore, BankTransferGateway, BankTransferStore, Broker, Clock, CursorStore,
    DatabasePing, InboxStore, PlaidGateway, SystemClock, TransferStore, WorkQueue,
};
use funding_core::{
    BankLinks, Engine, EngineSettings, FollowerSettings, FundingEventFollower, InboxSweepSettings,
    InboxSweeper, LinkSettings, LinkStores, OrphanSweep, ReconcileSettings, Reconciler, Sandbox,
    TransferSettings, Transfers,
};
use funding_grpc::{
    Auth, BankLinkApi, BankTransferApi, ClientKey, Guard, Rate, RateLimits, SandboxApi, Scope,
    TransferApi,
};
use funding_plaid::{PlaidClient, PlaidConfig};
use funding_sandbox::{SandboxConfig, SandboxControl, SandboxHandle};
use funding_store::Store;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::ServerTlsConfig;
use tonic_health::ServingStatus;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::health;
use crate::safety;
use crate::sandbox_provider::EmulatorSandbox;
use crate::settings::{LimitSettings, Settings};

/// What the start-up checks of the settings give: the mode the database must belong to, how
/// callers are authenticated, where the key comes from, and gRPC's TLS (none: plaintext).
pub(crate) struct Validated {
    pub(crate) deployment: funding_store::DeploymentMode,
    pub(crate) auth: Auth,
    pub(crate) key: safety::Key,
    pub(crate) tls: Option<ServerTlsConfig>,
}

/// Every check of the settings that needs no port, database or provider (what `fundingd --check`
/// runs): each setting on its own, sandbox safety (DESIGN §10), the clients, the keys, the TLS
/// files. Creates nothing (sandbox mode's key file is only named).
pub(crate) fn validate(settings: &Settings) -> anyhow::Result<Validated> {
    settings.validate()?;
    let sandbox_mode = settings.is_sandbox();
    // Sandbox mode beyond the defaults must be asked for; the mode the database must belong to.
    safety::refuse_unintended_sandbox(settings)?;
    let deployment = safety::deployment_mode(settings)?;
    let auth = auth(settings, sandbox_mode)?;
    let key = safety::key(settings, sandbox_mode)?;
    let tls = crate::tls::server_config(&settings.tls)?;
    Ok(Validated {
        deployment,
        auth,
        key,
        tls,
    })
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics_listener: Option<TcpListener>,
    webhook_listener: Option<TcpListener>,
    settings: Settings,
    store: Store,
    links: BankLinks,
    transfers: Transfers,
    orphans: OrphanSweep,
    bank_transfers: BankTransfers,
    reconciler: Reconciler,
    plaid: Arc<PlaidClient>,
    engine: Engine,
    broker: Arc<dyn Broker>,
    sandbox: Option<(SandboxHandle, Sandbox)>,
    auth: Auth,
    tls: Option<ServerTlsConfig>,
    instance: String,
    shutdown: CancellationToken,
}

impl Application {
    /// Connects, migrates, wires and binds. Fails with a clear message on bad settings.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let sandbox_mode = settings.is_sandbox();
        // Refuse bad settings before anything is bound, created or migrated.
        let Validated {
            deployment,
            auth,
            key,
            tls,
        } = validate(&settings)?;
        // This replica's name in leases (links being created, the event stream).
        let instance = format!("fundingd-{}", uuid::Uuid::new_v4());
        // Bind first: a taken port fails before anything is created or migrated.
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?,
            ),
            None => None,
        };
        if metrics_listener.is_some() {
            crate::metrics::handle();
        }
        // Plaid's webhooks: where asked for, and in sandbox mode on a loopback port the built-in
        // emulator sends to.
        let webhook_addr = settings
            .webhook_listen
            .or_else(|| sandbox_mode.then(|| SocketAddr::from(([127, 0, 0, 1], 0))));
        let webhook_listener = match webhook_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for Plaid webhooks on {addr}"))?,
            ),
            None => None,
        };
        let webhook_url = webhook_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map(|addr| format!("http://{addr}{}", crate::webhooks::WEBHOOK_PATH));
        let store = Store::connect(&settings.database_url, key.provisional())
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    settings.redacted_database_url()
                )
            })?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        // A database keeps the mode it was created in; refused here, before any provider is called.
        store.check_deployment(&deployment).await?;
        // Sandbox mode's key file is created only now, on a database known to be a sandbox one.
        let store = store.with_cipher(key.settle()?);

        let (plaid, broker, sandbox_handle): (
            Arc<PlaidClient>,
            Arc<dyn Broker>,
            Option<SandboxHandle>,
        ) = if sandbox_mode {
            let handle = funding_sandbox::spawn(SandboxConfig {
                plaid_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                alpaca_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                relationship_approval_delay: Duration::from_millis(
                    settings.sandbox.relationship_approval_delay_ms,
                ),
                transfer_step_delay: Duration::from_millis(settings.sandbox.transfer_step_delay_ms),
                plaid_webhook_url: webhook_url.clone(),
                ..SandboxConfig::default()
            })
            .await
            .context("cannot start the sandbox emulator")?;
            let plaid = PlaidClient::new(PlaidConfig::new(
                handle.plaid_url(),
                "sandbox-client-id",
                SecretString::from("sandbox-secret"),
            ))
            .context("Plaid client")?;
            let alpaca = AlpacaClient::new(AlpacaConfig::new(
                handle.alpaca_url(),
                "sandbox-key-id",
                SecretString::from("sandbox-secret"),
            ))
            .context("Alpaca client")?;
            (Arc::new(plaid), Arc::new(alpaca), Some(handle))
        } else {
            let (Some(plaid), Some(alpaca)) = (&settings.plaid, &settings.alpaca) else {
                bail!("configure both Plaid and Alpaca, or neither (sandbox mode)");
            };
            let plaid_secret = plaid.secret.clone().context("plaid.secret is required")?;
            let alpaca_secret = alpaca.secret.clone().context("alpaca.secret is required")?;
            let mut plaid_config = PlaidConfig::new(
                plaid.base_url.clone(),
                plaid.client_id.clone(),
                plaid_secret,
            );
            if let Some(ms) = plaid.request_timeout_ms {
                plaid_config.request_timeout = Duration::from_millis(ms);
            }
            let plaid = PlaidClient::new(plaid_config).context("Plaid client")?;
            let mut alpaca_config = AlpacaConfig::new(
                alpaca.base_url.clone(),
                alpaca.key_id.clone(),
                alpaca_secret,
            );
            if let Some(ms) = alpaca.request_timeout_ms {
                alpaca_config.request_timeout = Duration::from_millis(ms);
            }
            let alpaca = AlpacaClient::new(alpaca_config).context("Alpaca client")?;
            (Arc::new(plaid), Arc::new(alpaca), None)
        };

        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // The request that writes work gets the first attempt at it (its fast path).
        let store = store
            .with_clock(clock.clone())
            .with_fast_path_grace(Duration::from_millis(
                settings.work_lease_ms.clamp(30, 2_000),
            ));
        let store_port: Arc<dyn BankLinkStore> = Arc::new(store.clone());
        let queue: Arc<dyn WorkQueue> = Arc::new(store.clone());
        let engine = Engine::new(
            queue,
            EngineSettings {
                owner: instance.clone(),
                lease: Duration::from_millis(settings.work_lease_ms.max(30)),
                poll_interval: Duration::from_millis(settings.work_poll_interval_ms.max(1)),
                concurrency: settings.work_concurrency.max(1),
                backoff: Backoff {
                    base: Duration::from_millis(settings.work_backoff_base_ms),
                    cap: Duration::from_millis(settings.work_backoff_cap_ms),
                },
            },
        );
        let plaid_gateway: Arc<dyn PlaidGateway> = plaid.clone();
        let links = BankLinks::new(
            plaid_gateway,
            broker.clone(),
            LinkStores::on(store.clone()),
            clock,
            engine.clone(),
            LinkSettings {
                max_attempts: settings.link_max_attempts.max(1),
                adoption_skew: Duration::from_millis(settings.adoption_skew_ms),
                unknown_outcome_settle: Duration::from_millis(settings.unknown_outcome_settle_ms),
                client_name: settings
                    .plaid
                    .as_ref()
                    .and_then(|plaid| plaid.client_name.clone())
                    .unwrap_or_else(|| LinkSettings::default().client_name),
                // Items' webhooks come to this service's listener: as configured for Plaid, or
                // the listener itself in sandbox mode (the emulator reaches it locally).
                webhook_url: settings
                    .plaid
                    .as_ref()
                    .and_then(|plaid| plaid.webhook_url.clone())
                    .or_else(|| webhook_url.clone().filter(|_| sandbox_mode)),
                ..LinkSettings::default()
            },
        );
        let transfer_store: Arc<dyn TransferStore> = Arc::new(store.clone());
        let transfers = Transfers::new(
            broker.clone(),
            transfer_store,
            store_port.clone(),
            Arc::new(SystemClock),
            engine.clone(),
            TransferSettings {
                watch_buffer: settings.watch_buffer.max(1),
                refuse_on_needs_reauth: settings.risk.refuse_on_needs_reauth,
                adoption_skew: Duration::from_millis(settings.adoption_skew_ms),
                unknown_outcome_settle: Duration::from_millis(settings.unknown_outcome_settle_ms),
                ..TransferSettings::default()
            },
        );
        let orphans = OrphanSweep::new(
            broker.clone(),
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            store_port.clone(),
            Arc::new(SystemClock),
            Duration::from_millis(settings.adoption_skew_ms),
        );
        let bank_transfer_store: Arc<dyn BankTransferStore> = Arc::new(store.clone());
        let bank_transfer_gateway: Arc<dyn BankTransferGateway> = plaid.clone();
        let bank_transfers = BankTransfers::new(
            bank_transfer_gateway,
            bank_transfer_store.clone(),
            Arc::new(store.clone()),
            Arc::new(SystemClock),
            engine.clone(),
            BankTransferSettings {
                max_attempts: settings.bank_transfer_max_attempts.max(1),
            },
        );
        let reconciler = Reconciler::new(
            links.clone(),
            transfers.clone(),
            bank_transfers.clone(),
            ReconcileSettings {
                after: Duration::from_millis(settings.reconcile_after_ms),
                pass_size: settings.reconcile_pass_size.max(1),
                stuck_after: Duration::from_millis(settings.reconcile_stuck_after_ms),
                calls_per_second: settings.reconcile_calls_per_second,
            },
        );
        let sandbox = sandbox_handle.map(|handle| {
            let use_case = Sandbox::new(
                Arc::new(EmulatorSandbox::new(handle.control())),
                store_port.clone(),
                Arc::new(store.clone()),
            )
            .with_bank_transfers(plaid.clone(), bank_transfer_store.clone());
            (handle, use_case)
        });
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            metrics_listener,
            webhook_listener,
            settings,
            store,
            links,
            transfers,
            orphans,
            bank_transfers,
            reconciler,
            plaid,
            engine,
            broker,
            sandbox,
            auth,
            tls,
            instance,
            shutdown: CancellationToken::new(),
        })
    }

    /// The address gRPC listens on (its port is real even when the settings said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served, when asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Where Plaid's webhooks are received, when they are.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook_listener
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
        self.reconciler.clone()
    }

    /// Cancelling this token stops the service gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains calls, stops the workers and the
    /// emulator, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            webhook_listener,
            settings,
            store,
            links,
            transfers,
            orphans,
            bank_transfers,
            reconciler,
            plaid,
            engine,
            broker,
            sandbox,
            auth,
            tls,
            instance,
            shutdown,
            ..
        } = self;
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let served = health::Served::new(sandbox.is_some());
        health::set_all(&reporter, &served, ServingStatus::Serving).await;

        let store_port: Arc<dyn DatabasePing> = Arc::new(store.clone());
        let cursors: Arc<dyn CursorStore> = Arc::new(store.clone());
        let inbox: Arc<dyn InboxStore> = Arc::new(store.clone());
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        if let Some(listener) = metrics_listener {
            workers.push(tokio::spawn(crate::metrics::serve(
                listener,
                crate::metrics::handle(),
                shutdown.clone(),
            )));
        }
        workers.push(tokio::spawn(health::watch(
            reporter.clone(),
            served.clone(),
            store_port,
            Duration::from_millis(settings.health_check_interval_ms),
            shutdown.clone(),
        )));
        let plaid_sync = BankTransferSyncFollower::new(
            bank_transfers.clone(),
            cursors.clone(),
            instance.clone(),
            Duration::from_millis(settings.stream_lease_ms),
            Duration::from_millis(settings.plaid_sync_interval_ms.max(10)),
        );
        let stop = shutdown.clone();
        workers.push(tokio::spawn(async move {
            plaid_sync.run(stop.cancelled_owned()).await
        }));
        if let Some(listener) = webhook_listener {
            let gateway: Arc<dyn BankTransferGateway> = plaid.clone();
            let verifier = Arc::new(funding_plaid::WebhookVerifier::new(
                gateway,
                Arc::new(SystemClock),
            ));
            workers.push(tokio::spawn(crate::webhooks::serve(
                listener,
                verifier,
                bank_transfers.clone(),
                links.clone(),
                shutdown.clone(),
            )));
        }
        // The inbox's upkeep: its own timer and task, never inside a stream reader's loop.
        let sweep_interval = Duration::from_millis(settings.inbox_sweep_interval_ms.max(1));
        let sweeper = InboxSweeper::new(
            inbox.clone(),
            cursors.clone(),
            InboxSweepSettings {
                owner: instance.clone(),
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
            broker,
            links.clone(),
            Some(transfers.clone()),
            inbox,
            cursors,
            Arc::new(SystemClock),
            FollowerSettings {
                owner: instance,
                lease: Duration::from_millis(settings.stream_lease_ms),
                apply_interval: Duration::from_millis(settings.work_poll_interval_ms.max(50)),
            },
        );
        let stop = shutdown.clone();
        workers.push(tokio::spawn(async move {
            follower.run(stop.cancelled_owned()).await
        }));
        let stop = shutdown.clone();
        workers.push(tokio::spawn(engine.clone().run(stop.cancelled_owned())));
        workers.push(tokio::spawn(reconcile_loop(
            reconciler,
            orphans.clone(),
            Duration::from_millis(settings.reconcile_interval_ms.max(10)),
            shutdown.clone(),
        )));
        workers.push(tokio::spawn(crate::metrics::watch_engine(
            engine.queue().clone(),
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
                outbox: Arc::new(store.clone()),
                links: Arc::new(store.clone()),
                transfers: Arc::new(store.clone()),
                bank_transfers: Arc::new(store.clone()),
            };
            workers.push(tokio::spawn(events_out.run(shutdown.clone())));
        }

        let sandbox_mode = sandbox.is_some();
        let reflection_v1 = reflection(sandbox_mode, Some(REFLECTION_V1))
            .build_v1()
            .context("the v1 reflection service")?;
        let reflection_v1alpha = reflection(sandbox_mode, Some(REFLECTION_V1ALPHA))
            .build_v1alpha()
            .context("the v1alpha reflection service")?;

        let layers = tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(|request: &http::Request<_>| {
                        let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                        tracing::info_span!("grpc", method = %request.uri().path(), request_id = %request_id)
                    })
                    // Refusals are answers, not faults: the error mapping logs what needs attention.
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
            )
            // A request body tonic cannot read is the caller's fault: INVALID_ARGUMENT or
            // RESOURCE_EXHAUSTED, not INTERNAL or OUT_OF_RANGE.
            .layer(funding_grpc::RequestRefusalsLayer);
        let guard = guard(auth, &settings.limits);
        let sandbox_service = sandbox.as_ref().map(|(_, use_case)| {
            funding_grpc::sandbox_service(SandboxApi::new(use_case.clone()), &guard)
        });
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(settings.limits.max_concurrent_streams);
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .context("the gRPC server's TLS configuration")?;
        }
        let server = builder
            .layer(layers)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(funding_grpc::bank_link_service(
                BankLinkApi::new(links),
                &guard,
            ))
            .add_service(funding_grpc::transfer_service(
                TransferApi::new(transfers.clone(), orphans.clone()),
                &guard,
            ))
            .add_service(funding_grpc::bank_transfer_service(
                BankTransferApi::new(bank_transfers),
                &guard,
            ))
            .add_optional_service(sandbox_service);

        let stop = shutdown.clone();
        let reporter_on_stop = reporter.clone();
        let watches = transfers.clone();
        let signal = async move {
            stop.cancelled().await;
            health::set_all(&reporter_on_stop, &served, ServingStatus::NotServing).await;
            // Streams end (each naming where to resume), so the calls can drain.
            watches.close_watches();
            tracing::info!("shutting down: draining calls");
        };
        let result = server
            .serve_with_incoming_shutdown(
                // TCP_NODELAY: without it an answer of several segments (a page of ListTransfers)
                // waits for the caller's delayed ACK, about 40 ms (docs/BENCHMARKS.md).
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                signal,
            )
            .await;
        shutdown.cancel();
        for worker in workers {
            let _ = worker.await;
        }
        engine.clear_handlers();
        if let Some((handle, _)) = sandbox {
            handle.shutdown().await;
        }
        let _ = store.close().await;
        tracing::info!("stopped");
        result.context("the gRPC server failed")
    }
}

const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The services reflection lists outside sandbox mode: everything served but the sandbox
/// service (which is not served there).
const SERVED_OUTSIDE_SANDBOX: &[&str] = &[
    funding_client::v1::bank_link_service_server::SERVICE_NAME,
    funding_client::v1::transfer_service_server::SERVICE_NAME,
    funding_client::v1::bank_transfer_service_server::SERVICE_NAME,
    tonic_health::pb::health_server::SERVICE_NAME,
];

/// Server reflection over the funding API and health: v1 for current clients, v1alpha for older
/// ones (Python's grpcio-reflection asks v1alpha), each listing itself (`reflection_service`).
/// It also resolves the `google.rpc` error details every error carries (`ErrorInfo`, `BadRequest`,
/// `PreconditionFailure`, `RetryInfo`; tonic-types' descriptors), so that grpcurl decodes them.
/// In sandbox mode it lists every service of the descriptors; outside it, only the services served
/// (`funding.v1.SandboxService` is not).
fn reflection(
    sandbox_mode: bool,
    reflection_service: Option<&'static str>,
) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    if sandbox_mode {
        return builder.register_encoded_file_descriptor_set(funding_client::FILE_DESCRIPTOR_SET);
    }
    SERVED_OUTSIDE_SANDBOX
        .iter()
        .copied()
        .chain(reflection_service)
        .fold(
            builder.register_file_descriptor_set(api_without_sandbox()),
            |builder, name| builder.with_service_name(name),
        )
}

/// The funding API's descriptors without the file that declares `SandboxService` (it imports
/// nothing and nothing imports it): outside sandbox mode reflection neither lists it nor resolves
/// its symbols.
fn api_without_sandbox() -> prost_types::FileDescriptorSet {
    use prost::Message as _;
    let mut set = prost_types::FileDescriptorSet::decode(funding_client::FILE_DESCRIPTOR_SET)
        .unwrap_or_default();
    set.file.retain(|file| {
        !file
            .service
            .iter()
            .any(|service| service.name() == "SandboxService")
    });
    set
}

/// The reconciler: a pass every `interval` (after the previous one ended; a pass paces its
/// provider calls, so it may take a while and stops where it stands at shutdown), then a step of the
/// orphan sweep.
async fn reconcile_loop(
    reconciler: Reconciler,
    orphans: OrphanSweep,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // Where the orphan sweep goes on from: a few accounts a pass, every account in turn.
    let mut orphan_cursor = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reconciler.pass() => {}
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

/// What the funding services are served behind: `auth`, and `[limits]`' rate limits and message
/// sizes (a rate of 0 is no limit).
fn guard(auth: Auth, limits: &LimitSettings) -> Guard {
    let rate = |per_minute: u32, burst: u32| {
        Some(Rate {
            per_minute: NonZeroU32::new(per_minute)?,
            // Validated: at least 1 while the rate is on.
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    };
    // Open mode (no `[[clients]]`: sandbox on loopback, or `--insecure-no-auth`) has no callers
    // to tell apart: one shared `anonymous` budget would throttle every team's test run together,
    // and the provider behind it is the emulator. The budgets are per configured client.
    let per_caller = !matches!(auth, Auth::Open);
    Guard {
        auth,
        rate_limits: RateLimits::new(
            rate(limits.calls_per_minute, limits.call_burst).filter(|_| per_caller),
            rate(limits.writes_per_minute, limits.write_burst).filter(|_| per_caller),
        ),
        max_request_bytes: limits.max_request_bytes,
        max_response_bytes: limits.max_response_bytes,
    }
}

fn auth(settings: &Settings, sandbox_mode: bool) -> anyhow::Result<Auth> {
    if !settings.clients.is_empty() {
        // One token, one caller: two clients with the same hash would make the caller ambiguous.
        let mut hashes: std::collections::BTreeMap<String, &str> = Default::default();
        for client in &settings.clients {
            let hash = client.token_sha256.trim().to_ascii_lowercase();
            if let Some(first) = hashes.insert(hash, &client.name) {
                bail!(
                    "clients `{first}` and `{}` have the same token_sha256: give each client its own token",
                    client.name
                );
            }
        }
        let mut keys = Vec::new();
        for client in &settings.clients {
            let mut scopes = std::collections::BTreeSet::new();
            for name in &client.scopes {
                let scope = Scope::parse(name)
                    .with_context(|| format!("client {}: unknown scope {name:?}", client.name))?;
                scopes.insert(scope);
            }
            keys.push(
                ClientKey::from_hex_hash(&client.name, &client.token_sha256, scopes)
                    .map_err(anyhow::Error::msg)?,
            );
        }
        return Ok(Auth::Tokens(Arc::new(keys)));
    }
    if sandbox_mode && settings.listen.ip().is_loopback() {
        return Ok(Auth::Open);
    }
    if settings.insecure_no_auth {
        tracing::warn!("serving WITHOUT authentication (--insecure-no-auth)");
        return Ok(Auth::Open);
    }
    bail!(
        "no clients are configured: outside sandbox mode on loopback, configure [[clients]] or pass --insecure-no-auth"
    )
}

#[cfg(test)]
mod reflection_tests {
    use super::*;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    /// The services the v1 reflection service `run_until_stopped` serves lists, asked in-process.
    async fn listed(sandbox_mode: bool) -> Vec<String> {
        let service = reflection(sandbox_mode, Some(REFLECTION_V1))
            .build_v1()
            .unwrap();
        let mut client = ServerReflectionClient::new(service);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("not a list of services");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn outside_sandbox_mode_reflection_does_not_list_the_sandbox_service() {
        assert_eq!(
            listed(false).await,
            [
                "funding.v1.BankLinkService",
                "funding.v1.BankTransferService",
                "funding.v1.TransferService",
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
            ]
        );
    }

    /// Whether v1 reflection resolves `symbol` to a file.
    async fn resolves(sandbox_mode: bool, symbol: &str) -> bool {
        let service = reflection(sandbox_mode, Some(REFLECTION_V1))
            .build_v1()
            .unwrap();
        let mut client = ServerReflectionClient::new(service);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        match stream.message().await {
            Ok(response) => matches!(
                response.and_then(|r| r.message_response),
                Some(MessageResponse::FileDescriptorResponse(_))
            ),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
                false
            }
        }
    }

    #[tokio::test]
    async fn outside_sandbox_mode_reflection_does_not_resolve_the_sandbox_service() {
        assert!(!resolves(false, "funding.v1.SandboxService").await);
        assert!(!resolves(false, "funding.v1.SimulateTransferRequest").await);
        assert!(resolves(false, "funding.v1.TransferService").await);
        assert!(resolves(false, "funding.v1.BankTransferService").await);
        assert!(resolves(true, "funding.v1.SandboxService").await);
    }

    #[tokio::test]
    async fn in_sandbox_mode_reflection_lists_the_sandbox_service() {
        let names = listed(true).await;
        assert!(
            names.iter().any(|n| n == "funding.v1.SandboxService"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "funding.v1.BankLinkService"),
            "{names:?}"
        );
    }
}
