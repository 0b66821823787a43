//! Closed-loop load: C callers, each sending its next request as soon as the last one answered,
//! for a warm-up and then D seconds that count: the answers that arrive inside the window. Every
//! latency is kept (exact percentiles).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One scenario's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub name: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Requests that counted (answered inside the measured window).
    pub requests: u64,
    pub callers: usize,
    /// fundingd's CPU time (user + system) per counted request, where fundingd served it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fundingd_cpu_ms_per_request: Option<f64>,
    /// The first error seen, to say what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Stats {
    /// Figures of `latencies` (microseconds) over `elapsed`.
    pub fn from_samples(
        name: &str,
        callers: usize,
        mut latencies: Vec<u32>,
        errors: u64,
        elapsed: Duration,
        first_error: Option<String>,
    ) -> Self {
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        Self {
            name: name.to_owned(),
            rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            errors,
            requests,
            callers,
            fundingd_cpu_ms_per_request: None,
            first_error,
        }
    }

    /// A throughput-only figure (event ingestion: events per second, no latencies).
    pub fn rate(name: &str, count: u64, elapsed: Duration, errors: u64) -> Self {
        Self {
            name: name.to_owned(),
            rps: count as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: 0.0,
            p99_ms: 0.0,
            errors,
            requests: count,
            callers: 0,
            fundingd_cpu_ms_per_request: None,
            first_error: None,
        }
    }
}

/// The `q` quantile (nearest rank) of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// Runs `callers` loops of `call(caller, n)` for `warmup` (not counted) then `duration`.
pub async fn closed_loop<F, Fut>(
    name: &str,
    callers: usize,
    warmup: Duration,
    duration: Duration,
    call: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let counted_from = start + warmup;
    let end = counted_from + duration;
    let sequence = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(callers);
    for caller in 0..callers {
        let call = call.clone();
        let sequence = sequence.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let result = call(caller, n).await;
                let done = Instant::now();
                if done < counted_from || done > end {
                    // Answered in the warm-up or after the window: not counted (errors always are).
                    if let Err(error) = result {
                        errors += 1;
                        first_error.get_or_insert(error);
                    }
                    continue;
                }
                match result {
                    Ok(()) => latencies.push(micros(done - sent)),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(error);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok((mine, my_errors, my_first)) => {
                latencies.extend(mine);
                errors += my_errors;
                if first_error.is_none() {
                    first_error = my_first;
                }
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(format!("caller task failed: {error}"));
            }
        }
    }
    Stats::from_samples(name, callers, latencies, errors, duration, first_error)
}

pub fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// Runs `count` calls of `call(n)` with `concurrency` at once; the errors and the first one.
pub async fn run_all<F, Fut>(count: u64, concurrency: usize, call: F) -> (u64, Option<String>)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let call = call.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            let mut first = None;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                if let Err(error) = call(n).await {
                    errors += 1;
                    first.get_or_insert(error);
                }
            }
            (errors, first)
        }));
    }
    let mut errors = 0;
    let mut first = None;
    for task in tasks {
        if let Ok((e, f)) = task.await {
            errors += e;
            if first.is_none() {
                first = f;
            }
        }
    }
    (errors, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&samples, 0.50), 50.0);
        assert_eq!(percentile(&samples, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
        assert_eq!(percentile(&[1500], 0.99), 1.5);
    }

    #[tokio::test]
    async fn a_closed_loop_counts_answers_and_errors() {
        let stats = closed_loop(
            "t",
            2,
            Duration::ZERO,
            Duration::from_millis(100),
            |_, n| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if n % 10 == 0 {
                    Err(format!("failed {n}"))
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert!(stats.requests > 10, "{stats:?}");
        assert!(stats.errors > 0);
        assert!(stats.first_error.is_some());
    }
}
