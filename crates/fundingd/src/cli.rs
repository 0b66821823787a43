//! The `fundingd` command line: with no configuration it starts sandbox mode (emulated Plaid and
//! Alpaca, SQLite at ./var/funding.db, gRPC on 127.0.0.1:50051). `fundingd migrate` only runs the
//! migrations; `fundingd rotate-key --new-key-file F` moves every sealed value to a new key;
//! `fundingd audit verify` checks the audit trail's hash chain;
//! `--check` validates the settings and exits. A library function, so that the binary and the crash tests' process run the same code.

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
    /// Publish every status change to NATS JetStream at this URL (nats://127.0.0.1:4222).
    #[arg(long, global = true)]
    nats_url: Option<String>,
    /// Export traces over OTLP/gRPC to this collector (http://127.0.0.1:4317).
    #[arg(long, global = true, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Load and validate the settings, print "configuration OK" and exit, without binding a port or
    /// connecting to the database.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the migrations and exit.
    Migrate,
    /// Re-encrypt every sealed value under a new key, in batches (resumable, idempotent). Then make
    /// the new key `encryption_key` and the old one an `old_encryption_keys` entry, then drop it.
    RotateKey {
        /// The file holding the new key (base64 of 32 bytes), private to its owner.
        #[arg(long, env = "FUNDING_NEW_KEY_FILE")]
        new_key_file: PathBuf,
        /// Rows per transaction.
        #[arg(long, default_value_t = funding_store::DEFAULT_ROTATION_BATCH)]
        batch_size: usize,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walks the whole audit trail from its first event and checks every event's hash against its
    /// fields and the event before it: a changed, inserted or deleted row fails, naming it (exit 1).
    Verify,
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
    if let Some(url) = &cli.nats_url {
        overrides = overrides.merge(Serialized::default("nats_url", url));
    }
    if let Some(url) = &cli.otlp_endpoint {
        overrides = overrides.merge(Serialized::default("otlp_endpoint", url));
    }
    let settings = match Settings::load_validated(cli.config.as_ref(), overrides) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("fundingd: bad configuration: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    if cli.check {
        return match crate::check(&settings) {
            Ok(line) => {
                println!("{line}");
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("fundingd: bad configuration: {error:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let traces = match telemetry::init_with(&settings.log_format, settings.otlp_endpoint.as_deref())
    {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("fundingd: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Migrate) => migrate(settings).await,
        Some(Command::RotateKey {
            new_key_file,
            batch_size,
        }) => crate::rotate_key(&settings, &new_key_file, batch_size)
            .await
            .map(|_| ()),
        Some(Command::Audit {
            action: AuditCommand::Verify,
        }) => crate::verify_audit(&settings).await.map(|verified| {
            println!("audit trail intact: {verified} events verified");
        }),
        None => serve(settings).await,
    };
    let code = match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("fundingd: {error:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // The spans still in the batch are exported before the process ends.
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    code
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    crate::migrate(&settings).await?;
    println!("migrations applied to {}", settings.redacted_database_url());
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let sandbox = settings.is_sandbox();
    let tls = settings.tls.cert_file.is_some();
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    if sandbox {
        let (plaid, alpaca) = app.sandbox_urls().unwrap_or_default();
        println!(
            "fundingd is serving gRPC on {addr} in SANDBOX mode (emulated Plaid at {plaid}, Alpaca at {alpaca})."
        );
        println!("Try it (grpcurl, or grpcurl-rs):");
        let transport = if tls {
            "-cacert <the CA of tls.cert_file>"
        } else {
            "-plaintext"
        };
        println!(
            "  grpcurl {transport} -d '{{}}' {addr} funding.v1.SandboxService/CreatePublicToken"
        );
    } else {
        let over = if tls { " over TLS" } else { "" };
        println!("fundingd is serving gRPC{over} on {addr}.");
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
