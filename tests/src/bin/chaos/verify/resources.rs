//! Our resources against the providers': every link, transfer and bank transfer accepted is still
//! ours (LOST), has exactly one provider resource and every provider resource is held by one of
//! ours (DUPLICATE), our status over gRPC is the provider's (STATUS), and a resource that waits or
//! failed says why (STUCK).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use funding_client::v1;
use funding_domain::lifecycle::Lifecycle;
use funding_domain::{AchRelationshipStatus, AlpacaTransferStatus, PlaidBankTransferStatus};

use super::alpaca::same_transfer_status;
use super::{Examination, Rows, patiently, short};
use crate::world::rows;
use crate::{BankTransferRecord, Run, TransferRecord};

/// Links: each accepted one against Alpaca's relationship it holds; each relationship held by one
/// link; every link of ours answered to a caller. Our rows.
pub(super) async fn links(
    ex: &mut Examination,
    links: &[(String, String)],
) -> anyhow::Result<Rows> {
    let link_rows = rows(
        &ex.connection,
        "SELECT {id} AS id, {account_id} AS account_id, status, \
         {ach_relationship_id} AS relationship FROM bank_links",
        &["id", "account_id", "status", "relationship"],
    )
    .await?;
    let accepted_links: BTreeSet<&str> = links.iter().map(|(id, _)| id.as_str()).collect();
    for (id, account) in links {
        let answer = accepted(&mut ex.violations, "link", id, "GetBankLink", || {
            let mut service = ex.client.bank_links();
            let request = v1::GetBankLinkRequest { id: id.clone() };
            async move { service.get_bank_link(request).await }
        });
        let Some(answer) = answer.await? else {
            continue;
        };
        let link = answer.bank_link.unwrap_or_default();
        let ours = short(link.status().as_str_name(), "BANK_LINK_STATUS_");
        let seen = &ex.alpaca[account];
        let resolved = seen.relationships.get(&link.ach_relationship_id) == Some(&ours);
        let status = AchRelationshipStatus::from_stored(&ours);
        if !status.is_terminal() || ours == "FAILED" {
            ex.violations.extend(silent(
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
                ex.violations
                    .push(format!("LOST: link {id} is still CREATING"));
            }
            "FAILED" if !link.ach_relationship_id.is_empty() => ex.violations.push(format!(
                "link {id} is FAILED but holds relationship {}",
                link.ach_relationship_id
            )),
            "FAILED" => {}
            _ => match seen.relationships.get(&link.ach_relationship_id) {
                None => ex.violations.push(format!(
                    "LOST: link {id} ({ours}) holds relationship {:?}, which Alpaca does not have",
                    link.ach_relationship_id
                )),
                Some(theirs) if *theirs != ours => ex.violations.push(format!(
                    "STATUS: link {id} is {ours}, Alpaca's relationship {} is {theirs}",
                    link.ach_relationship_id
                )),
                Some(_) => {}
            },
        }
    }
    for (account, seen) in &ex.alpaca {
        for relationship in seen.relationships.keys() {
            let holders = holders(&link_rows, 3, relationship);
            if holders != 1 {
                ex.violations.push(format!(
                    "DUPLICATE: Alpaca relationship {relationship} of account {account} is held by {holders} links"
                ));
            }
            if holders == 0 {
                ex.unheld.insert(relationship.clone());
            }
        }
    }
    ex.violations.extend(never_answered(
        "link",
        &link_rows,
        &accepted_links,
        2,
        "FAILED",
    ));
    Ok(link_rows)
}

/// Transfers: each accepted one against the Alpaca transfer it holds (status, direction, amount);
/// each Alpaca transfer held by one of ours, but the run's own deposits made at Alpaca directly
/// (`foreign`), held by none; every transfer of ours answered to a caller. Our rows.
pub(super) async fn transfers(
    ex: &mut Examination,
    transfers: &[TransferRecord],
    foreign: &BTreeSet<String>,
) -> anyhow::Result<Rows> {
    let transfer_rows = rows(
        &ex.connection,
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
    for record in transfers {
        let answer = accepted(
            &mut ex.violations,
            "transfer",
            &record.id,
            "GetTransfer",
            || {
                let mut service = ex.client.transfers();
                let request = v1::GetTransferRequest {
                    id: record.id.clone(),
                };
                async move { service.get_transfer(request).await }
            },
        );
        let Some(answer) = answer.await? else {
            continue;
        };
        let transfer = answer.transfer.unwrap_or_default();
        let ours = short(transfer.status().as_str_name(), "TRANSFER_STATUS_");
        let seen = ex.alpaca.get(&record.account_id);
        let theirs = seen.and_then(|s| s.transfers.get(&transfer.provider_transfer_id));
        let resolved = theirs.is_some_and(|t| same_transfer_status(&ours, &t.status));
        if !AlpacaTransferStatus::from_stored(&ours).is_terminal() || ours == "FAILED" {
            ex.violations.extend(silent(
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
                ex.violations
                    .push(format!("LOST: transfer {} is still SUBMITTING", record.id));
            }
            "FAILED" if !transfer.provider_transfer_id.is_empty() => ex.violations.push(format!(
                "transfer {} is FAILED but holds Alpaca transfer {}",
                record.id, transfer.provider_transfer_id
            )),
            "FAILED" => {}
            // Held by the risk checks until an operator decides (the run's R01 returns can put a
            // link's deposits under review): nothing may have reached Alpaca, and the hold says
            // why (`silent` above).
            "PENDING_REVIEW" if !transfer.provider_transfer_id.is_empty() => {
                ex.violations.push(format!(
                    "transfer {} is PENDING_REVIEW but holds Alpaca transfer {}",
                    record.id, transfer.provider_transfer_id
                ));
            }
            "PENDING_REVIEW" => {}
            _ => match theirs {
                None => ex.violations.push(format!(
                    "LOST: transfer {} ({ours}) holds {:?}, which Alpaca does not have",
                    record.id, transfer.provider_transfer_id
                )),
                Some(theirs) => {
                    if !same_transfer_status(&ours, &theirs.status) {
                        ex.violations.push(format!(
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
                        ex.violations.push(format!(
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
    for (account, seen) in &ex.alpaca {
        for provider in seen.transfers.keys() {
            let holders = holders(&transfer_rows, 3, provider);
            // The run's own deposits made at Alpaca directly are nobody's: fundingd must report
            // them as orphans (checked after quiescence).
            let expected = if foreign.contains(provider.as_str()) {
                0
            } else {
                1
            };
            if holders != expected {
                ex.violations.push(format!(
                    "DUPLICATE: Alpaca transfer {provider} of account {account} is held by {holders} of our transfers"
                ));
            }
            if holders == 0 {
                ex.unheld.insert(provider.clone());
            }
        }
    }
    ex.violations.extend(never_answered(
        "transfer",
        &transfer_rows,
        &accepted_transfers,
        2,
        "FAILED",
    ));
    Ok(transfer_rows)
}

/// Bank transfers: each accepted one against Plaid's (`/bank_transfer/list`); each of Plaid's held
/// by one of ours; every one of ours answered to a caller. Plaid's statuses, and our rows.
pub(super) async fn bank_transfers(
    run: &Run,
    ex: &mut Examination,
    bank_transfers: &[BankTransferRecord],
) -> anyhow::Result<(BTreeMap<String, String>, Rows)> {
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
        &ex.connection,
        "SELECT {id} AS id, status, plaid_bank_transfer_id FROM bank_transfers",
        &["id", "status", "plaid_bank_transfer_id"],
    )
    .await?;
    let accepted_bank: BTreeSet<&str> = bank_transfers.iter().map(|t| t.id.as_str()).collect();
    for record in bank_transfers {
        let what = "bank transfer";
        let answer = accepted(
            &mut ex.violations,
            what,
            &record.id,
            "GetBankTransfer",
            || {
                let mut service = ex.client.bank_transfers();
                let request = v1::GetBankTransferRequest {
                    id: record.id.clone(),
                };
                async move { service.get_bank_transfer(request).await }
            },
        );
        let Some(answer) = answer.await? else {
            continue;
        };
        let transfer = answer.bank_transfer.unwrap_or_default();
        let ours = short(transfer.status().as_str_name(), "BANK_TRANSFER_STATUS_").to_lowercase();
        let resolved = at_plaid.get(&transfer.provider_bank_transfer_id) == Some(&ours);
        if !PlaidBankTransferStatus::from_stored(&ours).is_terminal() || ours == "refused" {
            ex.violations.extend(silent(
                "bank transfer",
                &record.id,
                &ours,
                resolved,
                ours == "refused",
                &transfer.status_reason,
            ));
        }
        match ours.as_str() {
            "submitting" => ex.violations.push(format!(
                "LOST: bank transfer {} is still submitting",
                record.id
            )),
            "refused" if !transfer.provider_bank_transfer_id.is_empty() => {
                ex.violations.push(format!(
                    "bank transfer {} is refused but holds Plaid's {}",
                    record.id, transfer.provider_bank_transfer_id
                ));
            }
            "refused" => {}
            // Held by the risk checks until an operator decides; nothing may have reached Plaid.
            "pending_review" if !transfer.provider_bank_transfer_id.is_empty() => {
                ex.violations.push(format!(
                    "bank transfer {} is pending_review but holds Plaid's {}",
                    record.id, transfer.provider_bank_transfer_id
                ));
            }
            "pending_review" => {}
            _ => match at_plaid.get(&transfer.provider_bank_transfer_id) {
                None => ex.violations.push(format!(
                    "LOST: bank transfer {} ({ours}) holds {:?}, which Plaid does not have",
                    record.id, transfer.provider_bank_transfer_id
                )),
                Some(theirs) if *theirs != ours => ex.violations.push(format!(
                    "STATUS: bank transfer {} is {ours}, Plaid's {} is {theirs}",
                    record.id, transfer.provider_bank_transfer_id
                )),
                Some(_) => {}
            },
        }
    }
    for provider in at_plaid.keys() {
        let holders = holders(&bank_rows, 2, provider);
        if holders != 1 {
            ex.violations.push(format!(
                "DUPLICATE: Plaid bank transfer {provider} is held by {holders} of our bank transfers"
            ));
        }
    }
    ex.violations.extend(never_answered(
        "bank transfer",
        &bank_rows,
        &accepted_bank,
        1,
        "refused",
    ));
    Ok((at_plaid, bank_rows))
}

/// An accepted resource read back over gRPC (`rpc`, asked [`patiently`]); none, with a LOST
/// violation, when fundingd no longer finds it.
async fn accepted<T, F, Fut>(
    violations: &mut Vec<String>,
    what: &str,
    id: &str,
    rpc: &str,
    call: F,
) -> anyhow::Result<Option<T>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match patiently(call).await {
        Ok(answer) => Ok(Some(answer.into_inner())),
        Err(status) if status.code() == tonic::Code::NotFound => {
            violations.push(format!("LOST: {what} {id} (accepted) is not found"));
            Ok(None)
        }
        Err(status) => anyhow::bail!("{rpc} {id}: {status:?}"),
    }
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

/// How many of our rows hold the provider resource `provider_id` (in their column `column`).
fn holders(rows: &Rows, column: usize, provider_id: &str) -> usize {
    rows.iter()
        .filter(|r| r[column].as_deref() == Some(provider_id))
        .count()
}

/// Our resources (rows: the id first, the status in column `status`) that no caller was ever
/// answered with, but those that ended `failed` (no provider resource, no harm): each a DUPLICATE.
fn never_answered(
    what: &str,
    rows: &Rows,
    accepted: &BTreeSet<&str>,
    status: usize,
    failed: &str,
) -> Vec<String> {
    rows.iter()
        .filter_map(|row| {
            let id = row[0].as_deref().unwrap_or_default();
            (!accepted.contains(id) && row[status].as_deref() != Some(failed)).then(|| {
                format!(
                    "DUPLICATE: {what} {id} ({:?}) was never answered to any caller",
                    row[status]
                )
            })
        })
        .collect()
}
