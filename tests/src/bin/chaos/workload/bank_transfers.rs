//! Plaid bank transfers over a fresh processor token, then an outcome simulated at Plaid (posted,
//! maybe reversed; failed; or left pending).

use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1;
use funding_tests::process::Rng;
use serde_json::json;

use super::{Outcome, once_or_twice, refusal, timed, with_retries};
use crate::behaviours::cents;
use crate::{BankTransferRecord, Run};

/// A Plaid bank transfer over a fresh processor token; then, drawn from the seed, an outcome
/// simulated at Plaid: posted (and maybe reversed), failed, or left pending.
pub(super) async fn bank_transfer(run: &Run, rng: &mut Rng, index: usize) -> anyhow::Result<()> {
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
    let outcome = once_or_twice(run, rng, "bank transfer", create, |t: &v1::BankTransfer| {
        t.id.clone()
    })
    .await;
    let transfer = match outcome {
        Outcome::Accepted(transfer) => transfer,
        Outcome::Refused(status) => {
            run.ledger().unexpected.push(format!(
                "bank transfer {} refused: {}",
                request.idempotency_key,
                refusal(&status)
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
