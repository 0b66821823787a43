//! The `funding-sandbox` command line: runs the Plaid and Alpaca emulators alone (for other
//! teams' local development), prints where they listen, and stops cleanly on Ctrl-C or SIGTERM.
//! A library function, so that the binary and the chaos run's emulator process run the same code.
use std::net::SocketAddr;
use std::time::Duration;

use crate::{DEFAULT_ALPACA_LISTEN, DEFAULT_PLAID_LISTEN, SandboxConfig};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Stateful Plaid + Alpaca Broker (funding) emulator.
#[derive(Debug, Parser)]
#[command(name = "funding-sandbox", version, about)]
struct Args {
    /// Address of the Plaid emulator.
    #[arg(long, default_value_t = DEFAULT_PLAID_LISTEN, env = "FUNDING_SANDBOX_PLAID_LISTEN")]
    plaid_listen: SocketAddr,
    /// Address of the Alpaca Broker emulator.
    #[arg(long, default_value_t = DEFAULT_ALPACA_LISTEN, env = "FUNDING_SANDBOX_ALPACA_LISTEN")]
    alpaca_listen: SocketAddr,
    /// Milliseconds before a new ACH relationship is APPROVED.
    #[arg(long, default_value_t = 1000)]
    relationship_approval_delay_ms: u64,
    /// Milliseconds between transfer steps (QUEUED → SENT_TO_CLEARING → COMPLETE).
    #[arg(long, default_value_t = 1000)]
    transfer_step_delay_ms: u64,
    /// Milliseconds between `:heartbeat` lines on the event stream.
    #[arg(long, default_value_t = 10_000)]
    heartbeat_interval_ms: u64,
    /// URL that receives the signed Plaid `BANK_TRANSFERS_EVENTS_UPDATE` webhooks after every
    /// new bank transfer event (none are sent without it; the control API can set it later).
    #[arg(long, env = "FUNDING_SANDBOX_PLAID_WEBHOOK_URL")]
    plaid_webhook_url: Option<String>,
    /// Plaid `client_id` to accept (with `--plaid-secret`): any other pair gets Plaid's
    /// `INVALID_API_KEYS`. Without both, any non-empty pair is accepted.
    #[arg(
        long,
        env = "FUNDING_SANDBOX_PLAID_CLIENT_ID",
        requires = "plaid_secret"
    )]
    plaid_client_id: Option<String>,
    /// Plaid `secret` to accept (with `--plaid-client-id`).
    #[arg(
        long,
        env = "FUNDING_SANDBOX_PLAID_SECRET",
        hide_env_values = true,
        requires = "plaid_client_id"
    )]
    plaid_secret: Option<String>,
    /// Alpaca API key id to accept over HTTP Basic (with `--alpaca-secret`): any other pair gets
    /// Alpaca's 401. Without both, any non-empty pair is accepted.
    #[arg(
        long,
        env = "FUNDING_SANDBOX_ALPACA_KEY_ID",
        requires = "alpaca_secret"
    )]
    alpaca_key_id: Option<String>,
    /// Alpaca API secret to accept (with `--alpaca-key-id`).
    #[arg(
        long,
        env = "FUNDING_SANDBOX_ALPACA_SECRET",
        hide_env_values = true,
        requires = "alpaca_key_id"
    )]
    alpaca_secret: Option<String>,
}

/// Parses the command line and runs the emulator until Ctrl-C or SIGTERM.
///
/// # Errors
/// When a listener cannot be bound or the webhook URL is not an http(s) URL.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = SandboxConfig {
        plaid_listen: args.plaid_listen,
        alpaca_listen: args.alpaca_listen,
        relationship_approval_delay: Duration::from_millis(args.relationship_approval_delay_ms),
        transfer_step_delay: Duration::from_millis(args.transfer_step_delay_ms),
        heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms),
        plaid_webhook_url: args.plaid_webhook_url,
        plaid_credentials: args.plaid_client_id.zip(args.plaid_secret),
        alpaca_credentials: args.alpaca_key_id.zip(args.alpaca_secret),
        ..SandboxConfig::default()
    };
    let sandbox = crate::spawn(config.clone()).await?;
    println!("funding-sandbox: Plaid  at {}", sandbox.plaid_url());
    println!("funding-sandbox: Alpaca at {}", sandbox.alpaca_url());
    if let Some(url) = sandbox.control().plaid_webhook_url() {
        println!("funding-sandbox: Plaid webhooks to {url}");
    }
    for (name, checked) in [
        ("Plaid", config.plaid_credentials.is_some()),
        ("Alpaca", config.alpaca_credentials.is_some()),
    ] {
        let accepted = if checked {
            "only the configured credentials"
        } else {
            "any non-empty credentials"
        };
        println!("funding-sandbox: {name} accepts {accepted}");
    }
    println!(
        "funding-sandbox: control API under {}/_sandbox (also on the Alpaca port); Ctrl-C stops",
        sandbox.plaid_url()
    );
    // The control API (and the emulated accounts' money moves) answers anyone who can reach it.
    for (name, addr) in [("Plaid", args.plaid_listen), ("Alpaca", args.alpaca_listen)] {
        if !addr.ip().is_loopback() {
            let warning = format!(
                "funding-sandbox: WARNING: the {name} emulator and its unauthenticated control API (/_sandbox) listen on {addr}, beyond loopback: anyone who can reach it can drive the emulator"
            );
            eprintln!("{warning}");
            tracing::warn!("{warning}");
        }
    }
    wait_for_stop_signal().await;
    println!("funding-sandbox: stopping");
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
