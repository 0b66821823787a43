//! The callers: each operation starts at a moment drawn from the seed and retries its request under
//! its own idempotency key (on whichever replica it draws) until it gets a definite answer. Some
//! send the same request twice at once, or again later, and must get the same resource back.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1;
use funding_tests::error_reason;
use funding_tests::process::Rng;
use serde_json::json;
use tonic::{Code, Status};

use crate::behaviours::cents;
use crate::{Account, BankTransferRecord, Run, TransferRecord};

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
                Kind::Link => link(&run, &mut rng, index).await,
                Kind::Deposit => transfer(&run, &mut rng, index, true).await,
                Kind::Withdrawal => transfer(&run, &mut rng, index, false).await,
                Kind::BankTransfer => bank_transfer(&run, &mut rng, index).await,
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// A new account: its cash set at Alpaca, then a link made until it is APPROVED (a link whose
/// public token was spent on an unknown outcome starts again with a new token and key).
async fn link(run: &Run, rng: &mut Rng, index: usize) -> anyhow::Result<()> {
    run.stats().op("link");
    let account_id = uuid_from(rng);
    let cash = rng.between(100, 800) as i64 * 100;
    run.emulator
        .control(
            reqwest::Method::POST,
            &format!("/accounts/{account_id}"),
            Some(json!({"cash": cents(cash)})),
        )
        .await?;
    for round in 0..5 {
        let token = run
            .emulator
            .control(
                reqwest::Method::POST,
                "/plaid/public_token",
                Some(json!({"institution_id": "ins_109508"})),
            )
            .await?;
        let public_token = token["public_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let plaid_account_id = token["accounts"]
            .as_array()
            .and_then(|accounts| accounts.iter().find(|a| a["subtype"] == "checking"))
            .and_then(|a| a["account_id"].as_str())
            .unwrap_or_default()
            .to_owned();
        // Its relationship create may be answered 504 (or nothing) and made seconds later.
        crate::faults::late_effect_before(
            run,
            rng,
            30,
            &format!("/v1/accounts/{account_id}/ach_relationships"),
            "late effect (Alpaca relationship create)",
        )
        .await?;
        let request = v1::CreateBankLinkRequest {
            account_id: account_id.clone(),
            public_token,
            plaid_account_id,
            nickname: "Checking".into(),
            idempotency_key: format!("chaos-{}-link-{index}-{round}", run.seed),
            replace_bank_link_id: String::new(),
        };
        let create = |client: FundingClient| {
            let request = request.clone();
            async move {
                client
                    .bank_links()
                    .create_bank_link(timed(request))
                    .await
                    .map(|r| r.into_inner().bank_link.unwrap_or_default())
            }
        };
        let repeat = rng.chance(15);
        let outcome = if repeat {
            run.stats().repeats += 1;
            let mut other = rng.fork();
            let (a, b) = tokio::join!(
                with_retries(run, rng, create),
                with_retries(run, &mut other, create)
            );
            same_answer(run, "link", a, b, |l: &v1::BankLink| l.id.clone())
        } else {
            with_retries(run, rng, create).await
        };
        match outcome {
            Outcome::Accepted(link) => {
                run.ledger()
                    .links
                    .push((link.id.clone(), account_id.clone()));
                let approved = wait_for_link(run, rng, &link.id).await;
                match approved {
                    Some(v1::BankLinkStatus::Approved) => {
                        run.ledger().accounts.push(Account {
                            account_id,
                            link_id: link.id,
                            initial_cash_cents: cash,
                        });
                        return Ok(());
                    }
                    // FAILED (e.g. too many attempts, or its token spent): a new token and key.
                    Some(_) => continue,
                    None => {
                        run.ledger()
                            .unanswered
                            .push(format!("link {} never settled", link.id));
                        return Ok(());
                    }
                }
            }
            Outcome::Refused(status) if error_reason(&status) == "PUBLIC_TOKEN_NEEDED" => continue,
            Outcome::Refused(status) => {
                run.ledger().unexpected.push(format!(
                    "link for {account_id} refused: {:?} {} {}",
                    status.code(),
                    error_reason(&status),
                    status.message()
                ));
                return Ok(());
            }
            Outcome::GaveUp(last) => {
                run.ledger()
                    .unanswered
                    .push(format!("link for {account_id}: {last}"));
                return Ok(());
            }
        }
    }
    // Five links in a row ended FAILED or asked for a new token (unknown outcomes under faults):
    // a definite answer each time, so not a violation, but counted.
    run.stats().op("link given up after 5 tries");
    Ok(())
}

/// Polls the link until it is APPROVED or ended (bounded by the retry deadline).
async fn wait_for_link(run: &Run, rng: &mut Rng, id: &str) -> Option<v1::BankLinkStatus> {
    while Instant::now() < run.retry_until {
        let get = |client: FundingClient| {
            let id = id.to_owned();
            async move {
                client
                    .bank_links()
                    .get_bank_link(timed(v1::GetBankLinkRequest { id }))
                    .await
                    .map(|r| r.into_inner().bank_link.unwrap_or_default())
            }
        };
        if let Outcome::Accepted(link) = with_retries(run, rng, get).await {
            match link.status() {
                v1::BankLinkStatus::Approved => return Some(v1::BankLinkStatus::Approved),
                v1::BankLinkStatus::Failed | v1::BankLinkStatus::Rejected => {
                    return Some(link.status());
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
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

/// A deposit or a withdrawal on an account with an APPROVED link.
async fn transfer(run: &Run, rng: &mut Rng, index: usize, deposit: bool) -> anyhow::Result<()> {
    let account = {
        let ledger = run.ledger();
        if ledger.accounts.is_empty() {
            None
        } else {
            Some(ledger.accounts[rng.index(ledger.accounts.len())].clone())
        }
    };
    let Some(account) = account else {
        run.stats().op("skipped (no account yet)");
        return Ok(());
    };
    let fee = run.behaviours.fee_cents();
    if !deposit && rng.chance(20) {
        // A burst: two or three withdrawals at once (each its own key), each 40 to 70 % of the
        // account's starting cash, so that together they would overdraw it.
        run.stats().op("withdrawal burst");
        let share = rng.between(40, 71) as i64;
        let amount = (account.initial_cash_cents * share / 100).max(100 + fee);
        let count = rng.between(2, 4) as usize;
        let mut rngs: Vec<Rng> = (0..count).map(|_| rng.fork()).collect();
        let burst = rngs.iter_mut().enumerate().map(|(n, rng)| {
            let key = format!("chaos-{}-transfer-{index}-burst-{n}", run.seed);
            one_transfer(run, rng, &account, false, amount, key, false)
        });
        for result in futures::future::join_all(burst).await {
            result?;
        }
        return Ok(());
    }
    let too_large = !deposit && rng.chance(20);
    // Above Alpaca's fee, when it takes one (a transfer not above it is refused).
    let amount = fee
        + if deposit {
            rng.between(100, 30_000) as i64
        } else if too_large {
            rng.between(100_000, 10_000_000) as i64
        } else {
            rng.between(100, 15_000) as i64
        };
    run.stats().op(match (deposit, too_large) {
        (true, _) => "deposit",
        (false, false) => "withdrawal",
        (false, true) => "withdrawal (too large)",
    });
    let key = format!("chaos-{}-transfer-{index}", run.seed);
    one_transfer(run, rng, &account, deposit, amount, key, too_large).await
}

/// One transfer request, retried under its key until a definite answer, maybe sent twice at once
/// or again later.
async fn one_transfer(
    run: &Run,
    rng: &mut Rng,
    account: &Account,
    deposit: bool,
    amount: i64,
    key: String,
    too_large: bool,
) -> anyhow::Result<()> {
    // Its create may be answered 504 (or nothing) and made seconds later.
    crate::faults::late_effect_before(
        run,
        rng,
        15,
        &format!("/v1/accounts/{}/transfers", account.account_id),
        "late effect (Alpaca transfer create)",
    )
    .await?;
    let request = v1::CreateTransferRequest {
        account_id: account.account_id.clone(),
        bank_link_id: account.link_id.clone(),
        amount: cents(amount),
        direction: if deposit {
            v1::TransferDirection::Deposit
        } else {
            v1::TransferDirection::Withdrawal
        }
        .into(),
        idempotency_key: key,
    };
    let create = |client: FundingClient| {
        let request = request.clone();
        async move {
            client
                .transfers()
                .create_transfer(timed(request))
                .await
                .map(|r| r.into_inner().transfer.unwrap_or_default())
        }
    };
    let outcome = if rng.chance(15) {
        run.stats().repeats += 1;
        let mut other = rng.fork();
        let (a, b) = tokio::join!(
            with_retries(run, rng, create),
            with_retries(run, &mut other, create)
        );
        same_answer(run, "transfer", a, b, |t: &v1::Transfer| t.id.clone())
    } else {
        with_retries(run, rng, create).await
    };
    match outcome {
        Outcome::Accepted(transfer) => {
            {
                let mut ledger = run.ledger();
                if too_large {
                    ledger.too_large_accepted += 1;
                }
                ledger.transfers.push(TransferRecord {
                    id: transfer.id.clone(),
                    account_id: account.account_id.clone(),
                    deposit,
                    amount_cents: amount,
                });
            }
            if rng.chance(10) {
                tokio::time::sleep(Duration::from_millis(rng.between(200, 3_000))).await;
                run.stats().repeats += 1;
                if let Outcome::Accepted(again) = with_retries(run, rng, create).await
                    && again.id != transfer.id
                {
                    run.ledger().key_mismatches.push(format!(
                        "transfer key {}: answered {} then {}",
                        request.idempotency_key, transfer.id, again.id
                    ));
                }
            }
        }
        Outcome::Refused(status)
            if !deposit && error_reason(&status) == "INSUFFICIENT_WITHDRAWABLE_CASH" =>
        {
            run.ledger().refused_insufficient += 1;
        }
        Outcome::Refused(status) => {
            run.ledger().unexpected.push(format!(
                "transfer {} refused: {:?} {} {}",
                request.idempotency_key,
                status.code(),
                error_reason(&status),
                status.message()
            ));
        }
        Outcome::GaveUp(last) => {
            run.ledger()
                .unanswered
                .push(format!("transfer {}: {last}", request.idempotency_key));
        }
    }
    Ok(())
}

/// A Plaid bank transfer over a fresh processor token; then, drawn from the seed, an outcome
/// simulated at Plaid: posted (and maybe reversed), failed, or left pending.
async fn bank_transfer(run: &Run, rng: &mut Rng, index: usize) -> anyhow::Result<()> {
    run.stats().op("bank transfer");
    let mut token = None;
    for _ in 0..20 {
        if let Ok((200, body)) = run
            .emulator
            .plaid(
                "/sandbox/processor_token/create",
                json!({"institution_id": "ins_109508"}),
            )
            .await
        {
            token = body["processor_token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(processor_token) = token else {
        anyhow::bail!("the emulator made no processor token");
    };
    let debit = rng.chance(70);
    let request = v1::CreateBankTransferRequest {
        idempotency_key: format!("chaos-{}-bank-transfer-{index}", run.seed),
        processor_token: processor_token.clone(),
        r#type: if debit {
            v1::BankTransferType::Debit
        } else {
            v1::BankTransferType::Credit
        }
        .into(),
        network: v1::BankTransferNetwork::Ach.into(),
        amount: cents(rng.between(100, 20_000) as i64),
        iso_currency_code: "USD".into(),
        description: "Chaos".into(),
        ach_class: if debit {
            v1::AchClass::Web
        } else {
            v1::AchClass::Ppd
        }
        .into(),
        user: Some(v1::BankTransferUser {
            legal_name: "Jane Doe".into(),
            email_address: "jane@example.com".into(),
            routing_number: String::new(),
        }),
        custom_tag: format!("chaos-{index}"),
        metadata: [("run".to_owned(), run.seed.to_string())].into(),
        origination_account_id: String::new(),
    };
    let create = |client: FundingClient| {
        let request = request.clone();
        async move {
            client
                .bank_transfers()
                .create_bank_transfer(timed(request))
                .await
                .map(|r| r.into_inner().bank_transfer.unwrap_or_default())
        }
    };
    let outcome = if rng.chance(15) {
        run.stats().repeats += 1;
        let mut other = rng.fork();
        let (a, b) = tokio::join!(
            with_retries(run, rng, create),
            with_retries(run, &mut other, create)
        );
        same_answer(run, "bank transfer", a, b, |t: &v1::BankTransfer| {
            t.id.clone()
        })
    } else {
        with_retries(run, rng, create).await
    };
    let transfer = match outcome {
        Outcome::Accepted(transfer) => transfer,
        Outcome::Refused(status) => {
            run.ledger().unexpected.push(format!(
                "bank transfer {} refused: {:?} {} {}",
                request.idempotency_key,
                status.code(),
                error_reason(&status),
                status.message()
            ));
            return Ok(());
        }
        Outcome::GaveUp(last) => {
            run.ledger()
                .unanswered
                .push(format!("bank transfer {}: {last}", request.idempotency_key));
            return Ok(());
        }
    };
    run.ledger().bank_transfers.push(BankTransferRecord {
        id: transfer.id.clone(),
        processor_token,
    });
    let plan = rng.between(0, 100);
    if plan >= 85 {
        return Ok(()); // stays pending
    }
    tokio::time::sleep(Duration::from_millis(rng.between(200, 4_000))).await;
    let Some(provider_id) = provider_bank_transfer_id(run, rng, &transfer.id).await else {
        return Ok(()); // Plaid never had it (refused): nothing to simulate.
    };
    let first = if plan < 65 { "posted" } else { "failed" };
    simulate(run, &provider_id, first).await;
    if first == "posted" && rng.chance(30) {
        tokio::time::sleep(Duration::from_millis(rng.between(200, 3_000))).await;
        simulate(run, &provider_id, "reversed").await;
    }
    Ok(())
}

/// Our bank transfer's Plaid id, once it has one (bounded).
async fn provider_bank_transfer_id(run: &Run, rng: &mut Rng, id: &str) -> Option<String> {
    while Instant::now() < run.retry_until {
        let get = |client: FundingClient| {
            let id = id.to_owned();
            async move {
                client
                    .bank_transfers()
                    .get_bank_transfer(timed(v1::GetBankTransferRequest { id }))
                    .await
                    .map(|r| r.into_inner().bank_transfer.unwrap_or_default())
            }
        };
        if let Outcome::Accepted(transfer) = with_retries(run, rng, get).await {
            if !transfer.provider_bank_transfer_id.is_empty() {
                return Some(transfer.provider_bank_transfer_id);
            }
            if transfer.status() == v1::BankTransferStatus::Refused {
                return None;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    None
}

/// Plaid's `/sandbox/bank_transfer/simulate` (the emulator's own API; faults never match it).
async fn simulate(run: &Run, provider_id: &str, event_type: &str) {
    for _ in 0..10 {
        match run
            .emulator
            .plaid(
                "/sandbox/bank_transfer/simulate",
                json!({"bank_transfer_id": provider_id, "event_type": event_type}),
            )
            .await
        {
            Ok((200, _)) => {
                run.stats().op(match event_type {
                    "posted" => "simulated posted",
                    "failed" => "simulated failed",
                    _ => "simulated reversed",
                });
                return;
            }
            Ok((400, _)) => return, // not in a state that allows it (a cancel, say)
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
