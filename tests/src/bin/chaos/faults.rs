//! The chaos itself, all through the emulator's control API and signals: faults injected at
//! random moments (5xx, 429, timeouts beyond the adapters' own, accept-then-drop, slow answers,
//! duplicated and late stream events, stream disconnects, webhooks twice or late), SIGKILLs and
//! restarts of the replicas, and ACH returns of completed deposits. With the behaviours the seed
//! turned on (`behaviours.rs`): late effects on Alpaca's creates, dropped live events and Plaid's
//! `PLANNED_MAINTENANCE` answers, each injected at least once early in the run.

use std::sync::Arc;
use std::time::Duration;

use funding_tests::process::Rng;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Run;
use crate::behaviours::{LATE_EFFECT_MAX_DELAY_MS, LATE_EFFECT_MIN_DELAY_MS, planned_maintenance};

/// Alpaca's adapter gives up on a call after 15 s, Plaid's after 30 s.
const ALPACA_TIMEOUT_MS: u64 = 15_000;
const PLAID_TIMEOUT_MS: u64 = 30_000;

/// The Plaid calls fundingd makes that change something or read its news.
const PLAID_PATHS: &[&str] = &[
    "/item/public_token/exchange",
    "/processor/token/create",
    "/processor/bank_transfer/create",
    "/bank_transfer/event/sync",
    "/bank_transfer/get",
];

fn rule(host: &str, method: Option<&str>, path: &str, status: u16, times: u64) -> Value {
    let mut rule = json!({"host": host, "path_prefix": path, "status": status, "times": times});
    if let Some(method) = method {
        rule["method"] = json!(method);
    }
    rule
}

/// The faults of the behaviours a run may turn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extra {
    /// A late effect on an Alpaca transfer create (of an account we link, when there is one).
    LateTransfer,
    /// A late effect on any Alpaca create (`POST /v1/accounts/…`).
    LateCreate,
    /// Plaid's 503 `PLANNED_MAINTENANCE` on one of the Plaid calls fundingd makes.
    Maintenance,
    /// The same on the single-use public-token exchange.
    MaintenanceOnExchange,
    /// The live funding stream drops events.
    Drop,
}

impl Extra {
    fn enabled(run: &Run) -> Vec<Self> {
        let b = &run.behaviours;
        let mut kinds = Vec::new();
        if b.late_effect {
            kinds.extend([Self::LateTransfer, Self::LateCreate]);
        }
        if b.maintenance {
            kinds.extend([Self::Maintenance, Self::MaintenanceOnExchange]);
        }
        if b.drop_events {
            kinds.push(Self::Drop);
        }
        kinds
    }
}

/// A late-effect rule: answered at once with 504, 500 or nothing (status 0, the connection
/// closed), performed 300 ms to 4.5 s later (below the settle window).
pub fn late_effect(rng: &mut Rng, method: Option<&str>, path: &str) -> Value {
    let status = [504, 500, 0][rng.index(3)];
    let mut body = rule("alpaca", method, path, status, 1);
    body["mode"] = json!("late_effect");
    body["delay_ms"] = json!(rng.between(LATE_EFFECT_MIN_DELAY_MS, LATE_EFFECT_MAX_DELAY_MS + 1));
    body
}

/// Injects a late effect on `path` (a create of the caller's own) while the chaos lasts, when the
/// run has late effects on and the seed says so; whether it did.
pub async fn late_effect_before(
    run: &Run,
    rng: &mut Rng,
    percent: u64,
    path: &str,
    kind: &'static str,
) -> anyhow::Result<bool> {
    if !run.behaviours.late_effect || !rng.chance(percent) || run.chaos_over() {
        return Ok(false);
    }
    let body = late_effect(rng, Some("POST"), path);
    run.emulator
        .control(Method::POST, "/faults", Some(body))
        .await?;
    run.stats().fault(kind);
    Ok(true)
}

/// Injects one fault of a behaviour the run turned on; its kind, for the figures.
async fn extra(run: &Run, rng: &mut Rng, kind: Extra) -> anyhow::Result<&'static str> {
    let times = rng.between(1, 4);
    let (name, path, body): (&'static str, &str, Value) = match kind {
        Extra::LateTransfer => {
            let account = {
                let ledger = run.ledger();
                (!ledger.accounts.is_empty()).then(|| {
                    ledger.accounts[rng.index(ledger.accounts.len())]
                        .account_id
                        .clone()
                })
            };
            let path = match account {
                Some(account) => format!("/v1/accounts/{account}/transfers"),
                None => "/v1/accounts/".to_owned(),
            };
            (
                "late effect (Alpaca transfer create)",
                "/faults",
                late_effect(rng, Some("POST"), &path),
            )
        }
        Extra::LateCreate => (
            "late effect (any Alpaca create)",
            "/faults",
            late_effect(rng, Some("POST"), "/v1/accounts/"),
        ),
        Extra::Maintenance | Extra::MaintenanceOnExchange => {
            let path = if kind == Extra::MaintenanceOnExchange {
                "/item/public_token/exchange"
            } else {
                PLAID_PATHS[rng.index(PLAID_PATHS.len())]
            };
            let mut body = rule("plaid", None, path, 503, times);
            body["body"] = planned_maintenance();
            (
                if kind == Extra::MaintenanceOnExchange {
                    "plaid PLANNED_MAINTENANCE (exchange)"
                } else {
                    "plaid PLANNED_MAINTENANCE"
                },
                "/faults",
                body,
            )
        }
        Extra::Drop => (
            "live events dropped",
            "/events/faults",
            json!({"drop": times}),
        ),
    };
    run.emulator.control(Method::POST, path, Some(body)).await?;
    Ok(name)
}

/// Injects one fault drawn from the seed; its kind, for the figures.
async fn one(run: &Run, rng: &mut Rng) -> anyhow::Result<&'static str> {
    let extras = Extra::enabled(run);
    if !extras.is_empty() && rng.chance(30) {
        let kind = extras[rng.index(extras.len())];
        return extra(run, rng, kind).await;
    }
    let emulator = &run.emulator;
    let plaid_path = PLAID_PATHS[rng.index(PLAID_PATHS.len())];
    let times = rng.between(1, 4);
    let (kind, path, body): (&'static str, &str, Value) = match rng.between(0, 100) {
        0..12 => {
            let status = [500, 502, 503][rng.index(3)];
            let method = if rng.chance(75) { "POST" } else { "GET" };
            (
                "alpaca 5xx",
                "/faults",
                rule("alpaca", Some(method), "/v1/", status, times),
            )
        }
        12..20 => (
            "alpaca 429",
            "/faults",
            rule("alpaca", None, "/v1/", 429, times),
        ),
        20..30 => {
            let status = [500, 503][rng.index(2)];
            (
                "plaid 5xx",
                "/faults",
                rule("plaid", None, plaid_path, status, times),
            )
        }
        30..37 => (
            "plaid 429",
            "/faults",
            rule("plaid", None, plaid_path, 429, times),
        ),
        37..50 => {
            // The effect happens, the answer is an error: the caller cannot tell.
            let mut body = if rng.chance(60) {
                rule(
                    "alpaca",
                    Some("POST"),
                    "/v1/accounts/",
                    [500, 503][rng.index(2)],
                    times,
                )
            } else {
                let path =
                    ["/processor/bank_transfer/create", "/processor/token/create"][rng.index(2)];
                rule("plaid", None, path, 500, times)
            };
            body["mode"] = json!("after_effect");
            ("accept-then-drop", "/faults", body)
        }
        50..56 => {
            // Held past the adapter's own timeout: the effect happens, the caller times out.
            let plaid = run.plaid_timeouts && rng.chance(35);
            let mut body = if plaid {
                rule("plaid", None, "/processor/bank_transfer/create", 200, 1)
            } else {
                let method = if rng.chance(70) { "POST" } else { "GET" };
                rule("alpaca", Some(method), "/v1/accounts/", 200, 1)
            };
            body["mode"] = json!("delayed");
            body["delay_ms"] = json!(if plaid {
                PLAID_TIMEOUT_MS + 1_000
            } else {
                ALPACA_TIMEOUT_MS + 1_000
            });
            ("timeout", "/faults", body)
        }
        56..66 => {
            // Slow answers keep calls in flight, so that kills land between sending and storing.
            let mut body = if rng.chance(60) {
                rule("alpaca", Some("POST"), "/v1/accounts/", 200, times)
            } else {
                rule("plaid", None, plaid_path, 200, times)
            };
            body["mode"] = json!("delayed");
            body["delay_ms"] = json!(rng.between(200, 2_500));
            ("slow answer", "/faults", body)
        }
        66..75 => (
            "event duplicated",
            "/events/faults",
            json!({"duplicate": true, "times": times}),
        ),
        75..83 => (
            "event late (reordered)",
            "/events/faults",
            json!({"delay_ms": rng.between(300, 4_000), "times": times, "duplicate": rng.chance(20)}),
        ),
        83..90 => ("stream disconnect", "/streams/disconnect", Value::Null),
        90..95 => (
            "webhook twice",
            "/plaid/webhook_faults",
            json!({"duplicate": true, "times": times}),
        ),
        _ => (
            "webhook late",
            "/plaid/webhook_faults",
            json!({"delay_ms": rng.between(500, 5_000), "times": times}),
        ),
    };
    let body = (!body.is_null()).then_some(body);
    emulator.control(Method::POST, path, body).await?;
    Ok(kind)
}

/// Injects faults at random moments until the chaos is over: first one of each kind the run's
/// behaviours add (in an order drawn from the seed, so that each is exercised even in a short
/// run), then any.
pub async fn inject(run: Arc<Run>, mut rng: Rng) -> anyhow::Result<()> {
    let mut first = Extra::enabled(&run);
    for n in (1..first.len()).rev() {
        first.swap(n, rng.index(n + 1));
    }
    while !run.chaos_over() {
        tokio::time::sleep(Duration::from_millis(rng.between(150, 900))).await;
        if run.chaos_over() {
            break;
        }
        let kind = match first.pop() {
            Some(kind) => extra(&run, &mut rng, kind).await?,
            None => one(&run, &mut rng).await?,
        };
        run.stats().fault(kind);
    }
    Ok(())
}

/// Removes every fault rule (held-back answers and events still come, late).
pub async fn clear_all(run: &Run) -> anyhow::Result<()> {
    for path in ["/faults", "/events/faults", "/plaid/webhook_faults"] {
        run.emulator.control(Method::DELETE, path, None).await?;
    }
    Ok(())
}

/// SIGKILLs a replica drawn from the seed at random moments, restarting it after a random pause;
/// now and then both replicas at once.
pub async fn kill(run: Arc<Run>, mut rng: Rng) -> anyhow::Result<()> {
    loop {
        tokio::time::sleep(Duration::from_millis(rng.between(1_500, 5_000))).await;
        if run.chaos_over() {
            return Ok(());
        }
        let down = Duration::from_millis(rng.between(0, 1_200));
        let mut replicas = run.replicas.lock().await;
        let count = replicas.len();
        let all = count > 1 && rng.chance(10);
        let which = rng.index(count);
        for (n, replica) in replicas.iter_mut().enumerate() {
            if all || n == which {
                println!("chaos: [{:.1}s] SIGKILL {}", run.at(), replica.name);
                replica.kill();
                run.stats().restarts += 1;
            }
        }
        // Plaid's webhooks go to a replica that is up (as a load balancer would send them).
        if count > 1 && !all {
            let up = (which + 1) % count;
            run.emulator
                .control(
                    Method::POST,
                    "/plaid/webhook",
                    Some(json!({"url": run.webhook_urls[up]})),
                )
                .await?;
        }
        tokio::time::sleep(down).await;
        for replica in replicas.iter_mut() {
            if !replica.is_running() {
                replica
                    .try_start()
                    .await
                    .map_err(|error| anyhow::anyhow!("a restart failed: {error}"))?;
            }
        }
    }
}

/// Every replica up (after the chaos).
pub async fn all_up(run: &Run) -> anyhow::Result<()> {
    let mut replicas = run.replicas.lock().await;
    for replica in replicas.iter_mut() {
        if !replica.is_running() {
            replica
                .try_start()
                .await
                .map_err(|error| anyhow::anyhow!("a restart failed: {error}"))?;
        }
    }
    Ok(())
}

/// After the chaos (faults cleared, callers done): one or two deposits made at Alpaca directly over
/// the relationship of an account we link, as somebody with the Broker key might. Nothing of ours
/// holds them, so fundingd must report them as provider orphans. Their amounts differ from every
/// transfer of ours on the account, so that no lookup of ours could take one for its own.
pub async fn foreign_deposits(run: &Run, mut rng: Rng) -> anyhow::Result<()> {
    let accounts = run.ledger().accounts.clone();
    if accounts.is_empty() {
        return Ok(());
    }
    for _ in 0..rng.between(1, 3) {
        let account = &accounts[rng.index(accounts.len())];
        let relationships = run
            .emulator
            .alpaca_get(&format!(
                "/v1/accounts/{}/ach_relationships",
                account.account_id
            ))
            .await?;
        let Some(relationship) = relationships
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["status"] == "APPROVED")
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
        else {
            continue;
        };
        let taken: Vec<i64> = run
            .ledger()
            .transfers
            .iter()
            .filter(|t| t.account_id == account.account_id)
            .map(|t| t.amount_cents)
            .collect();
        let mut amount = run.behaviours.fee_cents() + rng.between(100, 30_000) as i64;
        while taken.contains(&amount) {
            amount += 1;
        }
        let created = run
            .emulator
            .alpaca_post(
                &format!("/v1/accounts/{}/transfers", account.account_id),
                json!({
                    "transfer_type": "ach",
                    "relationship_id": relationship,
                    "amount": crate::behaviours::cents(amount),
                    "direction": "INCOMING",
                }),
            )
            .await?;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        println!(
            "chaos: [{:.1}s] a deposit made at Alpaca directly: {id} of {} cents on account {}",
            run.at(),
            amount,
            account.account_id
        );
        run.ledger().foreign.push((id, account.account_id.clone()));
        run.stats().op("deposit made at Alpaca directly");
    }
    Ok(())
}

/// Now and then, an ACH return (RETURNED, R01) of a deposit Alpaca completed.
pub async fn return_deposits(run: Arc<Run>, mut rng: Rng) -> anyhow::Result<()> {
    loop {
        tokio::time::sleep(Duration::from_millis(rng.between(2_000, 6_000))).await;
        if run.chaos_over() {
            return Ok(());
        }
        let account = {
            let ledger = run.ledger();
            if ledger.accounts.is_empty() {
                continue;
            }
            ledger.accounts[rng.index(ledger.accounts.len())]
                .account_id
                .clone()
        };
        let Ok(listed) = run.emulator.alpaca_transfers(&account).await else {
            continue; // a fault on GET; another time
        };
        let complete: Vec<String> = listed
            .into_iter()
            .filter(|t| {
                t["direction"] == "INCOMING"
                    && (t["status"] == "COMPLETE" || t["status"] == "SETTLED")
            })
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        if complete.is_empty() {
            continue;
        }
        let id = &complete[rng.index(complete.len())];
        run.emulator
            .control(
                Method::POST,
                &format!("/transfers/{id}/status"),
                Some(json!({"status": "RETURNED", "reason": "R01 insufficient funds"})),
            )
            .await?;
        run.stats().op("return (R01)");
    }
}
