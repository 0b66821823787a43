//! The `fundingd` command line: with no configuration it starts sandbox mode (emulated Plaid and
//! Alpaca, SQLite at ./var/funding.db, gRPC on 127.0.0.1:50051). `fundingd migrate` only runs the
//! migrations. A library function, so that the binary and the crash tests' process run the same code.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{Application, Settings, telemetry};
use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;

#[derive(Debug, Parser)]
#[command(name = "fundingd", about = "The ACH funding service (gRPC)", version)]
struct Cli {
    /// Where gRPC listens.
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Where Prometheus metrics are served, at /metrics.
    #[arg(long, global = true)]
    metrics_listen: Option<SocketAddr>,
    /// Where Plaid's webhooks are received (POST /plaid/webhook).
    #[arg(long, global = true)]
    webhook_listen: Option<SocketAddr>,
    /// sqlite:… or postgres://…
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// A TOML file with the settings.
    #[arg(long, global = true, env = "FUNDING_CONFIG")]
    config: Option<PathBuf>,
    /// Serve without authentication outside sandbox mode on loopback.
    #[arg(long, global = true)]
    insecure_no_auth: bool,
    /// Sandbox mode on purpose: required to run the emulator on PostgreSQL or beyond loopback.
    #[arg(long, global = true)]
    sandbox: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the migrations and exit.
    Migrate,
}

/// Parses the command line and runs `fundingd`; the process's exit code.
pub async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut overrides = Figment::new();
    if let Some(listen) = cli.listen {
        overrides = overrides.merge(Serialized::default("listen", listen));
    }
    if let Some(metrics_listen) = cli.metrics_listen {
        overrides = overrides.merge(Serialized::default("metrics_listen", metrics_listen));
    }
    if let Some(webhook_listen) = cli.webhook_listen {
        overrides = overrides.merge(Serialized::default("webhook_listen", webhook_listen));
    }
    if let Some(url) = &cli.database_url {
        overrides = overrides.merge(Serialized::default("database_url", url));
    }
    if cli.insecure_no_auth {
        overrides = overrides.merge(Serialized::default("insecure_no_auth", true));
    }
    if cli.sandbox {
        overrides = overrides.merge(Serialized::default("explicit_sandbox", true));
    }
    let settings = match Settings::load(cli.config.as_ref(), overrides) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("fundingd: bad configuration: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_format);
    let result = match cli.command {
        Some(Command::Migrate) => migrate(settings).await,
        None => serve(settings).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("fundingd: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    crate::migrate(&settings).await?;
    println!("migrations applied to {}", settings.redacted_database_url());
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let sandbox = settings.is_sandbox();
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    if sandbox {
        let (plaid, alpaca) = app.sandbox_urls().unwrap_or_default();
        println!(
            "fundingd is serving gRPC on {addr} in SANDBOX mode (emulated Plaid at {plaid}, Alpaca at {alpaca})."
        );
        println!("Try it (grpcurl, or grpcurl-rs):");
        println!(
            "  grpcurl -plaintext -d '{{}}' {addr} funding.v1.SandboxService/CreatePublicToken"
        );
    } else {
        println!("fundingd is serving gRPC on {addr}.");
    }
    if let Some(metrics) = app.metrics_addr() {
        println!("Metrics: http://{metrics}/metrics");
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
    app.run_until_stopped().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
