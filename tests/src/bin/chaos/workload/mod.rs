//! The callers: each operation starts at a moment drawn from the seed and retries its request under
//! its own idempotency key (on whichever replica it draws) until it gets a definite answer. Some
//! send the same request twice at once, or again later, and must get the same resource back.
//!
//! This module plans the operations and holds what every caller does; each kind of operation is
//! in its own module: `links`, `transfers` (deposits and withdrawals), `bank_transfers`.

mod bank_transfers;
mod links;
mod transfers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_tests::error_reason;
use funding_tests::process::Rng;
use tonic::{Code, Status};

use crate::Run;

/// How long one request may take before the caller gives up on it and asks again.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a caller ended with.
pub enum Outcome<T> {
    Accepted(T),
    Refused(Status),
    /// No definite answer before the run's retry deadline (the last error).
    GaveUp(String),
}

/// Sends `call` until a definite answer, on a replica drawn each time.
pub async fn with_retries<T, F, Fut>(run: &Run, rng: &mut Rng, call: F) -> Outcome<T>
where
    F: Fn(FundingClient) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut last = String::from("never sent");
    let mut pause = 100;
    while Instant::now() < run.retry_until {
        let address = &run.addresses[rng.index(run.addresses.len())];
        run.stats().attempts += 1;
        let answer = match FundingClient::connect(address.clone(), None).await {
            Ok(client) => call(client).await,
            Err(error) => Err(Status::unavailable(format!("cannot connect: {error}"))),
        };
        match answer {
            Ok(value) => return Outcome::Accepted(value),
            Err(status) => {
                *run.stats()
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                if !transient(&status) {
                    return Outcome::Refused(status);
                }
                last = format!("{:?}: {}", status.code(), status.message());
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.between(pause / 2, pause + 1))).await;
        pause = (pause * 2).min(1_000);
    }
    Outcome::GaveUp(last)
}

/// Answers a caller asks again: the server or its providers were busy, down or slow.
fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
    )
}

fn timed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// A deterministic UUID (v4 layout) from the generator.
fn uuid_from(rng: &mut Rng) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Link,
    Deposit,
    Withdrawal,
    BankTransfer,
}

/// Plans the operations from the seed and runs them, each at its moment.
pub async fn run(run: Arc<Run>, mut rng: Rng) -> anyhow::Result<()> {
    let ops = run.args.ops.max(4);
    let span = run.args.duration.max(1) * 1_000;
    let mut tasks = Vec::new();
    // The first links start early, so that transfers have accounts to use.
    let early_links = (ops / 10).clamp(2, 12);
    for index in 0..ops {
        let (kind, at) = if index < early_links {
            (Kind::Link, rng.between(0, span / 5))
        } else {
            let kind = match rng.between(0, 100) {
                0..15 => Kind::Link,
                15..45 => Kind::Deposit,
                45..70 => Kind::Withdrawal,
                _ => Kind::BankTransfer,
            };
            (kind, rng.between(span / 10, span))
        };
        let run = Arc::clone(&run);
        let mut rng = rng.fork();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(at)).await;
            match kind {
                Kind::Link => links::link(&run, &mut rng, index).await,
                Kind::Deposit => transfers::transfer(&run, &mut rng, index, true).await,
                Kind::Withdrawal => transfers::transfer(&run, &mut rng, index, false).await,
                Kind::BankTransfer => bank_transfers::bank_transfer(&run, &mut rng, index).await,
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Sends `create` until a definite answer; one time in seven or so (drawn from the seed) twice at
/// once, on replicas drawn apart, and then both answers must name the same resource (`id`).
async fn once_or_twice<T, F, Fut>(
    run: &Run,
    rng: &mut Rng,
    what: &str,
    create: F,
    id: impl Fn(&T) -> String,
) -> Outcome<T>
where
    F: Fn(FundingClient) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    if rng.chance(15) {
        run.stats().repeats += 1;
        let mut other = rng.fork();
        let (a, b) = tokio::join!(
            with_retries(run, rng, &create),
            with_retries(run, &mut other, &create)
        );
        same_answer(run, what, a, b, id)
    } else {
        with_retries(run, rng, create).await
    }
}

/// Two answers to one request (one key): both must name the same resource.
fn same_answer<T>(
    run: &Run,
    what: &str,
    a: Outcome<T>,
    b: Outcome<T>,
    id: impl Fn(&T) -> String,
) -> Outcome<T> {
    match (a, b) {
        (Outcome::Accepted(a), Outcome::Accepted(b)) => {
            if id(&a) != id(&b) {
                run.ledger().key_mismatches.push(format!(
                    "{what}: one key answered {} and {}",
                    id(&a),
                    id(&b)
                ));
            }
            Outcome::Accepted(a)
        }
        (Outcome::Accepted(a), _) | (_, Outcome::Accepted(a)) => Outcome::Accepted(a),
        (refused @ Outcome::Refused(_), _) | (_, refused @ Outcome::Refused(_)) => refused,
        (gave_up, _) => gave_up,
    }
}

/// A refusal as the ledger records it: its code, `ErrorInfo` reason and message.
fn refusal(status: &Status) -> String {
    format!(
        "{:?} {} {}",
        status.code(),
        error_reason(status),
        status.message()
    )
}
