//! The end of the run: with the faults cleared and every replica up, wait (with a bound) until the
//! providers and we agree and nothing moves, then check, through the providers' own APIs at the
//! emulator (Alpaca's relationships and transfers of each account, Plaid's `/bank_transfer/list`):
//!
//! - every accepted request has exactly one provider resource, and every provider resource is
//!   held by exactly one of ours (else DUPLICATE);
//! - every accepted resource is still ours and past its own intent states (else LOST);
//! - our status (over gRPC) equals the provider's;
//! - no account's withdrawals exceed its cash plus its completed deposits (OVERDRAW);
//! - every status history is a path in its lifecycle table (`funding_domain`), from the first
//!   state to the current one, with no event id applied twice.
//!
//! Each violation is one line, starting with its class.
//!
//! The checks of one pass are in `resources` (ours against the providers'), `alpaca` (Alpaca's
//! side, and no overdraw) and `histories`; this module waits for quiescence, runs the passes and
//! lists the provider orphans.

mod alpaca;
mod histories;
mod resources;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1;
use sea_orm::DatabaseConnection;

use crate::world::Db;
use crate::{Ledger, Run};
use alpaca::{AtAlpaca, alpaca_account};

/// How long the providers and we may take to agree once the chaos is over.
const QUIESCENCE_BOUND: Duration = Duration::from_secs(120);

/// Waits for quiescence (bounded) and returns the violations found then; then lists fundingd's
/// provider orphans.
pub async fn check(run: &Run, db: &Db) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    let pass = loop {
        let pass = examine(run, db).await?;
        if pass.violations.is_empty() && pass.settled {
            println!(
                "chaos: [{:.1}s] quiescent after {:.1} s: providers and fundingd agree",
                run.at(),
                start.elapsed().as_secs_f64()
            );
            println!("chaos: checked {}", pass.checked);
            break pass;
        }
        if start.elapsed() > QUIESCENCE_BOUND {
            println!(
                "chaos: [{:.1}s] no quiescence within {} s (settled at the providers: {})",
                run.at(),
                QUIESCENCE_BOUND.as_secs(),
                pass.settled
            );
            println!("chaos: checked {}", pass.checked);
            break pass;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut violations = pass.violations;
    violations.extend(orphans(run, &pass.unheld).await?);
    Ok(violations)
}

/// How long fundingd's orphan sweep may take to report the deposits made at Alpaca directly.
const ORPHAN_BOUND: Duration = Duration::from_secs(60);

/// fundingd's `ListProviderOrphans` (every account), asked until it reports every deposit the run
/// made at Alpaca directly (bounded; each one missing is a violation): the count, each orphan, and
/// for each Alpaca resource verification found held by nothing of ours (any other than those
/// deposits is already a DUPLICATE violation) whether fundingd reports it.
async fn orphans(run: &Run, unheld: &BTreeSet<String>) -> anyhow::Result<Vec<String>> {
    let foreign = run.ledger().foreign.clone();
    let start = Instant::now();
    let all = loop {
        let all = list_orphans(run).await?;
        let reported: BTreeSet<&str> = all.iter().map(|o| o.provider_id.as_str()).collect();
        if foreign.iter().all(|(id, _)| reported.contains(id.as_str()))
            || start.elapsed() > ORPHAN_BOUND
        {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let reported: BTreeSet<&str> = all.iter().map(|o| o.provider_id.as_str()).collect();
    let mut violations = Vec::new();
    for (id, account) in &foreign {
        if !reported.contains(id.as_str()) {
            violations.push(format!(
                "UNREPORTED ORPHAN: Alpaca transfer {id} of account {account}, made at Alpaca directly \
                 over our relationship, is not listed by ListProviderOrphans after {} s",
                ORPHAN_BOUND.as_secs()
            ));
        }
    }
    println!(
        "chaos: orphans: {} ({} deposits made at Alpaca directly, {} of them reported)",
        all.len(),
        foreign.len(),
        foreign
            .iter()
            .filter(|(id, _)| reported.contains(id.as_str()))
            .count()
    );
    for orphan in &all {
        println!(
            "chaos:   orphan {} {} of account {} ({} {} over {}, Alpaca status {}){}",
            short(orphan.kind().as_str_name(), "PROVIDER_ORPHAN_KIND_").to_lowercase(),
            orphan.provider_id,
            orphan.account_id,
            short(orphan.direction().as_str_name(), "TRANSFER_DIRECTION_"),
            orphan.amount,
            orphan.relationship_id,
            orphan.provider_status,
            if unheld.contains(&orphan.provider_id) {
                ""
            } else {
                " (verification found it held)"
            }
        );
    }
    for id in unheld {
        if foreign.iter().any(|(f, _)| f == id) {
            continue;
        }
        println!(
            "chaos:   unheld at Alpaca: {id} ({})",
            if reported.contains(id.as_str()) {
                "reported as an orphan"
            } else {
                "NOT reported as an orphan"
            }
        );
    }
    Ok(violations)
}

/// Every page of `ListProviderOrphans` for every account.
async fn list_orphans(run: &Run) -> anyhow::Result<Vec<v1::ProviderOrphan>> {
    let client = FundingClient::connect(run.addresses[0].clone(), None).await?;
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let answer = patiently(|| {
            let mut service = client.transfers();
            let request = v1::ListProviderOrphansRequest {
                account_id: String::new(),
                page_size: 500,
                page_token: page_token.clone(),
            };
            async move { service.list_provider_orphans(request).await }
        })
        .await
        .map_err(|status| anyhow::anyhow!("ListProviderOrphans: {status:?}"))?
        .into_inner();
        all.extend(answer.orphans);
        if answer.next_page_token.is_empty() {
            break;
        }
        page_token = answer.next_page_token;
    }
    Ok(all)
}

/// A read, asked again while the answer is transient (a busy database, the per-caller rate
/// limit's RESOURCE_EXHAUSTED with its RetryInfo), a bounded number of times.
pub(super) async fn patiently<T, F, Fut>(call: F) -> Result<T, tonic::Status>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..100 {
        match call().await {
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                ) =>
            {
                last = Some(status);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answer => return answer,
        }
    }
    Err(last.unwrap_or_else(|| tonic::Status::unavailable("no answer")))
}

/// The trailing name of a proto enum value (`TRANSFER_STATUS_COMPLETE` → `COMPLETE`).
pub(super) fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

/// What one pass of every check found.
struct Pass {
    violations: Vec<String>,
    /// Whether the providers have settled (every Alpaca transfer and relationship in a resting
    /// state).
    settled: bool,
    /// What was looked at, for the figures.
    checked: String,
    /// Alpaca resources (transfers, relationships) that nothing of ours holds.
    unheld: BTreeSet<String>,
}

/// A table's rows as [`rows`](crate::world::rows) reads them.
type Rows = Vec<Vec<Option<String>>>;

/// What one pass's checks share: fundingd's client, the database, Alpaca's view of every account,
/// and what they found.
struct Examination {
    client: FundingClient,
    connection: DatabaseConnection,
    alpaca: BTreeMap<String, AtAlpaca>,
    violations: Vec<String>,
    /// Alpaca resources (transfers, relationships) that nothing of ours holds.
    unheld: BTreeSet<String>,
}

/// One pass of every check.
async fn examine(run: &Run, db: &Db) -> anyhow::Result<Pass> {
    let (links, transfers, bank_transfers, accounts) = {
        let ledger: std::sync::MutexGuard<'_, Ledger> = run.ledger();
        (
            ledger.links.clone(),
            ledger.transfers.clone(),
            ledger.bank_transfers.clone(),
            ledger.accounts.clone(),
        )
    };
    let mut violations = Vec::new();
    {
        let ledger = run.ledger();
        for line in &ledger.unanswered {
            violations.push(format!("UNANSWERED: {line}"));
        }
        for line in &ledger.unexpected {
            violations.push(format!("UNEXPECTED REFUSAL: {line}"));
        }
        for line in &ledger.key_mismatches {
            violations.push(format!("DUPLICATE (one key, two resources): {line}"));
        }
    }
    let client = FundingClient::connect(run.addresses[0].clone(), None).await?;
    let connection = db.connect().await?;
    let mut settled = true;
    let foreign: BTreeSet<String> = run
        .ledger()
        .foreign
        .iter()
        .map(|(id, _)| id.clone())
        .collect();

    // Alpaca's side of every account a link was made for.
    let account_ids: BTreeSet<String> = links.iter().map(|(_, a)| a.clone()).collect();
    let mut alpaca = BTreeMap::new();
    for account in &account_ids {
        alpaca.insert(account.clone(), alpaca_account(run, account).await?);
    }
    for seen in alpaca.values() {
        settled &= seen
            .relationships
            .values()
            .all(|s| matches!(s.as_str(), "APPROVED" | "REJECTED" | "CANCELED"));
        settled &= seen.transfers.values().all(|t| {
            matches!(
                t.status.as_str(),
                "COMPLETE" | "SETTLED" | "RETURNED" | "CANCELED" | "REJECTED" | "EXPIRED"
            )
        });
    }

    let mut ex = Examination {
        client,
        connection,
        alpaca,
        violations,
        unheld: BTreeSet::new(),
    };
    let link_rows = resources::links(&mut ex, &links).await?;
    let transfer_rows = resources::transfers(&mut ex, &transfers, &foreign).await?;
    let rejected_after_return = alpaca::overdraw(&mut ex, &accounts, &transfer_rows);
    let (at_plaid, bank_rows) = resources::bank_transfers(run, &mut ex, &bank_transfers).await?;
    let histories = histories::check(&mut ex, &link_rows, &transfer_rows, &bank_rows).await?;
    let Examination {
        connection,
        alpaca,
        violations,
        unheld,
        ..
    } = ex;
    let _ = connection.close().await;
    let checked = format!(
        "{} accounts at Alpaca ({} relationships, {} transfers, {rejected_after_return} withdrawals \
         rejected for cash after an ACH return), {} bank transfers at Plaid, \
         {} links, {} transfers and {} bank transfers of ours ({} bank transfer history rows)",
        alpaca.len(),
        alpaca
            .values()
            .map(|a| a.relationships.len())
            .sum::<usize>(),
        alpaca.values().map(|a| a.transfers.len()).sum::<usize>(),
        at_plaid.len(),
        link_rows.len(),
        transfer_rows.len(),
        bank_rows.len(),
        histories,
    );
    Ok(Pass {
        violations,
        settled,
        checked,
        unheld,
    })
}
