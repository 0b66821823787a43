//! [`Application::build`]: checks the settings, binds the listeners, opens and migrates the store,
//! makes the provider adapters (or starts the in-process emulator in sandbox mode) and wires the
//! use cases, the engine and the reconciler over them. Nothing is served yet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use funding_alpaca::{AlpacaClient, AlpacaConfig};
use funding_core::bank_transfers::{BankTransferSettings, BankTransfers};
use funding_core::engine::Backoff;
use funding_core::ports::{
    BankLinkStore, BankTransferGateway, BankTransferStore, Broker, Clock, PlaidGateway,
    SystemClock, TransferStore, WorkQueue,
};
use funding_core::{
    BankLinks, Engine, EngineSettings, LinkSettings, LinkStores, OrphanSweep, ReconcileSettings,
    Reconciler, Risk, RiskPorts, Sandbox, TransferSettings, Transfers,
};
use funding_plaid::{PlaidClient, PlaidConfig};
use funding_sandbox::{SandboxConfig, SandboxHandle};
use funding_store::{Cipher, Store};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::grpc::Endpoint;
use super::validate::{Validated, validate};
use super::workers::Listeners;
use super::{Application, Parts};
use crate::safety;
use crate::sandbox_provider::EmulatorSandbox;
use crate::settings::Settings;

/// The provider adapters: Plaid, Alpaca (the broker), and the emulator that plays both in sandbox
/// mode.
type Providers = (Arc<PlaidClient>, Arc<dyn Broker>, Option<SandboxHandle>);

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
        let (listener, listeners) = bind(&settings, sandbox_mode).await?;
        let webhook_url = listeners
            .webhooks
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map(|addr| format!("http://{addr}{}", crate::webhooks::WEBHOOK_PATH));
        let store = open_store(&settings, &deployment, key).await?;
        let (plaid, broker, sandbox_handle) = if sandbox_mode {
            sandbox_providers(&settings, webhook_url.clone()).await?
        } else {
            real_providers(&settings)?
        };
        let (parts, sandbox) = wire(
            &settings,
            store,
            plaid,
            broker,
            sandbox_handle,
            &instance,
            webhook_url,
        );
        let local_addr = listener.local_addr()?;
        Ok(Self {
            endpoint: Endpoint {
                listener,
                auth,
                tls,
            },
            local_addr,
            listeners,
            settings,
            parts,
            sandbox,
            instance,
            shutdown: CancellationToken::new(),
        })
    }
}

/// gRPC's listener, then `/metrics`' and the webhooks' where there are any.
async fn bind(settings: &Settings, sandbox_mode: bool) -> anyhow::Result<(TcpListener, Listeners)> {
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
    Ok((
        listener,
        Listeners {
            metrics: metrics_listener,
            webhooks: webhook_listener,
        },
    ))
}

/// The database of `settings`, opened with `cipher`; an error names it (its password redacted).
pub(crate) async fn connect(settings: &Settings, cipher: Cipher) -> anyhow::Result<Store> {
    Store::connect(&settings.database_url, cipher)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                settings.redacted_database_url()
            )
        })
}

/// The store, migrated, checked to belong to the deployment's mode, and then under its key.
async fn open_store(
    settings: &Settings,
    deployment: &funding_store::DeploymentMode,
    key: safety::Key,
) -> anyhow::Result<Store> {
    let store = connect(settings, key.provisional()).await?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    // A database keeps the mode it was created in; refused here, before any provider is called.
    store.check_deployment(deployment).await?;
    // Sandbox mode's key file is created only now, on a database known to be a sandbox one.
    let store = store.with_cipher(key.settle()?);
    Ok(store)
}

/// Sandbox mode: the emulator, started in-process on loopback ports, and clients of it.
async fn sandbox_providers(
    settings: &Settings,
    webhook_url: Option<String>,
) -> anyhow::Result<Providers> {
    let handle = funding_sandbox::spawn(SandboxConfig {
        plaid_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        alpaca_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        relationship_approval_delay: Duration::from_millis(
            settings.sandbox.relationship_approval_delay_ms,
        ),
        transfer_step_delay: Duration::from_millis(settings.sandbox.transfer_step_delay_ms),
        plaid_webhook_url: webhook_url,
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
    Ok((Arc::new(plaid), Arc::new(alpaca), Some(handle)))
}

/// Real providers: clients of the configured Plaid and Alpaca.
fn real_providers(settings: &Settings) -> anyhow::Result<Providers> {
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
    Ok((Arc::new(plaid), Arc::new(alpaca), None))
}

/// The engine, the use cases and the reconciler over the store and the providers; and the sandbox
/// use case beside the emulator, in sandbox mode.
fn wire(
    settings: &Settings,
    store: Store,
    plaid: Arc<PlaidClient>,
    broker: Arc<dyn Broker>,
    sandbox_handle: Option<SandboxHandle>,
    instance: &str,
    webhook_url: Option<String>,
) -> (Parts, Option<(SandboxHandle, Sandbox)>) {
    let sandbox_mode = settings.is_sandbox();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The request that writes work gets the first attempt at it (its fast path).
    let store = store
        .with_clock(clock.clone())
        .with_fast_path_grace(Duration::from_millis(
            settings.work_lease_ms.clamp(30, 2_000),
        ))
        .with_return_policy(settings.returns.policy.clone());
    let store_port: Arc<dyn BankLinkStore> = Arc::new(store.clone());
    let queue: Arc<dyn WorkQueue> = Arc::new(store.clone());
    let engine = Engine::new(
        queue,
        EngineSettings {
            owner: instance.to_owned(),
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
    let risk = Risk::new(
        RiskPorts {
            store: Arc::new(store.clone()),
            links: store_port.clone(),
            secrets: Arc::new(store.clone()),
            plaid: plaid_gateway.clone(),
            clock: clock.clone(),
        },
        engine.clone(),
        settings.risk.core_settings(
            &settings.returns,
            TransferSettings::default().max_attempts,
            settings.bank_transfer_max_attempts.max(1),
        ),
    );
    let links = BankLinks::new(
        plaid_gateway,
        broker.clone(),
        LinkStores::on(store.clone()),
        clock,
        engine.clone(),
        Some(risk.clone()),
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
                .or_else(|| webhook_url.filter(|_| sandbox_mode)),
            ..LinkSettings::default()
        },
    );
    let transfer_store: Arc<dyn TransferStore> = Arc::new(store.clone());
    let transfer_store_for_returns = transfer_store.clone();
    let transfers = Transfers::new(
        broker.clone(),
        transfer_store,
        store_port.clone(),
        Arc::new(SystemClock),
        engine.clone(),
        risk.clone(),
        TransferSettings {
            watch_buffer: settings.watch_buffer.max(1),
            refuse_on_needs_reauth: settings.risk.refuse_on_needs_reauth,
            adoption_skew: Duration::from_millis(settings.adoption_skew_ms),
            unknown_outcome_settle: Duration::from_millis(settings.unknown_outcome_settle_ms),
            ..TransferSettings::default()
        },
    );
    // What an ACH return does to the link and the account (its work is registered with the engine).
    let _returns = funding_core::returns::Returns::new(
        transfer_store_for_returns,
        store_port.clone(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        engine.clone(),
        settings.returns.policy.clone(),
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
        risk.clone(),
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
    let parts = Parts {
        store,
        risk,
        links,
        transfers,
        orphans,
        bank_transfers,
        reconciler,
        plaid,
        engine,
        broker,
    };
    (parts, sandbox)
}
