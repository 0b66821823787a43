//! Deposits and withdrawals on an account with an APPROVED link: within and beyond its cash, in
//! bursts that together would overdraw it, each retried under its key, maybe sent twice at once or
//! again later.

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1;
use funding_tests::error_reason;
use funding_tests::process::Rng;

use super::{Outcome, once_or_twice, refusal, timed, with_retries};
use crate::behaviours::cents;
use crate::{Account, Run, TransferRecord};

/// A deposit or a withdrawal on an account with an APPROVED link.
pub(super) async fn transfer(
    run: &Run,
    rng: &mut Rng,
    index: usize,
    deposit: bool,
) -> anyhow::Result<()> {
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
    let outcome = once_or_twice(run, rng, "transfer", create, |t: &v1::Transfer| {
        t.id.clone()
    })
    .await;
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
                "transfer {} refused: {}",
                request.idempotency_key,
                refusal(&status)
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
