//! `funding-bench`: fundingd measured against its ceilings in one run (issue 10), and a soak
//! (issue 11). See docs/BENCHMARKS.md.
//!
//! - `funding-bench [--callers C] [--duration D] [--quick] [--json FILE] [--postgres URL]`: every
//!   scenario, the table on stdout; exits 1 if any scenario had an error (never for speed).
//! - `funding-bench soak --duration 60 --rate R --postgres URL`: a fixed rate of mixed requests;
//!   exits 1 on any error or if fundingd's memory keeps growing.
//! - `funding-bench reconcile-scale --postgres URL`: the reconciler with 50,000 transfers in flight,
//!   1,000 of which never resolve; exits 1 if a healthy one was not reconciled or the stream lease
//!   changed hands. `--quick` runs a small form of it after the other scenarios.

mod bench;
mod db;
mod echo;
mod load;
mod reconcile_scale;
mod reconcile_seed;
mod service;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "funding-bench",
    about = "fundingd against its ceilings, in one run",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Concurrent callers of each scenario (the latency-hiding one always has 128).
    #[arg(long, default_value_t = 16)]
    callers: usize,
    /// Seconds each scenario counts (after a short warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// A short run (1 s per scenario, 1,000 and 20,000 stored transfers, 500 events per
    /// provider): the CI smoke test.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also run fundingd and the storage ceiling on this PostgreSQL server (a fresh database per
    /// use is created there and dropped after).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Leave out the SQLite half (with `--postgres`: rerun the PostgreSQL half alone).
    #[arg(long, requires = "postgres")]
    skip_sqlite: bool,
    /// The fundingd binary (default: beside this one, built if needed).
    #[arg(long)]
    fundingd: Option<PathBuf>,
    /// Stored transfers for the growth scenario: few, then many.
    #[arg(long)]
    stored_small: Option<u64>,
    #[arg(long)]
    stored_large: Option<u64>,
    /// Provider status events to ingest, per provider.
    #[arg(long)]
    events: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A fixed rate of mixed requests against fundingd on PostgreSQL; zero errors and flat memory.
    Soak(soak::SoakArgs),
    /// The reconciler with many transfers in flight, some never resolving: time until every
    /// healthy one is reconciled, and the stream lease held by one replica throughout.
    ReconcileScale(reconcile_scale::ReconcileArgs),
    /// The baseline no-op server (run by the bench itself).
    #[command(hide = true)]
    EchoServer {
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("funding-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Some(Command::EchoServer { listen }) => match echo::serve(listen).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("echo-server: {error:#}");
                    ExitCode::FAILURE
                }
            },
            Some(Command::Soak(args)) => match soak::run(args).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(error) => {
                    eprintln!("funding-bench soak: {error:#}");
                    ExitCode::FAILURE
                }
            },
            Some(Command::ReconcileScale(args)) => {
                let json = args.json.clone();
                match reconcile_scale::run(args).await {
                    Ok(report) => {
                        reconcile_scale::print(&report);
                        if let Some(path) = json
                            && let Err(error) = write_json(&path, &report)
                        {
                            eprintln!("funding-bench: {error:#}");
                            return ExitCode::FAILURE;
                        }
                        if report.errors.is_empty() {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::FAILURE
                        }
                    }
                    Err(error) => {
                        eprintln!("funding-bench reconcile-scale: {error:#}");
                        ExitCode::FAILURE
                    }
                }
            }
            None => run(cli.run).await,
        }
    })
}

async fn run(args: RunArgs) -> ExitCode {
    let quick = args.quick;
    let plan = bench::Plan {
        callers: args.callers.max(1),
        duration: Duration::from_secs(if quick { 1 } else { args.duration.max(1) }),
        warmup: Duration::from_millis(if quick { 300 } else { 1000 }),
        postgres: args.postgres,
        skip_sqlite: args.skip_sqlite,
        stored_small: args.stored_small.unwrap_or(1_000),
        stored_large: args
            .stored_large
            .unwrap_or(if quick { 20_000 } else { 1_000_000 }),
        events: args.events.unwrap_or(if quick { 500 } else { 100_000 }),
        json: args.json,
        fundingd: args.fundingd,
        quick,
    };
    let json = plan.json.clone();
    let small_reconcile = quick.then(|| {
        let mut backends = Vec::new();
        if !args.skip_sqlite {
            backends.push(reconcile_scale::ReconcileArgs::quick(
                None,
                plan.fundingd.clone(),
            ));
        }
        if let Some(url) = &plan.postgres {
            backends.push(reconcile_scale::ReconcileArgs::quick(
                Some(url.clone()),
                plan.fundingd.clone(),
            ));
        }
        backends
    });
    let report = match bench::run(plan).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("funding-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    bench::print(&report);
    if let Some(path) = json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Err(error) = std::fs::write(&path, text) {
                    eprintln!("funding-bench: cannot write {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            Err(error) => {
                eprintln!("funding-bench: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut errors: u64 = report.scenarios.iter().map(|s| s.errors).sum();
    // The quick form of `reconcile-scale`, so that it runs in CI's smoke.
    for args in small_reconcile.into_iter().flatten() {
        match reconcile_scale::run(args).await {
            Ok(reconciled) => {
                reconcile_scale::print(&reconciled);
                errors += reconciled.errors.len() as u64;
            }
            Err(error) => {
                eprintln!("funding-bench reconcile-scale: {error:#}");
                errors += 1;
            }
        }
    }
    if errors > 0 {
        eprintln!("funding-bench: {errors} errors");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text)
        .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", path.display()))
}
