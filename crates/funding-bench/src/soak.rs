//! The soak (issue 11): a fixed rate of mixed requests against fundingd (on PostgreSQL when given)
//! for a while; zero errors, and memory that does not grow. fundingd's RSS is sampled every
//! second; it "keeps growing" when the median of the last third of the samples exceeds the
//! median of the middle third by more than 5 % or 2 MiB, whichever is larger (the first third is
//! warm-up: pools, caches and the allocator's arenas filling).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use funding_client::v1;
use funding_sandbox::SandboxConfig;
use tokio::sync::Mutex;

use crate::bench::{clients, debit, deposit, make_links, pick, processor_token};
use crate::db::{Backend, Fresh};
use crate::load::{self, Stats};
use crate::service::{self, Fundingd, FundingdOptions, TOKEN};

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Requests per second, sent on a fixed schedule whatever the answers' pace.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// The PostgreSQL server (a fresh database is created and dropped); SQLite without it.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// The fundingd binary (default: beside this one, built if needed).
    #[arg(long)]
    fundingd: Option<std::path::PathBuf>,
}

/// Accounts (and links) the mix spreads over.
const ACCOUNTS: usize = 16;
/// More requests in flight than this is overload: counted as errors, not queued.
const MAX_IN_FLIGHT: u64 = 2_000;

/// The growth criterion over RSS samples (MiB): (middle-third median, last-third median, grew).
pub fn grows(samples: &[f64]) -> (f64, f64, bool) {
    let third = samples.len() / 3;
    if third == 0 {
        return (0.0, 0.0, false);
    }
    let median = |part: &[f64]| {
        let mut sorted = part.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let middle = median(&samples[third..2 * third]);
    let last = median(&samples[2 * third..]);
    let allowed = (middle * 0.05).max(2.0);
    (middle, last, last - middle > allowed)
}

pub async fn run(args: SoakArgs) -> anyhow::Result<bool> {
    let binary = service::fundingd_binary(args.fundingd.as_deref())?;
    let dir = std::env::temp_dir().join(format!("funding-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let backend = match &args.postgres {
        Some(url) => Backend::Postgres(url.clone()),
        None => {
            eprintln!("funding-bench soak: no --postgres given: on SQLite");
            Backend::Sqlite
        }
    };
    // Transfers move on their own here (a step a second), so events flow under the requests.
    let emulator = funding_sandbox::spawn(SandboxConfig {
        relationship_approval_delay: Duration::ZERO,
        transfer_step_delay: Duration::from_secs(1),
        ..SandboxConfig::ephemeral()
    })
    .await?;
    let control = emulator.control();
    let database = Fresh::create(&backend, &dir, "soak").await?;
    let fundingd = Fundingd::start(
        &binary,
        &dir,
        &FundingdOptions {
            name: "fundingd-soak",
            database_url: &database.url,
            extra: "",
        },
        &emulator,
    )
    .await?;
    let clients = clients(&fundingd.address, Some(TOKEN), 8).await?;
    let links = Arc::new(make_links(&clients, &control, ACCOUNTS).await?);
    let token = Arc::new(processor_token(&emulator).await?);
    let known = Arc::new(Mutex::new(Vec::<String>::new()));
    for (i, link) in links.iter().enumerate() {
        let created = pick(&clients, i)
            .transfers()
            .create_transfer(deposit(link, format!("soak-seed-{i}")))
            .await
            .context("a first transfer")?
            .into_inner()
            .transfer
            .context("no transfer")?;
        known.lock().await.push(created.id);
    }

    let (rss_start, _) = fundingd.memory_mib();
    eprintln!(
        "funding-bench soak: {} requests/s for {} s on {} (fundingd RSS {rss_start:.1} MiB at start)",
        args.rate,
        args.duration,
        backend.label()
    );
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let in_flight = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(1) as f64));
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut next_sample = started;
    let mut n: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        if Instant::now() >= next_sample {
            samples.push(fundingd.memory_mib().0);
            next_sample += Duration::from_secs(1);
        }
        n += 1;
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            errors.fetch_add(1, Ordering::Relaxed);
            first_error
                .lock()
                .await
                .get_or_insert_with(|| "overload: too many requests in flight".into());
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let client = pick(&clients, n as usize);
        let links = links.clone();
        let token = token.clone();
        let known = known.clone();
        let errors = errors.clone();
        let first_error = first_error.clone();
        let in_flight = in_flight.clone();
        let latencies = latencies.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let link = &links[(n as usize) % links.len()];
            let result: Result<(), String> = match n % 10 {
                // 30 % deposits, under fresh keys.
                0..=2 => match client
                    .transfers()
                    .create_transfer(deposit(link, uuid::Uuid::new_v4().simple().to_string()))
                    .await
                {
                    Ok(answer) => {
                        if let Some(transfer) = answer.into_inner().transfer {
                            let mut known = known.lock().await;
                            if known.len() < 10_000 {
                                known.push(transfer.id);
                            }
                        }
                        Ok(())
                    }
                    Err(status) => Err(status.to_string()),
                },
                // 30 % reads of a transfer.
                3..=5 => {
                    let id = {
                        let known = known.lock().await;
                        known[(n as usize * 7919) % known.len()].clone()
                    };
                    client
                        .transfers()
                        .get_transfer(v1::GetTransferRequest { id })
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                }
                // 20 % lists of an account.
                6 | 7 => client
                    .transfers()
                    .list_transfers(v1::ListTransfersRequest {
                        account_id: link.0.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string()),
                // 10 % Plaid bank transfers.
                8 => client
                    .bank_transfers()
                    .create_bank_transfer(debit(&token, uuid::Uuid::new_v4().simple().to_string()))
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string()),
                // 10 % link reads.
                _ => client
                    .bank_links()
                    .get_bank_link(v1::GetBankLinkRequest { id: link.1.clone() })
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string()),
            };
            match result {
                Ok(()) => latencies.lock().await.push(load::micros(sent.elapsed())),
                Err(error) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().await.get_or_insert(error);
                }
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let (rss_end, hwm) = fundingd.memory_mib();
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let errors = errors.load(Ordering::Relaxed);
    let first_error = first_error.lock().await.clone();
    let stats = Stats::from_samples(
        &format!("soak mixed @{}/s [{}]", args.rate, backend.label()),
        0,
        latencies,
        errors,
        elapsed,
        first_error.clone(),
    );
    let (middle, last, grew) = grows(&samples);
    println!(
        "| {:<34} | {:>9} | {:>8} | {:>8} | {:>6} |",
        "scenario", "rps", "p50 ms", "p99 ms", "errors"
    );
    println!(
        "| {:<34} | {:>9.1} | {:>8.2} | {:>8.2} | {:>6} |",
        stats.name, stats.rps, stats.p50_ms, stats.p99_ms, stats.errors
    );
    println!(
        "sent {n} requests in {:.1} s; fundingd RSS start {rss_start:.1} MiB, end {rss_end:.1} MiB, peak {hwm:.1} MiB",
        elapsed.as_secs_f64()
    );
    println!(
        "RSS median middle third {middle:.1} MiB, last third {last:.1} MiB: {}",
        if grew { "GROWING" } else { "flat" }
    );
    if let Some(error) = &first_error {
        println!("first error: {error}");
    }
    fundingd.stop().await;
    emulator.shutdown().await;
    database.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(errors == 0 && !grew)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_memory_passes_and_steady_growth_fails() {
        let flat: Vec<f64> = (0..60).map(|i| 40.0 + f64::from(i % 3)).collect();
        assert!(!grows(&flat).2);
        let growing: Vec<f64> = (0..60).map(|i| 40.0 + f64::from(i)).collect();
        assert!(grows(&growing).2);
        // A warm-up rise in the first third does not count.
        let warmup: Vec<f64> = (0..60)
            .map(|i| if i < 20 { 20.0 + f64::from(i) } else { 40.0 })
            .collect();
        assert!(!grows(&warmup).2);
    }
}
