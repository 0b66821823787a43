//! The reconciler at scale (issue 18): many transfers in flight, some of which never resolve at
//! Alpaca; how long until every healthy one has been reconciled, and whether Alpaca's stream
//! lease stayed with one replica meanwhile.
//!
//! The transfers are made at the emulator over its HTTP API and written straight into a fresh
//! database (`reconcile_seed`); the healthy ones are COMPLETE at Alpaca with their events never
//! delivered, so only the reconciler can move them; the ones that never resolve stay QUEUED there
//! and are the oldest. Then real fundingd replicas (processes of their own, against the emulator
//! over HTTP) run their reconcilers while the bench watches the database: the healthy ones moved
//! to COMPLETE, every row looked at (`reconciled_at`), and the stream lease's holder every 100 ms
//! by the database's clock. Meanwhile transfers on an account that is not ours are made at the
//! emulator, so Alpaca's stream carries events the reader must store throughout.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use funding_sandbox::SandboxHandle;
use sea_orm::{ConnectionTrait as _, Database, DatabaseBackend, Statement};
use serde::Serialize;

use crate::db::{self, Backend, Fresh};
use crate::reconcile_seed::{self as seed, HEALTHY, Shape};
use crate::service::{self, Fundingd, FundingdOptions};

/// The lease's name in `stream_leases` (fundingd's `funding_core::follow::FUNDING_STREAM`).
pub const FUNDING_STREAM: &str = "alpaca:funding_status";

#[derive(Clone, Debug, Args)]
pub struct ReconcileArgs {
    /// The PostgreSQL server (a fresh database is created there and dropped after); SQLite (one
    /// replica) without it.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Transfers in flight.
    #[arg(long, default_value_t = 50_000)]
    pub in_flight: u64,
    /// Of those, how many never resolve at Alpaca (the oldest, on accounts of their own).
    #[arg(long, default_value_t = 1_000)]
    pub never_resolving: u64,
    /// Transfers in flight per account (an account's list serves all of its due transfers).
    #[arg(long, default_value_t = 10)]
    pub per_account: u64,
    /// fundingd's `reconcile_pass_size`.
    #[arg(long, default_value_t = 500)]
    pub pass_size: u32,
    /// fundingd's `reconcile_calls_per_second` (per replica, per provider).
    #[arg(long, default_value_t = 5)]
    pub calls_per_second: u32,
    /// fundingd's `reconcile_interval_ms`.
    #[arg(long, default_value_t = 30_000)]
    pub interval_ms: u64,
    /// fundingd replicas (default: 2 on PostgreSQL, 1 on SQLite).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Transfers a second made at the emulator on an account not ours (events on the stream).
    #[arg(long, default_value_t = 10)]
    pub feed: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3_600)]
    pub timeout: u64,
    /// The fundingd binary (default: beside this one, built if needed).
    #[arg(long)]
    pub fundingd: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl ReconcileArgs {
    /// The CI smoke's size: 600 in flight, 100 never resolving, passes of 100, one replica.
    pub fn quick(postgres: Option<String>, fundingd: Option<PathBuf>) -> Self {
        Self {
            postgres,
            in_flight: 600,
            never_resolving: 100,
            per_account: 10,
            pass_size: 100,
            calls_per_second: 50,
            interval_ms: 500,
            replicas: Some(1),
            feed: 10,
            timeout: 60,
            fundingd,
            json: None,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub backend: String,
    pub replicas: usize,
    pub in_flight: u64,
    pub never_resolving: u64,
    pub accounts: usize,
    pub pass_size: u32,
    pub calls_per_second_per_replica: u32,
    pub interval_ms: u64,
    pub seed_emulator_s: f64,
    pub seed_database_s: f64,
    /// From the first replica's start until every healthy transfer was COMPLETE.
    pub all_healthy_reconciled_s: Option<f64>,
    /// Until every transfer in flight had been taken by a pass (`reconciled_at` set).
    pub all_looked_at_s: Option<f64>,
    pub healthy_moved_by_reconciler: i64,
    pub stuck_still_queued: i64,
    pub stuck_recorded_unchanged: i64,
    /// `funding_reconciler_unresolved{resource="transfer", reason="unchanged"}`, per replica.
    pub gauge_unchanged: Vec<Option<f64>>,
    /// Lookups the reconcilers logged (an account's list once a pass), per replica.
    pub reconciler_lookups: Vec<u64>,
    pub reconciler_passes: Vec<u64>,
    /// `GET …/transfers` calls the emulator answered while the replicas ran (reconciler and orphan
    /// sweep).
    pub list_calls_at_emulator: usize,
    pub lease_looks: u64,
    pub lease_held_looks: u64,
    pub lease_holders: Vec<String>,
    pub lease_holder_changes: u64,
    pub lease_lapses: u64,
    pub stream_events_fed: u64,
    pub stream_events_stored: i64,
    /// VmHWM of each replica, MiB.
    pub rss_peak_mib: Vec<f64>,
    pub errors: Vec<String>,
}

pub async fn run(args: ReconcileArgs) -> anyhow::Result<Report> {
    let binary = service::fundingd_binary(args.fundingd.as_deref())?;
    let dir = std::env::temp_dir().join(format!("funding-reconcile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let backend = match &args.postgres {
        Some(url) => Backend::Postgres(url.clone()),
        None => Backend::Sqlite,
    };
    let replicas = args
        .replicas
        .unwrap_or(if args.postgres.is_some() { 2 } else { 1 })
        .max(1);
    let mut report = Report {
        backend: backend.label().to_owned(),
        replicas,
        in_flight: args.in_flight,
        never_resolving: args.never_resolving.min(args.in_flight),
        pass_size: args.pass_size,
        calls_per_second_per_replica: args.calls_per_second,
        interval_ms: args.interval_ms,
        ..Report::default()
    };
    let emulator = crate::bench::emulator().await?;
    let database = Fresh::create(&backend, &dir, "reconcile").await?;
    let outcome = measure(&args, &binary, &dir, &emulator, &database.url, &mut report).await;
    emulator.shutdown().await;
    database.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome?;
    Ok(report)
}

async fn measure(
    args: &ReconcileArgs,
    binary: &std::path::Path,
    dir: &std::path::Path,
    emulator: &SandboxHandle,
    url: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let extra = |metrics: u16| {
        format!(
            "metrics_listen = \"127.0.0.1:{metrics}\"\nreconcile_pass_size = {}\nreconcile_calls_per_second = {}\nreconcile_interval_ms = {}\n",
            args.pass_size, args.calls_per_second, args.interval_ms
        )
    };
    let migrate_extra = extra(service::free_port()?);
    Fundingd::migrate(
        binary,
        dir,
        &FundingdOptions {
            name: "fundingd-reconcile-migrate",
            database_url: url,
            extra: &migrate_extra,
        },
        emulator,
    )?;

    let started = Instant::now();
    let shape = Shape {
        in_flight: args.in_flight,
        never_resolving: report.never_resolving,
        per_account: args.per_account,
    };
    let accounts = seed::seed_emulator(emulator, &shape).await?;
    report.accounts = accounts.len();
    // The account that is not ours, made before the cursor: its relationship's events are not fed.
    let alpaca = seed::Alpaca::new(emulator);
    let foreign = uuid::Uuid::new_v4();
    let foreign_relationship = alpaca.relationship(foreign).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cursor = seed::cursor_after_now(emulator).await;
    report.seed_emulator_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    seed::seed_database(url, &accounts, &cursor).await?;
    report.seed_database_s = started.elapsed().as_secs_f64();
    drop(accounts);
    eprintln!(
        "funding-bench reconcile: seeded {} transfers on {} accounts ({} never resolve) in {:.1} s at the emulator and {:.1} s in the database",
        args.in_flight,
        report.accounts,
        report.never_resolving,
        report.seed_emulator_s,
        report.seed_database_s
    );

    let control = emulator.control();
    control.reset_calls();
    let stop = Arc::new(AtomicBool::new(false));
    let lease = tokio::spawn(watch_lease(url.to_owned(), stop.clone()));
    let fed = Arc::new(AtomicU64::new(0));
    let feeder = tokio::spawn(feed(
        alpaca,
        (foreign, foreign_relationship),
        args.feed,
        stop.clone(),
        fed.clone(),
    ));

    let started = Instant::now();
    let mut fundingds = Vec::new();
    let mut metrics_ports = Vec::new();
    for i in 0..report.replicas {
        let port = service::free_port()?;
        let extra = extra(port);
        fundingds.push(
            Fundingd::start(
                binary,
                dir,
                &FundingdOptions {
                    name: &format!("fundingd-reconcile-{i}"),
                    database_url: url,
                    extra: &extra,
                },
                emulator,
            )
            .await?,
        );
        metrics_ports.push(port);
    }
    let monitor = Database::connect(url).await?;
    let healthy = (args.in_flight - report.never_resolving) as i64;
    let complete_sql = format!(
        "SELECT COUNT(*) AS n FROM transfers WHERE status = 'COMPLETE' AND idempotency_key LIKE '{HEALTHY}%'"
    );
    let unseen_sql = "SELECT COUNT(*) AS n FROM transfers WHERE reconciled_at IS NULL";
    let deadline = started + Duration::from_secs(args.timeout);
    let mut last_said = Instant::now();
    let mut complete = 0;
    while Instant::now() < deadline {
        if report.all_looked_at_s.is_none() && db::count(&monitor, unseen_sql).await? == 0 {
            report.all_looked_at_s = Some(started.elapsed().as_secs_f64());
        }
        complete = db::count(&monitor, &complete_sql).await?;
        if complete >= healthy {
            report.all_healthy_reconciled_s = Some(started.elapsed().as_secs_f64());
            break;
        }
        if last_said.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "funding-bench reconcile: {:.0} s: {complete} of {healthy} healthy transfers reconciled",
                started.elapsed().as_secs_f64()
            );
            last_said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if report.all_healthy_reconciled_s.is_none() {
        report.errors.push(format!(
            "{complete} of {healthy} healthy transfers reconciled in {} s",
            args.timeout
        ));
    }
    if report.all_looked_at_s.is_none() && db::count(&monitor, unseen_sql).await? == 0 {
        report.all_looked_at_s = Some(started.elapsed().as_secs_f64());
    }

    // What the replicas say, before they stop.
    let http = reqwest::Client::new();
    for port in &metrics_ports {
        report
            .gauge_unchanged
            .push(unchanged_gauge(&http, *port).await);
    }
    report.list_calls_at_emulator = control
        .calls()
        .iter()
        .filter(|call| call.method == "GET" && call.path.ends_with("/transfers"))
        .count();
    stop.store(true, Ordering::Relaxed);
    let watched = lease.await.context("the lease watcher")??;
    let _ = feeder.await;
    report.lease_looks = watched.looks;
    report.lease_held_looks = watched.held;
    report.lease_holders = watched.holders;
    report.lease_holder_changes = watched.changes;
    report.lease_lapses = watched.lapses;
    report.stream_events_fed = fed.load(Ordering::Relaxed);
    // The last one made may still be on its way: give the reader a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.stream_events_stored =
        db::count(&monitor, "SELECT COUNT(*) AS n FROM inbox_events").await?;
    for fundingd in &fundingds {
        report.rss_peak_mib.push(fundingd.memory_mib().1);
        let (passes, lookups) = logged_lookups(&fundingd.log);
        report.reconciler_passes.push(passes);
        report.reconciler_lookups.push(lookups);
    }
    for fundingd in fundingds {
        fundingd.stop().await;
    }
    report.healthy_moved_by_reconciler = db::count(
        &monitor,
        &format!(
            "SELECT COUNT(DISTINCT h.transfer_id) AS n FROM transfer_status_history h JOIN transfers t ON t.id = h.transfer_id WHERE h.source = 'reconciler' AND h.to_status = 'COMPLETE' AND t.idempotency_key LIKE '{HEALTHY}%'"
        ),
    )
    .await?;
    report.stuck_still_queued = db::count(
        &monitor,
        &format!(
            "SELECT COUNT(*) AS n FROM transfers WHERE status = 'QUEUED' AND idempotency_key LIKE '{}%'",
            seed::STUCK
        ),
    )
    .await?;
    report.stuck_recorded_unchanged = db::count(
        &monitor,
        "SELECT COUNT(*) AS n FROM transfers WHERE reconcile_issue = 'unchanged'",
    )
    .await?;
    let _ = monitor.close().await;
    check(report, healthy);
    Ok(())
}

/// What must hold; anything else is an error of the run.
fn check(report: &mut Report, healthy: i64) {
    let stuck = report.never_resolving as i64;
    if report.healthy_moved_by_reconciler != healthy {
        report.errors.push(format!(
            "{} of {healthy} healthy transfers moved by the reconciler",
            report.healthy_moved_by_reconciler
        ));
    }
    if report.stuck_still_queued != stuck || report.stuck_recorded_unchanged != stuck {
        report.errors.push(format!(
            "of {stuck} that never resolve: {} still QUEUED, {} recorded unchanged",
            report.stuck_still_queued, report.stuck_recorded_unchanged
        ));
    }
    if report.lease_holder_changes > 0 || report.lease_lapses > 0 || report.lease_held_looks == 0 {
        report.errors.push(format!(
            "the stream lease: {} holder changes, {} looks lapsed, held at {} of {} looks",
            report.lease_holder_changes,
            report.lease_lapses,
            report.lease_held_looks,
            report.lease_looks
        ));
    }
}

#[derive(Debug, Default)]
struct Watched {
    looks: u64,
    held: u64,
    holders: Vec<String>,
    changes: u64,
    lapses: u64,
}

/// Looks at the stream lease every 100 ms by the database's clock: who holds it, and whether it
/// had run out (a lapse) once first taken.
async fn watch_lease(url: String, stop: Arc<AtomicBool>) -> anyhow::Result<Watched> {
    let db = Database::connect(&url).await?;
    let backend = db.get_database_backend();
    let now_ms = match backend {
        DatabaseBackend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        _ => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    };
    let sql = format!(
        "SELECT owner, lease_until_ms, {now_ms} AS now_ms FROM stream_leases WHERE stream = '{FUNDING_STREAM}'"
    );
    let mut watched = Watched::default();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let row = db
            .query_one_raw(Statement::from_string(backend, sql.clone()))
            .await?;
        let Some(row) = row else {
            continue;
        };
        let owner: String = row.try_get("", "owner")?;
        let until: i64 = row.try_get("", "lease_until_ms")?;
        let now: i64 = row.try_get("", "now_ms")?;
        let first = watched.holders.is_empty();
        watched.looks += u64::from(!first || until > now);
        if until > now {
            watched.held += 1;
            if watched.holders.last() != Some(&owner) {
                if !first {
                    watched.changes += 1;
                }
                watched.holders.push(owner);
            }
        } else if !first {
            watched.lapses += 1;
        }
    }
    let _ = db.close().await;
    Ok(watched)
}

/// Makes `per_second` transfers a second on an account that is not ours, until `stop`: Alpaca's
/// stream is partner-wide, so the reader stores events about others' transfers throughout.
async fn feed(
    alpaca: seed::Alpaca,
    (account, relationship): (uuid::Uuid, uuid::Uuid),
    per_second: u64,
    stop: Arc<AtomicBool>,
    fed: Arc<AtomicU64>,
) {
    if per_second == 0 {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / per_second.max(1) as u32);
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        if alpaca.deposit(account, relationship).await.is_ok() {
            fed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `funding_reconciler_unresolved{resource="transfer",reason="unchanged"}` from a replica's
/// metrics endpoint.
async fn unchanged_gauge(http: &reqwest::Client, port: u16) -> Option<f64> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|line| line.starts_with("funding_reconciler_unresolved{"))
        .filter(|line| {
            line.contains("resource=\"transfer\"") && line.contains("reason=\"unchanged\"")
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

/// (passes, lookups) of the transfers' reconciler, from a replica's JSON log lines
/// `reconciled transfers`.
fn logged_lookups(log: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut passes = 0;
    let mut lookups = 0;
    for line in text
        .lines()
        .filter(|line| line.contains("reconciled transfers"))
    {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let field = value
            .get("fields")
            .and_then(|fields| fields.get("lookups"))
            .or_else(|| value.get("lookups"));
        if let Some(n) = field.and_then(serde_json::Value::as_u64) {
            passes += 1;
            lookups += n;
        }
    }
    (passes, lookups)
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "never".to_owned(), |s| format!("{s:.1} s"))
}

pub fn print(report: &Report) {
    let rate_total = u64::from(report.calls_per_second_per_replica) * report.replicas as u64;
    println!(
        "reconciler at scale [{}], {} replica(s)",
        report.backend, report.replicas
    );
    let rows: Vec<(&str, String)> = vec![
        ("transfers in flight", report.in_flight.to_string()),
        ("of which never resolve", report.never_resolving.to_string()),
        ("accounts", report.accounts.to_string()),
        ("reconcile_pass_size", report.pass_size.to_string()),
        (
            "reconcile_calls_per_second",
            format!(
                "{} per replica ({rate_total} in all)",
                report.calls_per_second_per_replica
            ),
        ),
        ("reconcile_interval_ms", report.interval_ms.to_string()),
        (
            "seeding (emulator, database)",
            format!(
                "{:.1} s, {:.1} s",
                report.seed_emulator_s, report.seed_database_s
            ),
        ),
        (
            "every healthy one reconciled (COMPLETE)",
            seconds(report.all_healthy_reconciled_s),
        ),
        ("every one looked at once", seconds(report.all_looked_at_s)),
        (
            "healthy moved by the reconciler",
            report.healthy_moved_by_reconciler.to_string(),
        ),
        (
            "never-resolving: QUEUED, recorded unchanged",
            format!(
                "{}, {}",
                report.stuck_still_queued, report.stuck_recorded_unchanged
            ),
        ),
        (
            "gauge unresolved{transfer,unchanged}",
            format!("{:?}", report.gauge_unchanged),
        ),
        (
            "reconciler passes, lookups (per replica)",
            format!(
                "{:?}, {:?}",
                report.reconciler_passes, report.reconciler_lookups
            ),
        ),
        (
            "GET …/transfers at the emulator",
            report.list_calls_at_emulator.to_string(),
        ),
        (
            "stream lease: looks held / looks",
            format!("{} / {}", report.lease_held_looks, report.lease_looks),
        ),
        (
            "stream lease: holder changes, lapses",
            format!("{}, {}", report.lease_holder_changes, report.lease_lapses),
        ),
        (
            "stream lease holders",
            format!("{:?}", report.lease_holders),
        ),
        (
            "stream events fed, stored",
            format!(
                "{}, {}",
                report.stream_events_fed, report.stream_events_stored
            ),
        ),
        (
            "fundingd peak RSS (MiB, per replica)",
            format!("{:.1?}", report.rss_peak_mib),
        ),
        ("errors", report.errors.len().to_string()),
    ];
    for (name, value) in rows {
        println!("| {name:<44} | {value} |");
    }
    for error in &report.errors {
        println!("error: {error}");
    }
}
