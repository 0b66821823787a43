//! The run: every scenario of issue 10 against fundingd and its ceilings, on SQLite (and on
//! PostgreSQL when given), the table on stdout, the JSON with `--json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use funding_client::FundingClient;
use funding_client::v1;
use funding_sandbox::{Fault, Host, SandboxConfig, SandboxControl, SandboxHandle};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde::Serialize;

use crate::db::{self, Backend, Fresh};
use crate::load::{self, Stats};
use crate::service::{self, EchoServer, Fundingd, FundingdOptions, TOKEN};

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub callers: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub postgres: Option<String>,
    /// Leave out the SQLite half.
    pub skip_sqlite: bool,
    pub stored_small: u64,
    pub stored_large: u64,
    /// Events per provider.
    pub events: u64,
    pub json: Option<PathBuf>,
    pub fundingd: Option<PathBuf>,
    pub quick: bool,
}

/// The callers of the latency-hiding scenario and the emulated provider latency.
pub const LATENCY_CALLERS: usize = 128;
pub const PROVIDER_LATENCY: Duration = Duration::from_millis(50);
/// Goals (issue 10).
const EVENTS_GOAL: f64 = 5000.0;
const RSS_GOAL_MIB: f64 = 64.0;

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub command: String,
    pub quick: bool,
    pub callers: usize,
    pub duration_s: f64,
    pub scenarios: Vec<Stats>,
    pub ratios: BTreeMap<String, f64>,
    /// fundingd's peak resident memory (VmHWM), the largest of its processes in the run.
    pub rss_mib: f64,
    /// Measured writes per CreateTransfer, per backend.
    pub writes_per_transfer: BTreeMap<String, BTreeMap<String, f64>>,
    pub goals: Vec<Goal>,
}

#[derive(Debug, Serialize)]
pub struct Goal {
    pub goal: String,
    pub value: f64,
    pub target: f64,
    pub met: bool,
}

/// Runs everything; the report (errors are in it: the caller decides the exit code).
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let binary = service::fundingd_binary(plan.fundingd.as_deref())?;
    let dir = std::env::temp_dir().join(format!(
        "funding-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().format("%H%M%S")
    ));
    std::fs::create_dir_all(&dir)?;
    eprintln!("funding-bench: working in {}", dir.display());
    let mut scenarios = Vec::new();
    let mut ratios = BTreeMap::new();
    let mut writes = BTreeMap::new();
    let mut rss_peak: f64 = 0.0;
    let mut rss_at_128: f64 = 0.0;

    // The transport ceiling.
    let echo = EchoServer::start().await?;
    let echo_clients = clients(&echo.address, None, plan.callers).await?;
    let echo_stats = {
        let clients = echo_clients.clone();
        load::closed_loop(
            "echo",
            plan.callers,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                async move {
                    client
                        .transfers()
                        .get_transfer(v1::GetTransferRequest {
                            id: uuid::Uuid::nil().to_string(),
                        })
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    progress(&echo_stats);
    // One caller: the transport's own latency, beside which the service's overhead is judged.
    let echo_one = {
        let clients = echo_clients.clone();
        load::closed_loop(
            "echo x1",
            1,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                async move {
                    client
                        .transfers()
                        .get_transfer(v1::GetTransferRequest {
                            id: uuid::Uuid::nil().to_string(),
                        })
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    progress(&echo_one);
    drop(echo);
    let echo_rps = echo_stats.rps;
    let echo_p99_one = echo_one.p99_ms;
    ratios.insert("echo_p99_ms_one_caller".into(), echo_p99_one);
    scenarios.push(echo_stats);
    scenarios.push(echo_one);

    let mut backends = Vec::new();
    if !plan.skip_sqlite {
        backends.push(Backend::Sqlite);
    }
    if let Some(url) = &plan.postgres {
        backends.push(Backend::Postgres(url.clone()));
    }
    for backend in &backends {
        let label = backend.label();
        eprintln!("funding-bench: --- {label} ---");
        let outcome = run_backend(&plan, backend, &binary, &dir, echo_rps, echo_p99_one).await?;
        rss_peak = rss_peak.max(outcome.rss_peak);
        rss_at_128 = rss_at_128.max(outcome.rss_at_128);
        scenarios.extend(outcome.scenarios);
        for (name, value) in outcome.ratios {
            ratios.insert(format!("{name}_{label}"), value);
        }
        writes.insert(label.to_owned(), outcome.writes);
    }
    ratios.insert("rss_mib_at_128_callers".into(), rss_at_128);
    let _ = std::fs::remove_dir_all(&dir);

    let goals = goals(&ratios, rss_peak, &backends);
    Ok(Report {
        machine: machine(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: plan.quick,
        callers: plan.callers,
        duration_s: plan.duration.as_secs_f64(),
        scenarios,
        ratios,
        rss_mib: rss_peak,
        writes_per_transfer: writes,
        goals,
    })
}

/// The risk checks' configuration of the checks-on scenario: the balance read at Plaid before
/// every deposit, and daily and 30-day hard limits far above what the run creates (so every check
/// reads the window's usage and every deposit is accepted).
const CHECKS_ON: &str = r#"
[risk]
balance_check = "refuse"

[risk.limits.alpaca.deposit]
daily_hard = "9000000.00"
rolling_30_days_hard = "10000000.00"
"#;

/// CreateTransfer, fresh keys, with the risk checks on: its own fundingd, emulator and database.
async fn checks_on(
    plan: &Plan,
    backend: &Backend,
    binary: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<(Stats, f64)> {
    let label = backend.label();
    let emulator = emulator().await?;
    let control = emulator.control();
    let db = Fresh::create(backend, dir, "checks").await?;
    let fundingd = Fundingd::start(
        binary,
        dir,
        &FundingdOptions {
            name: &format!("fundingd-checks-{label}"),
            database_url: &db.url,
            extra: CHECKS_ON,
        },
        &emulator,
    )
    .await?;
    let c = plan.callers;
    let clients = clients(&fundingd.address, Some(TOKEN), c.clamp(1, 16)).await?;
    let links = Arc::new(make_links(&clients, &control, c).await?);
    let cpu_before = fundingd.cpu_seconds();
    let mut stats = {
        let clients = clients.clone();
        let links = links.clone();
        load::closed_loop(
            &format!("CreateTransfer checks on [{label}]"),
            c,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = deposit(&links[caller], key());
                async move {
                    let transfer = client
                        .transfers()
                        .create_transfer(request)
                        .await
                        .map_err(|s| s.to_string())?
                        .into_inner()
                        .transfer
                        .ok_or("no transfer")?;
                    // Accepted by the checks: a refusal or a hold would not measure the same path.
                    match transfer.risk.map(|risk| risk.verdict()) {
                        Some(v1::RiskVerdict::Accept) | None => Ok(()),
                        Some(other) => Err(format!("the checks answered {other:?}")),
                    }
                }
            },
        )
        .await
    };
    set_cpu(&mut stats, cpu_before, fundingd.cpu_seconds());
    progress(&stats);
    let balance_reads = control
        .calls()
        .iter()
        .filter(|call| call.path == "/accounts/balance/get")
        .count();
    if balance_reads == 0 {
        bail!("the checks-on scenario read no balance: the checks did not run");
    }
    let (_, hwm) = fundingd.memory_mib();
    fundingd.stop().await;
    emulator.shutdown().await;
    db.drop_now().await;
    Ok((stats, hwm))
}

fn goals(ratios: &BTreeMap<String, f64>, rss: f64, backends: &[Backend]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let mut check = |goal: String, key: &str, target: f64, at_most: bool| {
        if let Some(&value) = ratios.get(key) {
            let met = if at_most {
                value <= target
            } else {
                value >= target
            };
            goals.push(Goal {
                goal,
                value,
                target,
                met,
            });
        }
    };
    for backend in backends {
        let b = backend.label();
        // Issue 23's goals: reads at half of Echo on SQLite and 0.35 on PostgreSQL, creates at a
        // quarter of the storage ceiling, ingestion at 5,000 events/s on SQLite and 3,000 on
        // PostgreSQL, a create's CPU at most 8 reads', the service's own p99 beside a 50 ms
        // provider at most 3 × Echo's.
        let postgres = matches!(backend, Backend::Postgres(_));
        let read_goal = if postgres { 0.35 } else { 0.5 };
        check(
            format!("GetTransfer ≥ {read_goal} × Echo ({b})"),
            &format!("get_over_echo_{b}"),
            read_goal,
            false,
        );
        check(
            format!("replay ≥ {read_goal} × Echo ({b})"),
            &format!("replay_over_echo_{b}"),
            read_goal,
            false,
        );
        check(
            format!("CreateTransfer ≥ 0.25 × storage ceiling ({b})"),
            &format!("create_over_ceiling_{b}"),
            0.25,
            false,
        );
        check(
            format!("CreateBankTransfer ≥ 0.25 × storage ceiling ({b})"),
            &format!("bank_create_over_ceiling_{b}"),
            0.25,
            false,
        );
        check(
            format!("≤ 2 write commits on a create's request path ({b})"),
            &format!("create_commits_{b}"),
            2.0,
            true,
        );
        check(
            format!("fundingd CPU per create ≤ 8 × per GetTransfer ({b})"),
            &format!("create_cpu_over_get_cpu_{b}"),
            8.0,
            true,
        );
        check(
            format!("own p99 beside a 50 ms provider ≤ 3 × Echo x1 p99 ({b})"),
            &format!("overhead_p99_over_echo_p99_{b}"),
            3.0,
            true,
        );
        let events_goal = if postgres { 3_000.0 } else { 5_000.0 };
        check(
            format!("Alpaca ingestion ≥ {events_goal} events/s ({b})"),
            &format!("alpaca_events_per_s_over_goal_{b}"),
            events_goal / EVENTS_GOAL,
            false,
        );
        check(
            format!("Plaid ingestion ≥ {events_goal} events/s ({b})"),
            &format!("plaid_events_per_s_over_goal_{b}"),
            events_goal / EVENTS_GOAL,
            false,
        );
        check(
            format!("latency hiding ≥ 0.8 ({b})"),
            &format!("latency_hiding_{b}"),
            0.8,
            false,
        );
        check(
            format!("GetTransfer p99 growth ≤ 1.5 ({b})"),
            &format!("get_p99_growth_{b}"),
            1.5,
            true,
        );
        check(
            format!("ListTransfers p99 growth ≤ 1.5 ({b})"),
            &format!("list_p99_growth_{b}"),
            1.5,
            true,
        );
    }
    // The issue's goal is the peak at 128 callers; the whole run's peak (reached while ingesting
    // events) is held to the same bound beside it, stricter than the issue.
    if let Some(&at_128) = ratios.get("rss_mib_at_128_callers") {
        goals.push(Goal {
            goal: "fundingd peak RSS ≤ 64 MiB at 128 callers".into(),
            value: at_128,
            target: RSS_GOAL_MIB,
            met: at_128 <= RSS_GOAL_MIB,
        });
    }
    goals.push(Goal {
        goal: "fundingd peak RSS ≤ 64 MiB over the whole run".into(),
        value: rss,
        target: RSS_GOAL_MIB,
        met: rss <= RSS_GOAL_MIB,
    });
    goals
}

struct Outcome {
    scenarios: Vec<Stats>,
    ratios: BTreeMap<String, f64>,
    writes: BTreeMap<String, f64>,
    rss_peak: f64,
    rss_at_128: f64,
}

fn progress(stats: &Stats) {
    eprintln!(
        "funding-bench: {:<34} {:>9.1}/s p50 {:>7.2} ms p99 {:>7.2} ms errors {}{}",
        stats.name,
        stats.rps,
        stats.p50_ms,
        stats.p99_ms,
        stats.errors,
        stats
            .first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
}

pub async fn clients(
    address: &str,
    token: Option<&str>,
    callers: usize,
) -> anyhow::Result<Arc<Vec<FundingClient>>> {
    // Several HTTP/2 connections, as several calling services would open.
    let mut clients = Vec::new();
    for _ in 0..callers.clamp(1, 8) {
        clients.push(
            FundingClient::connect(address.to_owned(), token)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    Ok(Arc::new(clients))
}

pub fn pick(clients: &Arc<Vec<FundingClient>>, caller: usize) -> FundingClient {
    clients[caller % clients.len()].clone()
}

/// The emulator for one fundingd: links approve at once, transfers stay where they are until the
/// bench moves them (so no event traffic runs under the request scenarios).
pub async fn emulator() -> anyhow::Result<SandboxHandle> {
    Ok(funding_sandbox::spawn(SandboxConfig {
        relationship_approval_delay: Duration::ZERO,
        transfer_step_delay: Duration::from_secs(86_400),
        ..SandboxConfig::ephemeral()
    })
    .await?)
}

/// An APPROVED link per caller: (account id, link id).
pub async fn make_links(
    clients: &Arc<Vec<FundingClient>>,
    control: &SandboxControl,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut links = Vec::new();
    for i in 0..count {
        let link = control
            .create_public_token("ins_109508")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let checking = link
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .context("no checking account")?
            .account_id
            .clone();
        let account = uuid::Uuid::new_v4().to_string();
        let created = pick(clients, i)
            .bank_links()
            .create_bank_link(v1::CreateBankLinkRequest {
                account_id: account.clone(),
                public_token: link.public_token,
                plaid_account_id: checking,
                nickname: "Bench".into(),
                idempotency_key: format!("link-{i}"),
                replace_bank_link_id: String::new(),
            })
            .await
            .context("CreateBankLink")?
            .into_inner()
            .bank_link
            .context("no link")?;
        links.push((account, created.id));
    }
    for (i, (_, id)) in links.iter().enumerate() {
        let mut approved = false;
        for _ in 0..600 {
            let link = pick(clients, i)
                .bank_links()
                .get_bank_link(v1::GetBankLinkRequest { id: id.clone() })
                .await?
                .into_inner()
                .bank_link
                .context("no link")?;
            if link.status == v1::BankLinkStatus::Approved as i32 {
                approved = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !approved {
            bail!("link {id} was not APPROVED in 30 s");
        }
    }
    Ok(links)
}

/// A Plaid sandbox processor token (`/sandbox/processor_token/create` at the emulator).
pub async fn processor_token(emulator: &SandboxHandle) -> anyhow::Result<String> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/processor_token/create",
            emulator.plaid_url()
        ))
        .json(&serde_json::json!({
            "client_id": service::PLAID_CLIENT_ID,
            "secret": service::PLAID_SECRET,
            "institution_id": "ins_109508",
        }))
        .send()
        .await?
        .json()
        .await?;
    answer["processor_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no processor token: {answer}"))
}

pub fn deposit(link: &(String, String), key: String) -> v1::CreateTransferRequest {
    v1::CreateTransferRequest {
        account_id: link.0.clone(),
        bank_link_id: link.1.clone(),
        amount: "1.00".into(),
        direction: v1::TransferDirection::Deposit as i32,
        idempotency_key: key,
    }
}

pub fn debit(processor_token: &str, key: String) -> v1::CreateBankTransferRequest {
    v1::CreateBankTransferRequest {
        idempotency_key: key,
        processor_token: processor_token.to_owned(),
        r#type: v1::BankTransferType::Debit as i32,
        network: v1::BankTransferNetwork::Ach as i32,
        amount: "1.00".into(),
        iso_currency_code: "USD".into(),
        description: "Bench".into(),
        ach_class: v1::AchClass::Web as i32,
        user: Some(v1::BankTransferUser {
            legal_name: "Bench Caller".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn run_backend(
    plan: &Plan,
    backend: &Backend,
    binary: &std::path::Path,
    dir: &std::path::Path,
    echo_rps: f64,
    echo_p99_one: f64,
) -> anyhow::Result<Outcome> {
    let label = backend.label();
    let mut scenarios = Vec::new();
    let mut ratios = BTreeMap::new();
    let c = plan.callers;

    // The storage ceiling, 1 and 16 writers (and C when it is neither).
    let ceiling_db = Fresh::create(backend, dir, "ceiling").await?;
    let mut ceilings = BTreeMap::new();
    let mut writer_counts = vec![1, 16];
    if !writer_counts.contains(&c) {
        writer_counts.push(c);
    }
    for writers in writer_counts {
        let stats = db::storage_ceiling(
            &ceiling_db.url,
            &format!("storage ceiling {writers}w [{label}]"),
            writers,
            plan.warmup,
            plan.duration,
        )
        .await?;
        progress(&stats);
        ceilings.insert(writers, stats.rps);
        scenarios.push(stats);
    }
    ceiling_db.drop_now().await;
    let ceiling_c = ceilings.get(&c).copied().unwrap_or(f64::NAN);

    // fundingd on a fresh database.
    let emulator = emulator().await?;
    let control = emulator.control();
    let main_db = Fresh::create(backend, dir, "main").await?;
    let fundingd = Fundingd::start(
        binary,
        dir,
        &FundingdOptions {
            name: &format!("fundingd-{label}"),
            database_url: &main_db.url,
            extra: "",
        },
        &emulator,
    )
    .await?;
    let clients = clients(&fundingd.address, Some(TOKEN), LATENCY_CALLERS).await?;
    let links = Arc::new(make_links(&clients, &control, LATENCY_CALLERS.max(c)).await?);
    let mut tokens = Vec::new();
    for _ in 0..c.clamp(1, 16) {
        tokens.push(processor_token(&emulator).await?);
    }
    let tokens = Arc::new(tokens);

    // CreateTransfer, fresh keys, no provider latency; the writes it makes are counted.
    let before_rows = db::table_rows(&main_db.url).await?;
    let before_pg = match backend {
        Backend::Postgres(_) => Some(db::pg_counters(&main_db.url).await?),
        Backend::Sqlite => None,
    };
    let cpu_before = fundingd.cpu_seconds();
    let mut create = {
        let clients = clients.clone();
        let links = links.clone();
        load::closed_loop(
            &format!("CreateTransfer fresh [{label}]"),
            c,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = deposit(&links[caller], key());
                async move {
                    client
                        .transfers()
                        .create_transfer(request)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    set_cpu(&mut create, cpu_before, fundingd.cpu_seconds());
    progress(&create);
    let writes = writes_per_transfer(&main_db.url, &before_rows, before_pg).await?;
    let commits = commits_per_create(
        &main_db.url,
        &clients[0],
        &links[0],
        &control,
        if plan.quick { 10 } else { 60 },
    )
    .await?;
    println!(
        "funding-bench: write commits on a create's request path [{label}]: {commits} (median of one-caller creates, the database's own count)"
    );
    ratios.insert("create_commits".into(), commits);
    let create_rps = create.rps;
    let create_cpu_ms = create.fundingd_cpu_ms_per_request;
    ratios.insert("create_over_ceiling".into(), create.rps / ceiling_c);
    scenarios.push(create);

    // GetTransfer and ListTransfers on what was just created.
    let account = links[0].0.clone();
    let ids: Vec<String> = clients[0]
        .transfers()
        .list_transfers(v1::ListTransfersRequest {
            account_id: account.clone(),
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .transfers
        .into_iter()
        .map(|t| t.id)
        .collect();
    if ids.is_empty() {
        bail!("no transfer was created for GetTransfer");
    }
    let cpu_before = fundingd.cpu_seconds();
    let mut get = get_scenario(
        &format!("GetTransfer [{label}]"),
        &clients,
        Arc::new(ids),
        plan,
    )
    .await;
    set_cpu(&mut get, cpu_before, fundingd.cpu_seconds());
    ratios.insert("get_over_echo".into(), get.rps / echo_rps);
    if let (Some(create_cpu), Some(get_cpu)) = (create_cpu_ms, get.fundingd_cpu_ms_per_request) {
        ratios.insert("create_cpu_over_get_cpu".into(), create_cpu / get_cpu);
    }
    scenarios.push(get);
    let cpu_before = fundingd.cpu_seconds();
    let mut list =
        list_scenario(&format!("ListTransfers [{label}]"), &clients, account, plan).await;
    set_cpu(&mut list, cpu_before, fundingd.cpu_seconds());
    scenarios.push(list);

    // CreateTransfer replaying one key per caller.
    let mut replayed = Vec::new();
    for (caller, link) in links.iter().enumerate().take(c) {
        let request = deposit(link, format!("replay-{caller}"));
        pick(&clients, caller)
            .transfers()
            .create_transfer(request.clone())
            .await
            .context("the transfer to replay")?;
        replayed.push(request);
    }
    let replayed = Arc::new(replayed);
    let cpu_before = fundingd.cpu_seconds();
    let mut replay = {
        let clients = clients.clone();
        load::closed_loop(
            &format!("CreateTransfer replay [{label}]"),
            c,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = replayed[caller].clone();
                async move {
                    client
                        .transfers()
                        .create_transfer(request)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    set_cpu(&mut replay, cpu_before, fundingd.cpu_seconds());
    progress(&replay);
    ratios.insert("replay_over_echo".into(), replay.rps / echo_rps);
    scenarios.push(replay);

    // CreateBankTransfer, fresh keys.
    let cpu_before = fundingd.cpu_seconds();
    let mut bank = {
        let clients = clients.clone();
        let tokens = tokens.clone();
        load::closed_loop(
            &format!("CreateBankTransfer fresh [{label}]"),
            c,
            plan.warmup,
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = debit(&tokens[caller % tokens.len()], key());
                async move {
                    client
                        .bank_transfers()
                        .create_bank_transfer(request)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    set_cpu(&mut bank, cpu_before, fundingd.cpu_seconds());
    progress(&bank);
    ratios.insert("bank_create_over_ceiling".into(), bank.rps / ceiling_c);
    scenarios.push(bank);

    // CreateTransfer with 50 ms at Alpaca's POST, 128 callers.
    control.inject_fault(
        Fault::slow(Host::Alpaca, "/v1/accounts/", PROVIDER_LATENCY)
            .method(http::Method::POST)
            .times(u32::MAX),
    );
    let cpu_before = fundingd.cpu_seconds();
    let mut slow = {
        let clients = clients.clone();
        let links = links.clone();
        load::closed_loop(
            &format!("CreateTransfer 50ms x128 [{label}]"),
            LATENCY_CALLERS,
            plan.warmup.max(Duration::from_millis(500)),
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = deposit(&links[caller], key());
                async move {
                    client
                        .transfers()
                        .create_transfer(request)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    set_cpu(&mut slow, cpu_before, fundingd.cpu_seconds());
    progress(&slow);
    // One caller, the same 50 ms at Alpaca: what the service adds to the provider's time.
    let one = {
        let clients = clients.clone();
        let links = links.clone();
        load::closed_loop(
            &format!("CreateTransfer 50ms x1 [{label}]"),
            1,
            plan.warmup.max(Duration::from_millis(500)),
            plan.duration,
            move |caller, _| {
                let client = pick(&clients, caller);
                let request = deposit(&links[caller], key());
                async move {
                    client
                        .transfers()
                        .create_transfer(request)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
            },
        )
        .await
    };
    control.clear_faults();
    progress(&one);
    let provider_ms = PROVIDER_LATENCY.as_secs_f64() * 1_000.0;
    let (overhead_p50, overhead_p99) = (one.p50_ms - provider_ms, one.p99_ms - provider_ms);
    eprintln!(
        "funding-bench: the service's own time beside a 50 ms provider [{label}]: p50 {overhead_p50:.2} ms, p99 {overhead_p99:.2} ms (echo x1 p99 {echo_p99_one:.2} ms)"
    );
    ratios.insert("overhead_p50_ms".into(), overhead_p50);
    ratios.insert("overhead_p99_ms".into(), overhead_p99);
    if echo_p99_one > 0.0 {
        ratios.insert(
            "overhead_p99_over_echo_p99".into(),
            overhead_p99 / echo_p99_one,
        );
    }
    scenarios.push(one);
    let (_, hwm_128) = fundingd.memory_mib();
    eprintln!("funding-bench: fundingd peak RSS {hwm_128:.1} MiB after the 128-caller scenario");
    let bound = (LATENCY_CALLERS as f64 / PROVIDER_LATENCY.as_secs_f64()).min(create_rps);
    ratios.insert("latency_hiding".into(), slow.rps / bound);
    scenarios.push(slow);

    // Event ingestion, from Alpaca's stream and from Plaid's sync.
    let alpaca = ingest_alpaca(plan, &main_db.url, &clients, &links, &control, label).await?;
    progress(&alpaca);
    eprintln!(
        "funding-bench: fundingd peak RSS {:.1} MiB after Alpaca ingestion",
        fundingd.memory_mib().1
    );
    ratios.insert(
        "alpaca_events_per_s_over_goal".into(),
        alpaca.rps / EVENTS_GOAL,
    );
    scenarios.push(alpaca);
    let plaid = ingest_plaid(plan, &main_db.url, &clients, &tokens, &control, label).await?;
    progress(&plaid);
    ratios.insert(
        "plaid_events_per_s_over_goal".into(),
        plaid.rps / EVENTS_GOAL,
    );
    scenarios.push(plaid);

    let (_, hwm_main) = fundingd.memory_mib();
    eprintln!("funding-bench: fundingd peak RSS {hwm_main:.1} MiB after Plaid ingestion");
    let log_errors = fundingd
        .log_tail()
        .lines()
        .filter(|l| l.contains("\"ERROR\""))
        .count();
    if log_errors > 0 {
        eprintln!(
            "funding-bench: fundingd logged {log_errors} ERROR lines (tail of {})",
            fundingd.log.display()
        );
    }
    fundingd.stop().await;
    emulator.shutdown().await;
    main_db.drop_now().await;

    // Growth: p99 with few and with many stored transfers, on a database of its own.
    let (growth, hwm_growth) = growth(plan, backend, binary, dir, &mut ratios).await?;
    eprintln!("funding-bench: the growth scenario's fundingd peaked at {hwm_growth:.1} MiB");
    scenarios.extend(growth);

    // The same CreateTransfer with the risk checks on (DESIGN §11), on a database of its own.
    let (checked, hwm_checked) = checks_on(plan, backend, binary, dir).await?;
    ratios.insert("create_checks_on_over_off".into(), checked.rps / create_rps);
    if let (Some(on), Some(off)) = (checked.fundingd_cpu_ms_per_request, create_cpu_ms) {
        ratios.insert("create_cpu_checks_on_over_off".into(), on / off);
    }
    scenarios.push(checked);
    let hwm_growth = hwm_growth.max(hwm_checked);

    Ok(Outcome {
        scenarios,
        ratios,
        writes,
        rss_peak: hwm_main.max(hwm_growth),
        rss_at_128: hwm_128,
    })
}

/// fundingd's CPU per counted request (the warm-up's share is included: an upper bound).
fn set_cpu(stats: &mut Stats, before: f64, after: f64) {
    if stats.requests > 0 {
        stats.fundingd_cpu_ms_per_request = Some((after - before) * 1000.0 / stats.requests as f64);
    }
}

async fn get_scenario(
    name: &str,
    clients: &Arc<Vec<FundingClient>>,
    ids: Arc<Vec<String>>,
    plan: &Plan,
) -> Stats {
    let clients = clients.clone();
    let stats = load::closed_loop(
        name,
        plan.callers,
        plan.warmup,
        plan.duration,
        move |caller, n| {
            let client = pick(&clients, caller);
            let id = ids[(n as usize).wrapping_mul(7919) % ids.len()].clone();
            async move {
                client
                    .transfers()
                    .get_transfer(v1::GetTransferRequest { id })
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        },
    )
    .await;
    progress(&stats);
    stats
}

async fn list_scenario(
    name: &str,
    clients: &Arc<Vec<FundingClient>>,
    account: String,
    plan: &Plan,
) -> Stats {
    let clients = clients.clone();
    let stats = load::closed_loop(
        name,
        plan.callers,
        plan.warmup,
        plan.duration,
        move |caller, _| {
            let client = pick(&clients, caller);
            let request = v1::ListTransfersRequest {
                account_id: account.clone(),
                ..Default::default()
            };
            async move {
                let page = client
                    .transfers()
                    .list_transfers(request)
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                if page.transfers.is_empty() {
                    return Err("an empty page".into());
                }
                Ok(())
            }
        },
    )
    .await;
    progress(&stats);
    stats
}

/// The write transactions committed while one create is answered, by the database's own count
/// ([`db::WriteCommits`]): the median over `samples` creates made one at a time, once the
/// database is quiet, with the emulator holding the events those creates cause until after the
/// measurement (their ingestion is not on the request path).
async fn commits_per_create(
    url: &str,
    client: &FundingClient,
    link: &(String, String),
    control: &SandboxControl,
    samples: u32,
) -> anyhow::Result<f64> {
    let counter = db::WriteCommits::open(url).await?;
    // Quiet: nothing committed for half a second (the load's events ingested).
    let mut last = counter.now().await?;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = counter.now().await?;
        if now == last {
            break;
        }
        last = now;
    }
    let hold = Duration::from_secs(5);
    control.inject_event_fault(funding_sandbox::EventFault {
        times: samples,
        ..funding_sandbox::EventFault::delayed(hold)
    });
    let started = Instant::now();
    let mut deltas = Vec::new();
    for _ in 0..samples {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = counter.now().await?;
        client
            .transfers()
            .create_transfer(deposit(link, key()))
            .await
            .map_err(|s| anyhow::anyhow!("{s}"))?;
        let after = counter.now().await?;
        if after >= before {
            deltas.push(after - before);
        }
    }
    // The held events arrive before the next scenario starts.
    tokio::time::sleep(hold.saturating_sub(started.elapsed()) + Duration::from_secs(1)).await;
    deltas.sort_unstable();
    let Some(&median) = deltas.get(deltas.len() / 2) else {
        bail!("no create was counted");
    };
    Ok(median as f64)
}

/// Rows written per transfer by the CreateTransfer scenario: per table, and PostgreSQL's own
/// counters (commits, rows inserted + updated + deleted) when on PostgreSQL.
async fn writes_per_transfer(
    url: &str,
    before: &[(String, i64)],
    before_pg: Option<[i64; 4]>,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let after = db::table_rows(url).await?;
    let mut out = BTreeMap::new();
    let created = after
        .iter()
        .zip(before)
        .find(|((t, _), _)| t == "transfers")
        .map_or(0, |((_, a), (_, b))| a - b)
        .max(1) as f64;
    out.insert("transfers_created".into(), created);
    for ((table, a), (_, b)) in after.iter().zip(before) {
        if *a >= 0 {
            out.insert(format!("rows_inserted_{table}"), (a - b) as f64 / created);
        }
    }
    if let Some(before) = before_pg {
        // The statistics collector flushes at most once a second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = db::pg_counters(url).await?;
        out.insert("pg_commits".into(), (after[0] - before[0]) as f64 / created);
        out.insert(
            "pg_rows_inserted".into(),
            (after[1] - before[1]) as f64 / created,
        );
        out.insert(
            "pg_rows_updated".into(),
            (after[2] - before[2]) as f64 / created,
        );
        out.insert(
            "pg_rows_deleted".into(),
            (after[3] - before[3]) as f64 / created,
        );
        out.insert(
            "pg_rows_written".into(),
            ((after[1] - before[1]) + (after[2] - before[2]) + (after[3] - before[3])) as f64
                / created,
        );
    }
    Ok(out)
}

async fn uuids(url: &str, sql: &str) -> anyhow::Result<Vec<uuid::Uuid>> {
    let db = Database::connect(url).await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    let _ = db.close().await;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<uuid::Uuid>("", "id").ok())
        .collect())
}

async fn strings(url: &str, sql: &str) -> anyhow::Result<Vec<String>> {
    let db = Database::connect(url).await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    let _ = db.close().await;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "id").ok())
        .collect())
}

/// Waits until `sql` counts `target`, polling; the time it took, or the count reached.
async fn wait_for_count(url: &str, sql: &str, target: i64, timeout: Duration) -> Result<(), i64> {
    let Ok(db) = Database::connect(url).await else {
        return Err(0);
    };
    let deadline = Instant::now() + timeout;
    let mut last = 0;
    while Instant::now() < deadline {
        last = db::count(&db, sql).await.unwrap_or(last);
        if last >= target {
            let _ = db.close().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = db.close().await;
    Err(last)
}

const ALPACA_STEPS: &[&str] = &["PENDING", "SENT_TO_CLEARING", "COMPLETE", "RETURNED"];

/// `plan.events` Alpaca funding events (four status changes per transfer, QUEUED → PENDING →
/// SENT_TO_CLEARING → COMPLETE → RETURNED) on the SSE stream, until fundingd applied them all.
async fn ingest_alpaca(
    plan: &Plan,
    url: &str,
    clients: &Arc<Vec<FundingClient>>,
    links: &Arc<Vec<(String, String)>>,
    control: &SandboxControl,
    label: &str,
) -> anyhow::Result<Stats> {
    let name = format!("ingest Alpaca events [{label}]");
    let wanted = (plan.events / ALPACA_STEPS.len() as u64).max(1);
    let queued_sql = "SELECT provider_transfer_id AS id FROM transfers WHERE status = 'QUEUED' AND provider_transfer_id IS NOT NULL";
    let have = uuids(url, queued_sql).await?.len() as u64;
    if have < wanted {
        let clients = clients.clone();
        let links = links.clone();
        let (errors, first) = load::run_all(wanted - have, 32, move |n| {
            let n = n as usize;
            let client = pick(&clients, n);
            let request = deposit(&links[n % links.len()], key());
            async move {
                client
                    .transfers()
                    .create_transfer(request)
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        })
        .await;
        if errors > 0 {
            bail!("creating the transfers for ingestion: {errors} errors ({first:?})");
        }
    }
    let mut ids = uuids(url, queued_sql).await?;
    ids.truncate(wanted as usize);
    let events = ids.len() as u64 * ALPACA_STEPS.len() as u64;
    let target = ids.len() as i64;
    let started = Instant::now();
    for step in ALPACA_STEPS {
        let reason = (*step == "RETURNED").then(|| "R01 insufficient funds".to_owned());
        for id in &ids {
            control
                .set_transfer_status(*id, *step, reason.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let timeout = Duration::from_secs(if plan.quick { 120 } else { 900 });
    let done = wait_for_count(
        url,
        "SELECT COUNT(*) AS n FROM transfers WHERE status = 'RETURNED'",
        target,
        timeout,
    )
    .await;
    let elapsed = started.elapsed();
    let mut stats = Stats::rate(&name, events, elapsed, 0);
    if let Err(reached) = done {
        stats.errors = (target - reached).max(1) as u64;
        stats.first_error = Some(format!(
            "{reached} of {target} transfers RETURNED in {timeout:?}"
        ));
    }
    Ok(stats)
}

/// `plan.events` Plaid bank transfer events (posted, then reversed with R01) through
/// `/bank_transfer/event/sync` (woken by the signed webhook), until fundingd applied them all.
async fn ingest_plaid(
    plan: &Plan,
    url: &str,
    clients: &Arc<Vec<FundingClient>>,
    tokens: &Arc<Vec<String>>,
    control: &SandboxControl,
    label: &str,
) -> anyhow::Result<Stats> {
    let name = format!("ingest Plaid events [{label}]");
    let wanted = (plan.events / 2).max(1);
    let pending_sql = "SELECT plaid_bank_transfer_id AS id FROM bank_transfers WHERE status = 'pending' AND plaid_bank_transfer_id IS NOT NULL";
    let have = strings(url, pending_sql).await?.len() as u64;
    if have < wanted {
        let clients = clients.clone();
        let tokens = tokens.clone();
        let (errors, first) = load::run_all(wanted - have, 32, move |n| {
            let n = n as usize;
            let client = pick(&clients, n);
            let request = debit(&tokens[n % tokens.len()], key());
            async move {
                client
                    .bank_transfers()
                    .create_bank_transfer(request)
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        })
        .await;
        if errors > 0 {
            bail!("creating the bank transfers for ingestion: {errors} errors ({first:?})");
        }
    }
    let mut ids = strings(url, pending_sql).await?;
    ids.truncate(wanted as usize);
    let target = ids.len() as i64;
    let started = Instant::now();
    let mut moved = 0;
    for chunk in ids.chunks(1000) {
        moved += control.simulate_bank_transfers(chunk, "posted", None);
    }
    for chunk in ids.chunks(1000) {
        moved += control.simulate_bank_transfers(chunk, "reversed", Some("R01"));
    }
    let timeout = Duration::from_secs(if plan.quick { 120 } else { 900 });
    let done = wait_for_count(
        url,
        "SELECT COUNT(*) AS n FROM bank_transfers WHERE status = 'reversed'",
        target,
        timeout,
    )
    .await;
    let elapsed = started.elapsed();
    let mut stats = Stats::rate(&name, moved as u64, elapsed, 0);
    if moved as i64 != 2 * target {
        stats.errors += 1;
        stats.first_error = Some(format!(
            "the emulator moved {moved} of {} events",
            2 * target
        ));
    }
    if let Err(reached) = done {
        stats.errors += (target - reached).max(1) as u64;
        stats.first_error = Some(format!(
            "{reached} of {target} bank transfers reversed in {timeout:?}"
        ));
    }
    Ok(stats)
}

/// p99 of GetTransfer and ListTransfers with `stored_small`, then `stored_large` stored transfers
/// (seeded with SQL while fundingd is stopped).
async fn growth(
    plan: &Plan,
    backend: &Backend,
    binary: &std::path::Path,
    dir: &std::path::Path,
    ratios: &mut BTreeMap<String, f64>,
) -> anyhow::Result<(Vec<Stats>, f64)> {
    let label = backend.label();
    let emulator = emulator().await?;
    let database = Fresh::create(backend, dir, "growth").await?;
    let options = FundingdOptions {
        name: &format!("fundingd-growth-{label}"),
        database_url: &database.url,
        extra: "",
    };
    Fundingd::migrate(binary, dir, &options, &emulator)?;
    let mut scenarios = Vec::new();
    let mut link = None;
    let mut from = 0;
    let mut p99 = Vec::new();
    let mut hwm: f64 = 0.0;
    for stored in [plan.stored_small, plan.stored_large] {
        let seeding = Instant::now();
        let (seeded_link, seeded) = db::seed_transfers(&database.url, link, from, stored).await?;
        eprintln!(
            "funding-bench: seeded {} transfers ({} in all) in {:.1} s",
            stored - from,
            stored,
            seeding.elapsed().as_secs_f64()
        );
        link = Some(seeded_link);
        from = stored;
        let fundingd = Fundingd::start(binary, dir, &options, &emulator).await?;
        let clients = clients(&fundingd.address, Some(TOKEN), plan.callers).await?;
        let ids: Vec<String> = seeded.sample_ids.iter().map(|id| id.to_string()).collect();
        let get = get_scenario(
            &format!("GetTransfer @{stored} stored [{label}]"),
            &clients,
            Arc::new(ids),
            plan,
        )
        .await;
        let list = list_scenario(
            &format!("ListTransfers @{stored} stored [{label}]"),
            &clients,
            seeded.account_id.to_string(),
            plan,
        )
        .await;
        p99.push((get.p99_ms, list.p99_ms));
        scenarios.push(get);
        scenarios.push(list);
        hwm = hwm.max(fundingd.memory_mib().1);
        fundingd.stop().await;
    }
    if let [small, large] = p99[..] {
        ratios.insert("get_p99_growth".into(), large.0 / small.0);
        ratios.insert("list_p99_growth".into(), large.1 / small.1);
    }
    emulator.shutdown().await;
    database.drop_now().await;
    Ok((scenarios, hwm))
}

/// What the run ran on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!(
        "{cpu}, {cores} cores, {memory:.1} GiB RAM, {}",
        std::env::consts::OS
    )
}

/// The table.
pub fn print(report: &Report) {
    println!(
        "funding-bench: {} callers, {:.0} s per scenario{} on {}",
        report.callers,
        report.duration_s,
        if report.quick { " (--quick)" } else { "" },
        report.machine
    );
    println!();
    println!(
        "| {:<38} | {:>10} | {:>8} | {:>8} | {:>6} | {:>11} |",
        "scenario", "rps", "p50 ms", "p99 ms", "errors", "cpu ms/req"
    );
    println!(
        "|{:-<40}|{:->12}|{:->10}|{:->10}|{:->8}|{:->13}|",
        "", "", "", "", "", ""
    );
    for s in &report.scenarios {
        let cpu = s
            .fundingd_cpu_ms_per_request
            .map_or(String::new(), |ms| format!("{ms:.3}"));
        println!(
            "| {:<38} | {:>10.1} | {:>8.2} | {:>8.2} | {:>6} | {:>11} |",
            s.name, s.rps, s.p50_ms, s.p99_ms, s.errors, cpu
        );
    }
    println!();
    println!("ratios:");
    for (name, value) in &report.ratios {
        println!("  {name:<44} {value:>8.3}");
    }
    println!(
        "  {:<44} {:>8.1}",
        "rss_mib (fundingd peak VmHWM)", report.rss_mib
    );
    println!();
    println!("writes per CreateTransfer:");
    for (backend, figures) in &report.writes_per_transfer {
        for (name, value) in figures {
            println!("  {backend:<9} {name:<40} {value:>8.2}");
        }
    }
    println!();
    println!("goals:");
    for goal in &report.goals {
        println!(
            "  [{}] {:<52} {:>9.3} (target {})",
            if goal.met { "met " } else { "MISS" },
            goal.goal,
            goal.value,
            goal.target
        );
    }
    let errors: u64 = report.scenarios.iter().map(|s| s.errors).sum();
    println!();
    println!("errors in all scenarios: {errors}");
    for s in report.scenarios.iter().filter(|s| s.errors > 0) {
        println!(
            "  {}: {} errors, first: {}",
            s.name,
            s.errors,
            s.first_error.as_deref().unwrap_or("?")
        );
    }
}
