//! A new account and its bank link: the account's cash set at Alpaca, then a link made (under
//! its own key, maybe twice at once) until it is APPROVED.

use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1;
use funding_tests::error_reason;
use funding_tests::process::Rng;
use serde_json::json;

use super::{Outcome, once_or_twice, refusal, timed, uuid_from, with_retries};
use crate::behaviours::cents;
use crate::{Account, Run};

/// A new account: its cash set at Alpaca, then a link made until it is APPROVED (a link whose
/// public token was spent on an unknown outcome starts again with a new token and key).
pub(super) async fn link(run: &Run, rng: &mut Rng, index: usize) -> anyhow::Result<()> {
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
        let outcome =
            once_or_twice(run, rng, "link", create, |l: &v1::BankLink| l.id.clone()).await;
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
                    "link for {account_id} refused: {}",
                    refusal(&status)
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
