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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1;
use funding_domain::lifecycle::Lifecycle;
use funding_domain::{AchRelationshipStatus, AlpacaTransferStatus, PlaidBankTransferStatus};

use crate::world::{Db, rows};
use crate::{Ledger, Run};

/// How long the providers and we may take to agree once the chaos is over.
const QUIESCENCE_BOUND: Duration = Duration::from_secs(120);

/// The `reason` Alpaca gives a withdrawal its cash did not cover (gross `cash_withdrawable`).
const INSUFFICIENT_FUNDS: &str = "R01 insufficient funds";

/// How long before a withdrawal's creation fundingd may have read the account's cash: a deposit
/// returned since then may have made it uncovered.
const RETURN_SLACK_S: f64 = 10.0;

/// Alpaca's timestamp (`2021-04-08T23:01:53.35743328Z`) as seconds since 1970 (`NaN` if it is
/// not one, so that no comparison holds).
fn seconds(text: &str) -> f64 {
    let parse = || -> Option<f64> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, d) = (date.next()??, date.next()??, date.next()??);
        let mut time = time.split(':');
        let (h, min) = (
            time.next()?.parse::<f64>().ok()?,
            time.next()?.parse::<f64>().ok()?,
        );
        let sec = time.next()?.parse::<f64>().ok()?;
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days as f64 * 86_400.0 + h * 3_600.0 + min * 60.0 + sec)
    };
    parse().unwrap_or(f64::NAN)
}

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
async fn patiently<T, F, Fut>(call: F) -> Result<T, tonic::Status>
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
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

fn cents(amount: &str) -> Option<i64> {
    let value: rust_decimal::Decimal = amount.parse().ok()?;
    let scaled = (value * rust_decimal::Decimal::from(100)).round();
    scaled.to_string().parse().ok()
}

/// One Alpaca transfer as verification needs it.
#[derive(Debug, Clone)]
struct SeenTransfer {
    direction: String,
    status: String,
    reason: String,
    /// `created_at` and `updated_at` (the time of its last change), in seconds.
    created: f64,
    updated: f64,
    /// What was asked for (`requested_amount`): our amount.
    requested_cents: i64,
    /// What moves into the account for a deposit (`amount`, net of the fee).
    net_cents: i64,
}

impl SeenTransfer {
    /// What the emulator counts in cash: a deposit credits the net amount, a withdrawal debits
    /// the requested one.
    fn cash_cents(&self) -> i64 {
        if self.direction == "INCOMING" {
            self.net_cents
        } else {
            self.requested_cents
        }
    }
}

/// Alpaca's view of one account.
#[derive(Default)]
struct AtAlpaca {
    relationships: BTreeMap<String, String>,
    transfers: BTreeMap<String, SeenTransfer>,
}

/// Whether our transfer status agrees with Alpaca's: SETTLED (sent after COMPLETE, beyond the
/// spec) is COMPLETE to us.
fn same_transfer_status(ours: &str, theirs: &str) -> bool {
    ours == theirs || (ours == "COMPLETE" && theirs == "SETTLED")
}

async fn alpaca_account(run: &Run, account: &str) -> anyhow::Result<AtAlpaca> {
    let mut seen = AtAlpaca::default();
    let relationships = run
        .emulator
        .alpaca_get(&format!("/v1/accounts/{account}/ach_relationships"))
        .await?;
    for relationship in relationships.as_array().cloned().unwrap_or_default() {
        seen.relationships.insert(
            relationship["id"].as_str().unwrap_or_default().to_owned(),
            relationship["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for transfer in run.emulator.alpaca_transfers(account).await? {
        let text = |field: &str| transfer[field].as_str().unwrap_or_default().to_owned();
        let net_cents = cents(transfer["amount"].as_str().unwrap_or("0")).unwrap_or(0);
        seen.transfers.insert(
            text("id"),
            SeenTransfer {
                direction: text("direction"),
                status: text("status"),
                reason: text("reason"),
                created: seconds(&text("created_at")),
                updated: seconds(&text("updated_at")),
                requested_cents: transfer["requested_amount"]
                    .as_str()
                    .and_then(cents)
                    .unwrap_or(net_cents),
                net_cents,
            },
        );
    }
    Ok(seen)
}

/// A non-terminal resource that has not come to rest where its provider is must say why it waits
/// (DESIGN §4.9); a failure of ours must say why it failed.
fn silent(
    what: &str,
    id: &str,
    ours: &str,
    resolved: bool,
    failed: bool,
    reason: &str,
) -> Option<String> {
    if !reason.trim().is_empty() {
        return None;
    }
    if failed {
        return Some(format!(
            "STUCK: {what} {id} is {ours} with no status_reason"
        ));
    }
    (!resolved).then(|| {
        format!("STUCK: {what} {id} is {ours}, not resolved at its provider, with no status_reason")
    })
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
    let mut unheld = BTreeSet::new();
    let foreign: BTreeSet<String> = run
        .ledger()
        .foreign
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let mut rejected_after_return = 0;

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

    // Links.
    let link_rows = rows(
        &connection,
        "SELECT {id} AS id, {account_id} AS account_id, status, \
         {ach_relationship_id} AS relationship FROM bank_links",
        &["id", "account_id", "status", "relationship"],
    )
    .await?;
    let accepted_links: BTreeSet<&str> = links.iter().map(|(id, _)| id.as_str()).collect();
    for (id, account) in &links {
        let answer = patiently(|| {
            let mut service = client.bank_links();
            let request = v1::GetBankLinkRequest { id: id.clone() };
            async move { service.get_bank_link(request).await }
        })
        .await;
        let link = match answer {
            Ok(answer) => answer.into_inner().bank_link.unwrap_or_default(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                violations.push(format!("LOST: link {id} (accepted) is not found"));
                continue;
            }
            Err(status) => anyhow::bail!("GetBankLink {id}: {status:?}"),
        };
        let ours = short(link.status().as_str_name(), "BANK_LINK_STATUS_");
        let seen = &alpaca[account];
        let resolved = seen.relationships.get(&link.ach_relationship_id) == Some(&ours);
        let status = AchRelationshipStatus::from_stored(&ours);
        if !status.is_terminal() || ours == "FAILED" {
            violations.extend(silent(
                "link",
                id,
                &ours,
                resolved,
                ours == "FAILED",
                &link.status_reason,
            ));
        }
        match ours.as_str() {
            "CREATING" => {
                violations.push(format!("LOST: link {id} is still CREATING"));
            }
            "FAILED" if !link.ach_relationship_id.is_empty() => violations.push(format!(
                "link {id} is FAILED but holds relationship {}",
                link.ach_relationship_id
            )),
            "FAILED" => {}
            _ => match seen.relationships.get(&link.ach_relationship_id) {
                None => violations.push(format!(
                    "LOST: link {id} ({ours}) holds relationship {:?}, which Alpaca does not have",
                    link.ach_relationship_id
                )),
                Some(theirs) if *theirs != ours => violations.push(format!(
                    "STATUS: link {id} is {ours}, Alpaca's relationship {} is {theirs}",
                    link.ach_relationship_id
                )),
                Some(_) => {}
            },
        }
    }
    for (account, seen) in &alpaca {
        for relationship in seen.relationships.keys() {
            let holders = link_rows
                .iter()
                .filter(|r| r[3].as_deref() == Some(relationship.as_str()))
                .count();
            if holders != 1 {
                violations.push(format!(
                    "DUPLICATE: Alpaca relationship {relationship} of account {account} is held by {holders} links"
                ));
            }
            if holders == 0 {
                unheld.insert(relationship.clone());
            }
        }
    }
    for row in &link_rows {
        let id = row[0].as_deref().unwrap_or_default();
        if !accepted_links.contains(id) && row[2].as_deref() != Some("FAILED") {
            violations.push(format!(
                "DUPLICATE: link {id} ({:?}) was never answered to any caller",
                row[2]
            ));
        }
    }

    // Transfers.
    let transfer_rows = rows(
        &connection,
        "SELECT {id} AS id, {account_id} AS account_id, status, \
         {provider_transfer_id} AS provider, direction, amount FROM transfers",
        &[
            "id",
            "account_id",
            "status",
            "provider",
            "direction",
            "amount",
        ],
    )
    .await?;
    let accepted_transfers: BTreeSet<&str> = transfers.iter().map(|t| t.id.as_str()).collect();
    for record in &transfers {
        let answer = patiently(|| {
            let mut service = client.transfers();
            let request = v1::GetTransferRequest {
                id: record.id.clone(),
            };
            async move { service.get_transfer(request).await }
        })
        .await;
        let transfer = match answer {
            Ok(answer) => answer.into_inner().transfer.unwrap_or_default(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                violations.push(format!(
                    "LOST: transfer {} (accepted) is not found",
                    record.id
                ));
                continue;
            }
            Err(status) => anyhow::bail!("GetTransfer {}: {status:?}", record.id),
        };
        let ours = short(transfer.status().as_str_name(), "TRANSFER_STATUS_");
        let seen = alpaca.get(&record.account_id);
        let theirs = seen.and_then(|s| s.transfers.get(&transfer.provider_transfer_id));
        let resolved = theirs.is_some_and(|t| same_transfer_status(&ours, &t.status));
        if !AlpacaTransferStatus::from_stored(&ours).is_terminal() || ours == "FAILED" {
            violations.extend(silent(
                "transfer",
                &record.id,
                &ours,
                resolved,
                ours == "FAILED",
                &transfer.status_reason,
            ));
        }
        match ours.as_str() {
            "SUBMITTING" => {
                violations.push(format!("LOST: transfer {} is still SUBMITTING", record.id));
            }
            "FAILED" if !transfer.provider_transfer_id.is_empty() => violations.push(format!(
                "transfer {} is FAILED but holds Alpaca transfer {}",
                record.id, transfer.provider_transfer_id
            )),
            "FAILED" => {}
            _ => match theirs {
                None => violations.push(format!(
                    "LOST: transfer {} ({ours}) holds {:?}, which Alpaca does not have",
                    record.id, transfer.provider_transfer_id
                )),
                Some(theirs) => {
                    if !same_transfer_status(&ours, &theirs.status) {
                        violations.push(format!(
                            "STATUS: transfer {} is {ours}, Alpaca's {} is {}",
                            record.id, transfer.provider_transfer_id, theirs.status
                        ));
                    }
                    let expected = if record.deposit {
                        "INCOMING"
                    } else {
                        "OUTGOING"
                    };
                    // Our amount is what was asked for: Alpaca's requested_amount (its
                    // `amount` is net of the fee).
                    if theirs.direction != expected || theirs.requested_cents != record.amount_cents
                    {
                        violations.push(format!(
                            "transfer {} ({expected} {} cents) is held by Alpaca's {} ({} {} cents requested)",
                            record.id,
                            record.amount_cents,
                            transfer.provider_transfer_id,
                            theirs.direction,
                            theirs.requested_cents
                        ));
                    }
                }
            },
        }
    }
    for (account, seen) in &alpaca {
        for provider in seen.transfers.keys() {
            let holders = transfer_rows
                .iter()
                .filter(|r| r[3].as_deref() == Some(provider.as_str()))
                .count();
            // The run's own deposits made at Alpaca directly are nobody's: fundingd must report
            // them as orphans (checked after quiescence).
            let expected = if foreign.contains(provider.as_str()) {
                0
            } else {
                1
            };
            if holders != expected {
                violations.push(format!(
                    "DUPLICATE: Alpaca transfer {provider} of account {account} is held by {holders} of our transfers"
                ));
            }
            if holders == 0 {
                unheld.insert(provider.clone());
            }
        }
    }
    for row in &transfer_rows {
        let id = row[0].as_deref().unwrap_or_default();
        if !accepted_transfers.contains(id) && row[2].as_deref() != Some("FAILED") {
            violations.push(format!(
                "DUPLICATE: transfer {id} ({:?}) was never answered to any caller",
                row[2]
            ));
        }
    }

    // No overdraw: what Alpaca let out of each account never exceeds what it had (its cash at the
    // start plus what the deposits that completed credited, net of any fee, returned ones
    // included, since they were cash then; a withdrawal debits its requested amount, as the
    // emulator does); and neither does what we accepted. With a gross `cash_withdrawable` Alpaca
    // takes any withdrawal and REJECTs the one cash does not cover: fundingd must never send one,
    // unless an ACH return took back a deposit the account's cash counted.
    for account in &accounts {
        let Some(seen) = alpaca.get(&account.account_id) else {
            continue;
        };
        let mut available = account.initial_cash_cents;
        let mut withdrawn = 0;
        // When the account's deposits were returned.
        let mut returns = Vec::new();
        for t in seen.transfers.values() {
            if t.direction == "INCOMING"
                && matches!(t.status.as_str(), "COMPLETE" | "SETTLED" | "RETURNED")
            {
                available += t.cash_cents();
                if t.status == "RETURNED" {
                    returns.push(t.updated);
                }
            }
            if t.direction == "OUTGOING"
                && !matches!(t.status.as_str(), "CANCELED" | "REJECTED" | "EXPIRED")
            {
                withdrawn += t.cash_cents();
            }
        }
        let ours: i64 = transfer_rows
            .iter()
            .filter(|r| r[1].as_deref() == Some(account.account_id.as_str()))
            .filter(|r| r[4].as_deref() == Some("withdrawal"))
            .filter(|r| {
                !matches!(
                    r[2].as_deref(),
                    Some("FAILED" | "CANCELED" | "REJECTED" | "EXPIRED")
                )
            })
            .filter_map(|r| cents(r[5].as_deref().unwrap_or("0")))
            .sum();
        if withdrawn > available || ours > available {
            violations.push(format!(
                "OVERDRAW: account {}: {withdrawn} cents withdrawn at Alpaca, {ours} accepted by us, against {available} available",
                account.account_id
            ));
        }
        for (id, t) in &seen.transfers {
            if t.direction == "OUTGOING" && t.status == "REJECTED" && t.reason == INSUFFICIENT_FUNDS
            {
                // A return between the moment fundingd could have read the cash (shortly before
                // the create) and the rejection explains it; anything else is ours.
                if returns
                    .iter()
                    .any(|at| *at >= t.created - RETURN_SLACK_S && *at <= t.updated)
                {
                    rejected_after_return += 1;
                } else {
                    violations.push(format!(
                        "OVERDRAW: account {}: Alpaca REJECTED withdrawal {id} of {} cents ({:?}): \
                         fundingd sent a withdrawal the account's cash did not cover, and no ACH \
                         return took cash back in the meantime",
                        account.account_id, t.requested_cents, t.reason
                    ));
                }
            }
        }
    }

    // Bank transfers.
    let at_plaid: BTreeMap<String, String> = run
        .emulator
        .plaid_bank_transfers()
        .await?
        .into_iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let bank_rows = rows(
        &connection,
        "SELECT {id} AS id, status, plaid_bank_transfer_id FROM bank_transfers",
        &["id", "status", "plaid_bank_transfer_id"],
    )
    .await?;
    let accepted_bank: BTreeSet<&str> = bank_transfers.iter().map(|t| t.id.as_str()).collect();
    for record in &bank_transfers {
        let answer = patiently(|| {
            let mut service = client.bank_transfers();
            let request = v1::GetBankTransferRequest {
                id: record.id.clone(),
            };
            async move { service.get_bank_transfer(request).await }
        })
        .await;
        let transfer = match answer {
            Ok(answer) => answer.into_inner().bank_transfer.unwrap_or_default(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                violations.push(format!(
                    "LOST: bank transfer {} (accepted) is not found",
                    record.id
                ));
                continue;
            }
            Err(status) => anyhow::bail!("GetBankTransfer {}: {status:?}", record.id),
        };
        let ours = short(transfer.status().as_str_name(), "BANK_TRANSFER_STATUS_").to_lowercase();
        let resolved = at_plaid.get(&transfer.provider_bank_transfer_id) == Some(&ours);
        if !PlaidBankTransferStatus::from_stored(&ours).is_terminal() || ours == "refused" {
            violations.extend(silent(
                "bank transfer",
                &record.id,
                &ours,
                resolved,
                ours == "refused",
                &transfer.status_reason,
            ));
        }
        match ours.as_str() {
            "submitting" => violations.push(format!(
                "LOST: bank transfer {} is still submitting",
                record.id
            )),
            "refused" if !transfer.provider_bank_transfer_id.is_empty() => {
                violations.push(format!(
                    "bank transfer {} is refused but holds Plaid's {}",
                    record.id, transfer.provider_bank_transfer_id
                ));
            }
            "refused" => {}
            _ => match at_plaid.get(&transfer.provider_bank_transfer_id) {
                None => violations.push(format!(
                    "LOST: bank transfer {} ({ours}) holds {:?}, which Plaid does not have",
                    record.id, transfer.provider_bank_transfer_id
                )),
                Some(theirs) if *theirs != ours => violations.push(format!(
                    "STATUS: bank transfer {} is {ours}, Plaid's {} is {theirs}",
                    record.id, transfer.provider_bank_transfer_id
                )),
                Some(_) => {}
            },
        }
    }
    for provider in at_plaid.keys() {
        let holders = bank_rows
            .iter()
            .filter(|r| r[2].as_deref() == Some(provider.as_str()))
            .count();
        if holders != 1 {
            violations.push(format!(
                "DUPLICATE: Plaid bank transfer {provider} is held by {holders} of our bank transfers"
            ));
        }
    }
    for row in &bank_rows {
        let id = row[0].as_deref().unwrap_or_default();
        if !accepted_bank.contains(id) && row[1].as_deref() != Some("refused") {
            violations.push(format!(
                "DUPLICATE: bank transfer {id} ({:?}) was never answered to any caller",
                row[1]
            ));
        }
    }

    // Histories.
    let current: BTreeMap<String, String> = link_rows
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[2].clone().unwrap_or_default(),
            )
        })
        .collect();
    let history = rows(
        &connection,
        "SELECT {link_id} AS rid, from_status, to_status, event_id FROM \
         bank_link_status_history ORDER BY at, id",
        &["rid", "from_status", "to_status", "event_id"],
    )
    .await?;
    violations.extend(chains::<AchRelationshipStatus>(
        "link",
        &history,
        &current,
        AchRelationshipStatus::Creating,
        AchRelationshipStatus::from_stored,
    ));
    let current: BTreeMap<String, String> = transfer_rows
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[2].clone().unwrap_or_default(),
            )
        })
        .collect();
    let history = rows(
        &connection,
        "SELECT {transfer_id} AS rid, from_status, to_status, event_id FROM \
         transfer_status_history ORDER BY at, id",
        &["rid", "from_status", "to_status", "event_id"],
    )
    .await?;
    violations.extend(chains::<AlpacaTransferStatus>(
        "transfer",
        &history,
        &current,
        AlpacaTransferStatus::Submitting,
        AlpacaTransferStatus::from_stored,
    ));
    let current: BTreeMap<String, String> = bank_rows
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            )
        })
        .collect();
    let history = rows(
        &connection,
        "SELECT {bank_transfer_id} AS rid, status, event_id FROM \
         bank_transfer_status_history ORDER BY at, id",
        &["rid", "status", "event_id"],
    )
    .await?;
    violations.extend(sequences(&history, &current));
    let histories = history.len();
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

/// Histories of `(from, to)` rows: from `initial`, each row must start where the previous one
/// ended, move along the table, and the last must end at the current status; no event id twice.
fn chains<S: Lifecycle>(
    what: &str,
    history: &[Vec<Option<String>>],
    current: &BTreeMap<String, String>,
    initial: S,
    parse: fn(&str) -> S,
) -> Vec<String> {
    let mut by_resource: BTreeMap<&str, Vec<&Vec<Option<String>>>> = BTreeMap::new();
    for row in history {
        by_resource
            .entry(row[0].as_deref().unwrap_or_default())
            .or_default()
            .push(row);
    }
    let mut violations = Vec::new();
    for (id, current_status) in current {
        let rows = by_resource.remove(id.as_str()).unwrap_or_default();
        let mut events = BTreeSet::new();
        for row in &rows {
            if let Some(event) = row[3].as_deref()
                && !events.insert(event)
            {
                violations.push(format!(
                    "DUPLICATE: {what} {id} applied event {event} twice"
                ));
            }
        }
        // Follow the chain (rows can share a timestamp, so their stored order is only a hint).
        let mut remaining: Vec<(S, S)> = rows
            .iter()
            .map(|r| {
                (
                    parse(r[1].as_deref().unwrap_or_default()),
                    parse(r[2].as_deref().unwrap_or_default()),
                )
            })
            .collect();
        let mut state = initial.clone();
        let mut path = vec![state.to_string()];
        while !remaining.is_empty() {
            let Some(next) = remaining.iter().position(|(from, _)| *from == state) else {
                violations.push(format!(
                    "HISTORY: {what} {id}: no move from {state} among {remaining:?} (path so far {path:?})"
                ));
                break;
            };
            let (from, to) = remaining.remove(next);
            if from == to {
                if from != initial {
                    violations.push(format!(
                        "HISTORY: {what} {id}: a move from {from} to itself"
                    ));
                }
                continue;
            }
            if !from.allows(&to) {
                violations.push(format!(
                    "HISTORY: {what} {id}: {from} -> {to} is not in the table (path {path:?})"
                ));
            }
            path.push(to.to_string());
            state = to;
        }
        if state.to_string() != *current_status {
            violations.push(format!(
                "HISTORY: {what} {id}: the history ends at {state}, the status is {current_status} (path {path:?})"
            ));
        }
    }
    violations
}

/// Bank transfer histories (one status a row, in order): from `submitting`, each step along
/// Plaid's table, ending at the current status; no event id twice.
fn sequences(history: &[Vec<Option<String>>], current: &BTreeMap<String, String>) -> Vec<String> {
    let mut by_resource: BTreeMap<&str, Vec<&Vec<Option<String>>>> = BTreeMap::new();
    for row in history {
        by_resource
            .entry(row[0].as_deref().unwrap_or_default())
            .or_default()
            .push(row);
    }
    let mut violations = Vec::new();
    for (id, current_status) in current {
        let rows = by_resource.remove(id.as_str()).unwrap_or_default();
        let mut events = BTreeSet::new();
        let mut state = PlaidBankTransferStatus::Submitting;
        let mut path = Vec::new();
        for row in &rows {
            if let Some(event) = row[2].as_deref()
                && !events.insert(event)
            {
                violations.push(format!(
                    "DUPLICATE: bank transfer {id} applied event {event} twice"
                ));
            }
            let next = PlaidBankTransferStatus::from_stored(row[1].as_deref().unwrap_or_default());
            path.push(next.to_string());
            if next != state && !state.allows(&next) {
                violations.push(format!(
                    "HISTORY: bank transfer {id}: {state} -> {next} is not in the table (path {path:?})"
                ));
            }
            state = next;
        }
        if state.to_string() != *current_status {
            violations.push(format!(
                "HISTORY: bank transfer {id}: the history ends at {state}, the status is {current_status} (path {path:?})"
            ));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, from: &str, to: &str, event: Option<&str>) -> Vec<Option<String>> {
        vec![
            Some(id.into()),
            Some(from.into()),
            Some(to.into()),
            event.map(Into::into),
        ]
    }

    fn check(rows: &[Vec<Option<String>>], current: &str) -> Vec<String> {
        let current = BTreeMap::from([("t".to_owned(), current.to_owned())]);
        chains(
            "transfer",
            rows,
            &current,
            AlpacaTransferStatus::Submitting,
            AlpacaTransferStatus::from_stored,
        )
    }

    #[test]
    fn a_path_along_the_table_in_any_stored_order_passes() {
        let rows = [
            row("t", "SENT_TO_CLEARING", "COMPLETE", Some("e2")),
            row("t", "SUBMITTING", "QUEUED", None),
            row("t", "QUEUED", "SENT_TO_CLEARING", Some("e1")),
            row("t", "COMPLETE", "RETURNED", Some("e3")),
        ];
        assert_eq!(check(&rows, "RETURNED"), Vec::<String>::new());
    }

    #[test]
    fn a_move_off_the_table_a_gap_a_wrong_end_and_an_event_twice_are_each_caught() {
        let off = [
            row("t", "SUBMITTING", "COMPLETE", None),
            row("t", "COMPLETE", "QUEUED", None),
        ];
        assert!(check(&off, "QUEUED")[0].starts_with("HISTORY"));
        let gap = [row("t", "QUEUED", "COMPLETE", None)];
        assert!(check(&gap, "COMPLETE")[0].contains("no move from SUBMITTING"));
        let end = [row("t", "SUBMITTING", "QUEUED", None)];
        assert!(check(&end, "COMPLETE")[0].contains("ends at QUEUED"));
        let twice = [
            row("t", "SUBMITTING", "QUEUED", Some("e1")),
            row("t", "QUEUED", "COMPLETE", Some("e1")),
        ];
        assert!(check(&twice, "COMPLETE")[0].starts_with("DUPLICATE"));
    }

    #[test]
    fn alpaca_timestamps_read_as_seconds() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(seconds("2021-04-08T23:01:53Z"), 1_617_922_913.0);
        let fraction = seconds("2021-04-08T23:01:53.35743328Z") - 1_617_922_913.0;
        assert!((fraction - 0.357_433_28).abs() < 1e-6);
        assert!(seconds("2024-03-01T00:00:00Z") - seconds("2024-02-28T00:00:00Z") == 172_800.0);
        assert!(seconds("yesterday").is_nan());
    }

    #[test]
    fn bank_transfer_sequences_follow_plaids_table() {
        let current = BTreeMap::from([("b".to_owned(), "reversed".to_owned())]);
        let good = [
            vec![Some("b".into()), Some("submitting".into()), None],
            vec![Some("b".into()), Some("pending".into()), Some("1".into())],
            vec![Some("b".into()), Some("posted".into()), Some("2".into())],
            vec![Some("b".into()), Some("reversed".into()), Some("3".into())],
        ];
        assert!(sequences(&good, &current).is_empty());
        let bad = [
            vec![Some("b".into()), Some("submitting".into()), None],
            vec![Some("b".into()), Some("pending".into()), Some("1".into())],
            vec![Some("b".into()), Some("reversed".into()), Some("3".into())],
        ];
        assert!(sequences(&bad, &current)[0].contains("pending -> reversed"));
    }
}
