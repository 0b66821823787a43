//! The seeded chaos run of issue 11: a mixed workload (bank links, deposits, withdrawals within
//! and beyond the cash an account has, Plaid bank transfers), whose callers retry under their own
//! idempotency keys, against real `fundingd` processes (one on SQLite, or replicas on one
//! PostgreSQL) pointed at the emulator running as a process of its own, while faults are
//! injected at random through the emulator's control API and the replicas are SIGKILLed and
//! restarted at random moments. At the end (faults cleared, quiescence awaited with a bound) it
//! checks, through the providers' own APIs at the emulator, that every accepted request has
//! exactly one provider resource, that our status equals the provider's, that nothing was lost
//! or doubled, that no account overdrew and that every status history is a path in its
//! lifecycle table; then it scans the database and the captured logs for the run's tokens,
//! account numbers and API secrets. It prints its figures; the exit code is 1 on any violation.
//!
//! ```text
//! cargo run -p funding-tests --bin chaos -- --seed 42 --ops 300 --duration 120
//! cargo run -p funding-tests --bin chaos -- --seed 42 --ops 300 --duration 120 \
//!     --replicas 2 --postgres postgres://postgres@127.0.0.1:5432
//! ```
//!
//! Every random choice (the plan of operations, amounts, outcomes, faults, kill moments) comes from
//! the seed, printed first; a failing run prints the command that replays it. Real processes and
//! real time make the interleaving differ from run to run, which is the point of running many.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod behaviours;
mod faults;
mod scan;
mod verify;
mod workload;
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use funding_tests::process::{Replica, Rng, clock_seed};

use behaviours::Behaviours;
use world::{Db, Emulator, ROLE_VAR, Secrets};

/// The seeded chaos run (issue 11).
#[derive(Debug, Parser, Clone)]
#[command(name = "chaos")]
pub struct Args {
    /// The seed of every random choice (default: from the clock; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Operations to run (links, deposits, withdrawals, bank transfers).
    #[arg(long, default_value_t = 200)]
    pub ops: usize,
    /// Seconds over which the operations start, faults are injected and replicas killed.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// `fundingd` replicas (more than one needs --postgres).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// A PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432): a fresh database is made on
    /// it for the run and dropped after; without it, a SQLite file.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Keep the run's directory (configs, logs, SQLite file) even when it passes.
    #[arg(long)]
    pub keep: bool,
    /// The provider behaviours to turn on (DESIGN §7): `seed` (each drawn from the seed), `all`,
    /// `none`, or some of late_effect,fee,gross,page_cap,settled,drop_events,maintenance.
    #[arg(long, default_value = "seed")]
    pub behaviours: String,
}

impl Args {
    /// The command that replays this run.
    fn replay_command(&self, seed: u64) -> String {
        let mut command = format!(
            "cargo run -p funding-tests --bin chaos -- --seed {seed} --ops {} --duration {}",
            self.ops, self.duration
        );
        if self.replicas != 1 {
            command.push_str(&format!(" --replicas {}", self.replicas));
        }
        if let Some(url) = &self.postgres {
            command.push_str(&format!(" --postgres {url}"));
        }
        if self.behaviours != "seed" {
            command.push_str(&format!(" --behaviours {}", self.behaviours));
        }
        command
    }
}

/// Counters shown at the end.
#[derive(Debug, Default)]
pub struct Stats {
    /// Operations by kind.
    pub ops: BTreeMap<&'static str, u64>,
    /// Requests sent to fundingd (retries included).
    pub attempts: u64,
    /// Error answers by gRPC code (retried or not).
    pub errors: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    pub restarts: u64,
    /// Same-key requests sent again (concurrently or later).
    pub repeats: u64,
}

impl Stats {
    pub fn op(&mut self, kind: &'static str) {
        *self.ops.entry(kind).or_default() += 1;
    }

    pub fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }
}

/// What the callers were answered: every resource fundingd accepted, and what was refused.
#[derive(Debug, Default)]
pub struct Ledger {
    pub accounts: Vec<Account>,
    /// Link ids accepted, with their account.
    pub links: Vec<(String, String)>,
    pub transfers: Vec<TransferRecord>,
    pub bank_transfers: Vec<BankTransferRecord>,
    /// Requests that never got a definite answer before the run's retry deadline.
    pub unanswered: Vec<String>,
    /// Definite refusals the workload does not expect (each one a violation).
    pub unexpected: Vec<String>,
    /// Same-key requests answered with another resource than the first answer.
    pub key_mismatches: Vec<String>,
    /// Deposits the run made at Alpaca directly, over our relationships (after the chaos):
    /// (Alpaca's transfer id, account). fundingd holds none of them and must report each one as a
    /// provider orphan.
    pub foreign: Vec<(String, String)>,
    /// Withdrawals refused for want of cash, as expected of the too-large ones.
    pub refused_insufficient: u64,
    pub too_large_accepted: u64,
}

/// An account with an APPROVED link, and the cash it was given at the start.
#[derive(Debug, Clone)]
pub struct Account {
    pub account_id: String,
    pub link_id: String,
    pub initial_cash_cents: i64,
}

#[derive(Debug, Clone)]
pub struct TransferRecord {
    pub id: String,
    pub account_id: String,
    pub deposit: bool,
    pub amount_cents: i64,
}

#[derive(Debug, Clone)]
pub struct BankTransferRecord {
    pub id: String,
    pub processor_token: String,
}

/// Everything the run's tasks share.
pub struct Run {
    pub args: Args,
    pub seed: u64,
    pub emulator: Emulator,
    pub addresses: Vec<String>,
    pub webhook_urls: Vec<String>,
    pub replicas: tokio::sync::Mutex<Vec<Replica>>,
    pub stats: Mutex<Stats>,
    pub ledger: Mutex<Ledger>,
    pub secrets: Secrets,
    pub started: Instant,
    /// When the workload stops starting operations, and faults and kills stop.
    pub chaos_until: Instant,
    /// When callers give up retrying.
    pub retry_until: Instant,
    /// Inject timeouts beyond Plaid's adapter timeout (30 s) too (long runs).
    pub plaid_timeouts: bool,
    /// The provider behaviours the run turned on.
    pub behaviours: Behaviours,
}

impl Run {
    pub fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn chaos_over(&self) -> bool {
        Instant::now() >= self.chaos_until
    }

    /// Seconds since the start, for the log lines.
    pub fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn main() -> ExitCode {
    match std::env::var(ROLE_VAR).as_deref() {
        Ok("fundingd") => runtime().block_on(fundingd::cli::main()),
        Ok("emulator") => match runtime().block_on(funding_sandbox::cli::main()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("funding-sandbox: {error:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            let args = Args::parse();
            runtime().block_on(orchestrate(args))
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn orchestrate(args: Args) -> ExitCode {
    let seed = args.seed.unwrap_or_else(clock_seed);
    println!("chaos: seed {seed}");
    println!("chaos: replay with: {}", args.replay_command(seed));
    if args.replicas == 0 || (args.replicas > 1 && args.postgres.is_none()) {
        eprintln!("chaos: --replicas above 1 needs --postgres (SQLite is one node)");
        return ExitCode::from(2);
    }
    let replay = args.replay_command(seed);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        eprintln!("chaos: FAILED (panic) with seed {seed}; replay with: {replay}");
    }));
    match run(args.clone(), seed).await {
        Ok(violations) if violations.is_empty() => {
            println!("chaos: PASSED (seed {seed})");
            ExitCode::SUCCESS
        }
        Ok(violations) => {
            println!("chaos: {} VIOLATIONS:", violations.len());
            for violation in &violations {
                println!("  - {violation}");
            }
            println!(
                "chaos: FAILED with seed {seed}; replay with: {}",
                args.replay_command(seed)
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            println!("chaos: the run could not be carried out: {error:#}");
            println!(
                "chaos: FAILED with seed {seed}; replay with: {}",
                args.replay_command(seed)
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, seed: u64) -> anyhow::Result<Vec<String>> {
    let mut rng = Rng::new(seed);
    let secrets = Secrets::new(&mut rng);
    let behaviours = Behaviours::choose(&args.behaviours, &mut rng.fork())?;
    let (on, off) = behaviours.describe();
    println!("chaos: behaviours on: {on}");
    println!("chaos: behaviours off: {off}");
    let dir = tempfile::Builder::new().prefix("chaos-").tempdir()?;
    println!("chaos: run directory {}", dir.path().display());
    let emulator = Emulator::start(dir.path(), &secrets)?;
    println!(
        "chaos: emulator process at {} (Plaid) and {} (Alpaca)",
        emulator.plaid, emulator.alpaca
    );
    let settings = emulator
        .control(
            reqwest::Method::POST,
            "/alpaca/settings",
            Some(behaviours.alpaca_settings()),
        )
        .await?;
    println!("chaos: Alpaca settings {settings}");
    let db = Db::create(dir.path(), args.postgres.as_deref(), seed).await?;
    let mut replicas = Vec::new();
    let mut webhook_urls = Vec::new();
    for n in 0..args.replicas {
        let (mut replica, webhook) = world::replica(
            dir.path(),
            &format!("replica-{n}"),
            &db.url(),
            &emulator,
            &secrets,
        )?;
        replica
            .try_start()
            .await
            .map_err(|error| anyhow::anyhow!(error))?;
        replicas.push(replica);
        webhook_urls.push(webhook);
    }
    emulator
        .control(
            reqwest::Method::POST,
            "/plaid/webhook",
            Some(serde_json::json!({"url": webhook_urls[0]})),
        )
        .await?;
    println!(
        "chaos: {} fundingd replica(s) on {}, {} operations over {} s",
        args.replicas,
        if args.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.ops,
        args.duration
    );
    let started = Instant::now();
    let chaos_until = started + Duration::from_secs(args.duration);
    // Timeouts beyond Plaid's 30 s need room before the callers give up.
    let plaid_timeouts = args.duration >= 120;
    let retry_until = chaos_until + Duration::from_secs(if plaid_timeouts { 150 } else { 90 });
    let run = Arc::new(Run {
        addresses: replicas.iter().map(|r| r.address.clone()).collect(),
        webhook_urls,
        replicas: tokio::sync::Mutex::new(replicas),
        args: args.clone(),
        seed,
        emulator,
        stats: Mutex::default(),
        ledger: Mutex::default(),
        secrets,
        started,
        chaos_until,
        retry_until,
        plaid_timeouts,
        behaviours,
    });

    let workload = tokio::spawn(workload::run(Arc::clone(&run), rng.fork()));
    let injector = tokio::spawn(faults::inject(Arc::clone(&run), rng.fork()));
    let killer = tokio::spawn(faults::kill(Arc::clone(&run), rng.fork()));
    let returner = tokio::spawn(faults::return_deposits(Arc::clone(&run), rng.fork()));
    let foreign_rng = rng.fork();
    for task in [injector, killer, returner] {
        task.await??;
    }
    println!(
        "chaos: [{:.1}s] chaos over: faults cleared, every replica up; waiting for the callers",
        run.at()
    );
    faults::clear_all(&run).await?;
    faults::all_up(&run).await?;
    workload.await??;
    faults::foreign_deposits(&run, foreign_rng).await?;
    println!(
        "chaos: [{:.1}s] callers done; waiting for quiescence",
        run.at()
    );

    let mut violations = verify::check(&run, &db).await?;
    {
        let mut replicas = run.replicas.lock().await;
        for replica in replicas.iter_mut() {
            replica.kill();
        }
    }
    let logs: Vec<std::path::PathBuf> = {
        let replicas = run.replicas.lock().await;
        replicas.iter().map(|r| r.log.clone()).collect()
    };
    violations.extend(scan::scan(&run, &db, &logs).await?);
    print_figures(&run, &violations);
    if violations.is_empty() {
        db.drop_database().await;
    } else if let Db::Postgres { name, .. } = &db {
        println!("chaos: kept the PostgreSQL database {name} (drop it when done)");
    }
    if !violations.is_empty() || args.keep {
        let kept = dir.keep();
        println!(
            "chaos: kept the run directory (configs, logs) at {}",
            kept.display()
        );
    }
    Ok(violations)
}

fn print_figures(run: &Run, violations: &[String]) {
    let stats = run.stats();
    let ledger = run.ledger();
    let total: u64 = stats.ops.values().sum();
    let faults: u64 = stats.faults.values().sum();
    println!("chaos: ---- figures (seed {}) ----", run.seed);
    println!(
        "chaos: operations: {total} ({})",
        join(stats.ops.iter().map(|(k, v)| format!("{k} {v}")))
    );
    println!(
        "chaos: accepted: {} links, {} transfers, {} bank transfers; {} withdrawals refused for cash ({} too-large ones accepted, then failed or not)",
        ledger.links.len(),
        ledger.transfers.len(),
        ledger.bank_transfers.len(),
        ledger.refused_insufficient,
        ledger.too_large_accepted,
    );
    println!(
        "chaos: requests sent: {} ({} same-key repeats); error answers: {}",
        stats.attempts,
        stats.repeats,
        join(stats.errors.iter().map(|(k, v)| format!("{k} {v}")))
    );
    println!(
        "chaos: faults injected: {faults} ({})",
        join(stats.faults.iter().map(|(k, v)| format!("{k} {v}")))
    );
    println!("chaos: restarts (SIGKILL): {}", stats.restarts);
    let duplicates = violations
        .iter()
        .filter(|v| v.starts_with("DUPLICATE"))
        .count();
    let lost = violations.iter().filter(|v| v.starts_with("LOST")).count();
    println!("chaos: duplicates found: {duplicates}");
    println!("chaos: lost: {lost}");
    println!("chaos: violations: {}", violations.len());
}

fn join(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
