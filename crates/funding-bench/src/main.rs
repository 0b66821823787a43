//! `funding-bench`: fundingd measured against its ceilings in one run (issue 10), and a soak
//! (issue 11). See docs/BENCHMARKS.md.
//!
//! - `funding-bench [--callers C] [--duration D] [--quick] [--json FILE] [--postgres URL]`: every
//!   scenario, the table on stdout; exits 1 if any scenario had an error (never for speed).
//! - `funding-bench soak --duration 60 --rate R --postgres URL`: a fixed rate of mixed requests;
//!   exits 1 on any error or if fundingd's memory keeps growing.

mod bench;
mod db;
mod echo;
mod load;
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
    let errors: u64 = report.scenarios.iter().map(|s| s.errors).sum();
    if errors > 0 {
        eprintln!("funding-bench: {errors} errors");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
