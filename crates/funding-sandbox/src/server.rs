//! Starting and stopping the emulator: [`spawn`] binds both listeners (port 0 picks free ports),
//! builds each provider's router with the control API and the traffic layer, and runs the two
//! servers, the lifecycle scheduler and the Plaid webhook dispatcher as background tasks. [`SandboxHandle::shutdown`] stops
//! them gracefully; dropping the handle stops them too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::alpaca;
use crate::config::SandboxConfig;
use crate::control::SandboxControl;
use crate::control::calls::Host;
use crate::control::http as control_http;
use crate::error::SandboxError;
use crate::plaid;
use crate::plaid::webhooks::WebhookBook;
use crate::scheduler;
use crate::state::Shared;
use crate::traffic::{CONTROL_PREFIX, record_and_inject};

/// How long [`SandboxHandle::shutdown`] waits for in-flight requests before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running emulator. Dropping it stops the servers.
#[derive(Debug)]
pub struct SandboxHandle {
    plaid_addr: SocketAddr,
    alpaca_addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds both listeners and serves Plaid and Alpaca in background tasks.
///
/// # Errors
/// [`SandboxError::Bind`] when a listener cannot be bound; [`SandboxError::Setup`] when
/// `plaid_webhook_url` is not an http(s) URL (or no signing key could be made).
pub async fn spawn(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
    let webhooks = WebhookBook::new(
        config.plaid_webhook_url.as_deref(),
        chrono::Utc::now().timestamp(),
    )?;
    let webhook_client = plaid::webhooks::client()?;
    let plaid_listener = bind(Host::Plaid, config.plaid_listen).await?;
    let alpaca_listener = bind(Host::Alpaca, config.alpaca_listen).await?;
    let plaid_addr = local_addr(Host::Plaid, config.plaid_listen, &plaid_listener)?;
    let alpaca_addr = local_addr(Host::Alpaca, config.alpaca_listen, &alpaca_listener)?;
    let (outbox, inbox) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(&config, webhooks, outbox));

    let plaid_app = app(&shared, Host::Plaid, plaid::router());
    let alpaca_app = app(&shared, Host::Alpaca, alpaca::router(&shared));
    let alpaca_app = alpaca_app.layer(from_fn_with_state(
        Arc::clone(&shared),
        alpaca::auth::rate_limit_headers,
    ));

    let tasks = vec![
        tokio::spawn(scheduler::run(Arc::clone(&shared))),
        tokio::spawn(plaid::webhooks::run(
            Arc::clone(&shared),
            inbox,
            webhook_client,
        )),
        tokio::spawn(serve(
            Host::Plaid,
            plaid_listener,
            plaid_app,
            Arc::clone(&shared),
        )),
        tokio::spawn(serve(
            Host::Alpaca,
            alpaca_listener,
            alpaca_app,
            Arc::clone(&shared),
        )),
    ];
    tracing::info!(%plaid_addr, %alpaca_addr, "funding sandbox listening");
    Ok(SandboxHandle {
        plaid_addr,
        alpaca_addr,
        shared,
        tasks,
    })
}

async fn bind(host: Host, addr: SocketAddr) -> Result<TcpListener, SandboxError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { host, addr, source })
}

fn local_addr(
    host: Host,
    addr: SocketAddr,
    listener: &TcpListener,
) -> Result<SocketAddr, SandboxError> {
    listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { host, addr, source })
}

/// Provider routes + control API, wrapped in the recording/fault layer.
fn app(shared: &Arc<Shared>, host: Host, provider: Router<Arc<Shared>>) -> Router {
    Router::new()
        .nest(CONTROL_PREFIX, control_http::router())
        .merge(provider)
        .layer(from_fn_with_state(
            (Arc::clone(shared), host),
            record_and_inject,
        ))
        .with_state(Arc::clone(shared))
}

async fn serve(host: Host, listener: TcpListener, app: Router, shared: Arc<Shared>) {
    let stop = shared.shutdown.clone().cancelled_owned();
    // TCP_NODELAY, as a provider's front end has: without it an answer written in two segments
    // waits for the caller's delayed ACK (about 40 ms), which would pass for provider latency.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(%host, %error, "sandbox server stopped with an error");
    }
}

impl SandboxHandle {
    /// Base URL of the Plaid emulator, e.g. `http://127.0.0.1:8701`.
    pub fn plaid_url(&self) -> String {
        format!("http://{}", self.plaid_addr)
    }

    /// Base URL of the Alpaca emulator, e.g. `http://127.0.0.1:8702`.
    pub fn alpaca_url(&self) -> String {
        format!("http://{}", self.alpaca_addr)
    }

    /// Bound address of the Plaid listener.
    pub fn plaid_addr(&self) -> SocketAddr {
        self.plaid_addr
    }

    /// Bound address of the Alpaca listener.
    pub fn alpaca_addr(&self) -> SocketAddr {
        self.alpaca_addr
    }

    /// In-process control of this emulator's state.
    pub fn control(&self) -> SandboxControl {
        SandboxControl::new(Arc::clone(&self.shared))
    }

    /// Stops accepting connections, closes event streams, lets in-flight requests finish (up to
    /// a few seconds) and waits for the background tasks.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        for mut task in tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        tracing::info!("funding sandbox stopped");
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
