//! The reconciler (DESIGN §9): streams miss things, so every pass looks up at the providers the links,
//! transfers and bank transfers in flight whose events are overdue, and applies any difference
//! through the same transition tables as an event.
//!
//! It rotates through everything in flight: each pass takes, of each kind, the `pass_size` due
//! resources looked at least recently (the store marks what it hands out), so thousands in flight
//! are each looked at in turn and none waits behind others that never resolve. Alpaca has no GET by
//! id for transfers or relationships, so an account's list is asked once a pass for all of its due
//! resources; Plaid's bank transfers are read by id. Provider lookups are spread evenly within a
//! budget per provider ([`Pacer`]). What a look leaves unresolved is stored with the resource and
//! counted by reason (`funding_reconciler_unresolved{resource, reason}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use funding_domain::AccountId;

use crate::bank_transfers::BankTransfers;
use crate::error::CoreError;
use crate::links::BankLinks;
use crate::ports::{Unresolved, UnresolvedCounts};
use crate::transfers::Transfers;

/// How the reconciler looks (`reconcile_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// A resource that has not moved for this long is due for a look.
    pub after: Duration,
    /// Resources of each kind looked at in one pass (Alpaca transfers: plus up to a quarter as
    /// many COMPLETE ones still open to a return).
    pub pass_size: u32,
    /// A resource in flight whose provider still reports the status we have, and that has not
    /// moved for this long, counts as stuck (`unchanged`).
    pub stuck_after: Duration,
    /// Provider lookups per second, per provider (an Alpaca account's list counts once however
    /// many pages it has); 0: no limit.
    pub calls_per_second: u32,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(120),
            pass_size: 500,
            stuck_after: Duration::from_secs(5 * 86_400),
            calls_per_second: 5,
        }
    }
}

/// Spreads calls evenly: at most `calls_per_second`, one every `1 / calls_per_second`, never in a
/// burst (an idle time saves nothing up). Clones share one budget.
#[derive(Debug, Clone)]
pub struct Pacer {
    gap: Option<Duration>,
    next: Arc<Mutex<Option<tokio::time::Instant>>>,
}

impl Pacer {
    /// `calls_per_second` calls a second; 0: no limit.
    pub fn per_second(calls_per_second: u32) -> Self {
        Self {
            gap: (calls_per_second > 0).then(|| Duration::from_secs(1) / calls_per_second),
            next: Arc::default(),
        }
    }

    /// Waits for this call's turn.
    pub async fn wait(&self) {
        let Some(gap) = self.gap else {
            return;
        };
        let turn = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = tokio::time::Instant::now();
            let turn = next.map_or(now, |at| at.max(now));
            *next = Some(turn + gap);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }
}

/// What one pass did for one kind of resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Resources looked at.
    pub checked: usize,
    /// Of those, how many the reconciler moved.
    pub moved: usize,
    /// Of those, how many the provider does not know.
    pub missing: usize,
    /// Provider lookups made (an Alpaca account's list once, whatever it held).
    pub lookups: usize,
    /// After the pass: every resource of this kind in flight whose last look left it unresolved
    /// (and that has not moved since), by reason; what the gauge shows.
    pub unresolved: UnresolvedCounts,
}

impl ReconcileReport {
    /// How many are unresolved for `reason` (after the pass, all of them, not only this pass's).
    pub fn unresolved(&self, reason: Unresolved) -> u64 {
        self.unresolved
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, count)| *count)
    }
}

/// Sets `funding_reconciler_unresolved{resource, reason}` from `counts` (0 for reasons absent).
pub(crate) fn publish_unresolved(resource: &'static str, counts: &UnresolvedCounts) {
    for reason in Unresolved::ALL {
        let count = counts
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, count)| *count);
        metrics::gauge!(
            "funding_reconciler_unresolved",
            "resource" => resource,
            "reason" => reason.as_str()
        )
        .set(count as f64);
    }
}

/// `now` less `duration` (the start of time when that is before it).
pub(crate) fn ago(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| now.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `items` grouped by account, the accounts in the order of their first item, each group in the
/// items' order.
pub(crate) fn by_account<T>(
    items: Vec<T>,
    account_of: impl Fn(&T) -> AccountId,
) -> Vec<(AccountId, Vec<T>)> {
    let mut index: HashMap<AccountId, usize> = HashMap::new();
    let mut groups: Vec<(AccountId, Vec<T>)> = Vec::new();
    for item in items {
        let account = account_of(&item);
        match index.get(&account) {
            Some(&at) => groups[at].1.push(item),
            None => {
                index.insert(account, groups.len());
                groups.push((account, vec![item]));
            }
        }
    }
    groups
}

/// What one pass did, per kind of resource (an error stopped that kind's pass, not the others').
#[derive(Debug)]
pub struct PassReport {
    pub links: Result<ReconcileReport, CoreError>,
    pub transfers: Result<ReconcileReport, CoreError>,
    pub bank_transfers: Result<ReconcileReport, CoreError>,
    /// The Item check (`/item/get`, on Plaid's budget).
    pub items: Result<ReconcileReport, CoreError>,
}

/// The reconciler: links and Alpaca transfers (one Alpaca budget), and Plaid bank transfers (a
/// Plaid budget), looked at side by side.
#[derive(Clone)]
pub struct Reconciler {
    links: BankLinks,
    transfers: Transfers,
    bank_transfers: BankTransfers,
    settings: ReconcileSettings,
    alpaca: Pacer,
    plaid: Pacer,
}

impl Reconciler {
    pub fn new(
        links: BankLinks,
        transfers: Transfers,
        bank_transfers: BankTransfers,
        settings: ReconcileSettings,
    ) -> Self {
        Self {
            links,
            transfers,
            bank_transfers,
            alpaca: Pacer::per_second(settings.calls_per_second),
            plaid: Pacer::per_second(settings.calls_per_second),
            settings,
        }
    }

    pub fn settings(&self) -> &ReconcileSettings {
        &self.settings
    }

    /// One pass: links then transfers on Alpaca's budget, bank transfers on Plaid's meanwhile.
    /// Logs what it did.
    pub async fn pass(&self) -> PassReport {
        let alpaca = async {
            let links = self.links.reconcile(&self.settings, &self.alpaca).await;
            let transfers = self.transfers.reconcile(&self.settings, &self.alpaca).await;
            (links, transfers)
        };
        let plaid = async {
            let bank_transfers = self
                .bank_transfers
                .reconcile(&self.settings, &self.plaid)
                .await;
            let items = self.links.check_items(&self.settings, &self.plaid).await;
            (bank_transfers, items)
        };
        let ((links, transfers), (bank_transfers, items)) =
            futures::future::join(alpaca, plaid).await;
        log("bank links", &links);
        log("transfers", &transfers);
        log("bank transfers", &bank_transfers);
        log("Plaid Items", &items);
        PassReport {
            links,
            transfers,
            bank_transfers,
            items,
        }
    }
}

fn log(what: &str, report: &Result<ReconcileReport, CoreError>) {
    match report {
        Ok(report) if report.checked > 0 => {
            let unresolved: u64 = report.unresolved.iter().map(|(_, count)| count).sum();
            tracing::info!(
                checked = report.checked,
                moved = report.moved,
                missing = report.missing,
                lookups = report.lookups,
                unresolved,
                "reconciled {what}"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!("reconciling {what} failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pacer_spreads_calls_evenly_and_saves_nothing_up() {
        let pacer = Pacer::per_second(4);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1000), "250 ms apart");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = tokio::time::Instant::now();
        pacer.wait().await;
        pacer.wait().await;
        assert_eq!(
            idle.elapsed(),
            Duration::from_millis(250),
            "an idle time is no credit for a burst"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pacer_of_zero_calls_a_second_never_waits() {
        let pacer = Pacer::per_second(0);
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn reasons_read_back_as_written() {
        for reason in Unresolved::ALL {
            assert_eq!(Unresolved::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Unresolved::parse("stuck"), None);
    }
}
