//! Every status history is a path in its lifecycle table (`funding_domain`), from the first state
//! to the current one, with no event id applied twice (HISTORY, DUPLICATE).

use std::collections::{BTreeMap, BTreeSet};

use funding_domain::lifecycle::Lifecycle;
use funding_domain::{AchRelationshipStatus, AlpacaTransferStatus, PlaidBankTransferStatus};

use super::{Examination, Rows};
use crate::world::rows;

/// The histories of every link, transfer and bank transfer (the rows are ours, as the resource
/// checks read them); the number of bank transfer history rows.
pub(super) async fn check(
    ex: &mut Examination,
    link_rows: &Rows,
    transfer_rows: &Rows,
    bank_rows: &Rows,
) -> anyhow::Result<usize> {
    let links = from_to(ex, "link_id", "bank_link_status_history").await?;
    ex.violations.extend(chains(
        "link",
        &links,
        &statuses(link_rows, 2),
        AchRelationshipStatus::Creating,
        AchRelationshipStatus::from_stored,
    ));
    let transfers = from_to(ex, "transfer_id", "transfer_status_history").await?;
    ex.violations.extend(chains(
        "transfer",
        &transfers,
        &statuses(transfer_rows, 2),
        AlpacaTransferStatus::Submitting,
        AlpacaTransferStatus::from_stored,
    ));
    let current = statuses(bank_rows, 1);
    let history = rows(
        &ex.connection,
        "SELECT {bank_transfer_id} AS rid, status, event_id FROM \
         bank_transfer_status_history ORDER BY at, id",
        &["rid", "status", "event_id"],
    )
    .await?;
    ex.violations.extend(sequences(&history, &current));
    Ok(history.len())
}

/// A history table of `(from, to)` rows (`resource` the column naming whose), in stored order:
/// rows of (resource, from, to, event id).
async fn from_to(ex: &Examination, resource: &str, table: &str) -> anyhow::Result<Rows> {
    rows(
        &ex.connection,
        &format!(
            "SELECT {{{resource}}} AS rid, from_status, to_status, event_id FROM {table} \
             ORDER BY at, id"
        ),
        &["rid", "from_status", "to_status", "event_id"],
    )
    .await
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
    let mut by_resource = by_resource(history);
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
    let mut by_resource = by_resource(history);
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

/// Each resource's current status (rows: the id first, the status in column `status`).
fn statuses(rows: &Rows, status: usize) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[status].clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// History rows grouped by their resource (the first column), in their stored order.
fn by_resource(history: &[Vec<Option<String>>]) -> BTreeMap<&str, Vec<&Vec<Option<String>>>> {
    let mut by_resource: BTreeMap<&str, Vec<&Vec<Option<String>>>> = BTreeMap::new();
    for row in history {
        by_resource
            .entry(row[0].as_deref().unwrap_or_default())
            .or_default()
            .push(row);
    }
    by_resource
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
