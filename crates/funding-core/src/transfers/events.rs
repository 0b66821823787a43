//! Following Alpaca's funding events for transfers, and the reconciler that backs them up: each
//! reported status moves the transfer along the lifecycle table once; duplicates, late and
//! out-of-order reports change nothing. A RETURNED transfer keeps Alpaca's reason and the ACH return
//! code found in it (`R01`), whose description the API shows.

use std::collections::{HashMap, HashSet};

use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::{
    AccountId, AchReturnCode, AlpacaTransferId, AlpacaTransferStatus, TransferId,
};

use super::Transfers;
use crate::error::CoreError;
use crate::event_outcome::EventOutcome;
use crate::model::Transfer;
use crate::ports::{
    AlpacaTransfer, FundingEntity, FundingEvent, InboxEvent, InboxMark, TransferChange, Unresolved,
};
use crate::reconcile::{
    Pacer, ReconcileReport, ReconcileSettings, ago, by_account, publish_unresolved,
};

impl Transfers {
    /// Applies one funding event to the transfer that holds its Alpaca transfer.
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, entity_id = %event.entity_id, status_to = %event.status_to))]
    pub async fn apply_event(&self, event: &FundingEvent) -> Result<EventOutcome, CoreError> {
        if event.entity != FundingEntity::Transfer {
            return Ok(EventOutcome::NotMine);
        }
        self.apply_status(
            AlpacaTransferId::from_uuid(event.entity_id),
            AlpacaTransferStatus::from_provider(&event.status_to),
            event.reason.clone(),
            (!event.event_id.is_empty()).then(|| event.event_id.clone()),
            "alpaca:event",
            event.at,
        )
        .await
    }

    /// Applies a run of Transfer events (in the inbox's order) in one transaction, with the inbox
    /// mark `mark` makes of each outcome. The statuses are read once for the run and followed in
    /// memory through the lifecycle table, so several events of one transfer move it step by step.
    /// `None` when the run could not be applied as one (a transfer moved meanwhile, an event already
    /// in a history): nothing was written, and the caller applies the events one by one.
    pub(crate) async fn apply_events_together(
        &self,
        events: &[InboxEvent],
        mark: impl Fn(&InboxEvent, &EventOutcome) -> InboxMark,
    ) -> Result<Option<Vec<EventOutcome>>, CoreError> {
        let ids: Vec<AlpacaTransferId> = events
            .iter()
            .filter(|stored| stored.event.entity == FundingEntity::Transfer)
            .map(|stored| AlpacaTransferId::from_uuid(stored.event.entity_id))
            .collect();
        let mut known: HashMap<AlpacaTransferId, Transfer> = self
            .store
            .find_transfers_by_provider_ids(&ids)
            .await?
            .into_iter()
            .filter_map(|transfer| transfer.provider_transfer_id.map(|id| (id, transfer)))
            .collect();
        let mut moves = Vec::new();
        let mut outcomes = Vec::with_capacity(events.len());
        for stored in events {
            let event = &stored.event;
            let outcome = if event.entity != FundingEntity::Transfer {
                EventOutcome::NotMine
            } else {
                match known.get_mut(&AlpacaTransferId::from_uuid(event.entity_id)) {
                    None => EventOutcome::NoSuchLink,
                    Some(transfer) => {
                        let reported = AlpacaTransferStatus::from_provider(&event.status_to);
                        match judge(transfer, reported) {
                            Judged::Moved { from, to } => {
                                let change = change(
                                    from,
                                    to.clone(),
                                    event.reason.clone(),
                                    (!event.event_id.is_empty()).then(|| event.event_id.clone()),
                                    "alpaca:event",
                                    event.at,
                                );
                                moves.push((transfer.id, change));
                                transfer.status = to;
                                EventOutcome::MovedTransfer
                            }
                            Judged::Not(outcome) => outcome,
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        let marks = events
            .iter()
            .zip(&outcomes)
            .map(|(stored, outcome)| mark(stored, outcome))
            .collect();
        if !self
            .store
            .apply_transfer_events(moves.clone(), marks)
            .await?
        {
            return Ok(None);
        }
        for (id, change) in &moves {
            moved(*id, change);
        }
        Ok(Some(outcomes))
    }

    async fn apply_status(
        &self,
        provider_id: AlpacaTransferId,
        reported: AlpacaTransferStatus,
        reason: Option<String>,
        event_id: Option<String>,
        source: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<EventOutcome, CoreError> {
        let Some(transfer) = self.store.find_transfer_by_provider_id(provider_id).await? else {
            tracing::debug!("no transfer holds this Alpaca transfer (yet)");
            return Ok(EventOutcome::NoSuchLink);
        };
        self.apply_status_to(&transfer, reported, reason, event_id, source, at)
            .await
    }

    /// As [`apply_status`](Self::apply_status), to `transfer` as it was read (the move is
    /// conditional on the status read: `Ignored` if it moved meanwhile).
    async fn apply_status_to(
        &self,
        transfer: &Transfer,
        reported: AlpacaTransferStatus,
        reason: Option<String>,
        event_id: Option<String>,
        source: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<EventOutcome, CoreError> {
        match judge(transfer, reported) {
            Judged::Moved { from, to } => {
                let change = change(from, to, reason, event_id, source, at);
                if self
                    .store
                    .change_transfer_status(transfer.id, change.clone())
                    .await?
                {
                    moved(transfer.id, &change);
                    Ok(EventOutcome::MovedTransfer)
                } else {
                    Ok(EventOutcome::Ignored(MOVED_MEANWHILE))
                }
            }
            Judged::Not(outcome) => Ok(outcome),
        }
    }

    /// Looks up, at Alpaca, up to `settings.pass_size` transfers in flight that have not moved for
    /// longer than `settings.after` (those looked at least recently first), and a few COMPLETE ones
    /// still open to a return; applies any difference and records what stays unresolved. Alpaca
    /// has no GET by id for a transfer: each of their accounts is listed once, in its turn of
    /// `pacer`, and every due transfer of the account is looked at in that list (so a pass makes at
    /// most `pass_size` lookups, and may look at more transfers).
    pub async fn reconcile(
        &self,
        settings: &ReconcileSettings,
        pacer: &Pacer,
    ) -> Result<ReconcileReport, CoreError> {
        let now = self.clock.now();
        let before = ago(now, settings.after);
        let stuck_before = ago(now, settings.stuck_after);
        let mut due: Vec<Transfer> = self
            .store
            .transfers_to_reconcile(before, settings.pass_size)
            .await?
            .into_iter()
            .filter(|transfer| transfer.provider_transfer_id.is_some())
            .collect();
        // An account's list holds all of its transfers: every one of its due transfers is looked
        // at with the ones this pass took, so a lookup serves all of them.
        let mut accounts: Vec<AccountId> = Vec::new();
        for transfer in &due {
            if transfer.status != AlpacaTransferStatus::Complete
                && !accounts.contains(&transfer.account_id)
            {
                accounts.push(transfer.account_id);
            }
        }
        if !accounts.is_empty() {
            let taken: HashSet<TransferId> = due.iter().map(|transfer| transfer.id).collect();
            let more = self
                .store
                .account_transfers_to_reconcile(&accounts, before)
                .await?;
            due.extend(
                more.into_iter()
                    .filter(|transfer| !taken.contains(&transfer.id)),
            );
        }
        let mut report = ReconcileReport::default();
        let mut checks: Vec<(TransferId, Option<Unresolved>)> = Vec::with_capacity(due.len());
        for (account_id, transfers) in by_account(due, |transfer| transfer.account_id) {
            pacer.wait().await;
            report.lookups += 1;
            let listed: HashMap<AlpacaTransferId, AlpacaTransfer> = match self
                .broker
                .list_transfers(account_id, None)
                .await
            {
                Ok(listed) => listed.into_iter().map(|found| (found.id, found)).collect(),
                Err(error) => {
                    tracing::warn!(%account_id, transfers = transfers.len(), "cannot reconcile the account's transfers: {error}");
                    for transfer in transfers {
                        report.checked += 1;
                        checks.push((transfer.id, Some(Unresolved::LookupFailed)));
                    }
                    continue;
                }
            };
            for transfer in transfers {
                let Some(provider_id) = transfer.provider_transfer_id else {
                    continue;
                };
                report.checked += 1;
                // COMPLETE ones are looked at for a late return; staying COMPLETE is no trouble.
                let in_flight = transfer.status != AlpacaTransferStatus::Complete;
                let Some(found) = listed.get(&provider_id) else {
                    report.missing += 1;
                    tracing::error!(transfer_id = %transfer.id, %provider_id, "Alpaca does not list the transfer");
                    metrics::counter!("funding_reconciler_missing_total", "resource" => "transfer")
                        .increment(1);
                    checks.push((transfer.id, in_flight.then_some(Unresolved::Missing)));
                    continue;
                };
                let mut outcome = self
                    .apply_status_to(
                        &transfer,
                        found.status.clone(),
                        found.reason.clone(),
                        None,
                        "reconciler",
                        self.clock.now(),
                    )
                    .await?;
                if outcome == EventOutcome::Ignored(MOVED_MEANWHILE) {
                    // An event moved it since it was read: judge from where it is now.
                    outcome = self
                        .apply_status(
                            provider_id,
                            found.status.clone(),
                            found.reason.clone(),
                            None,
                            "reconciler",
                            self.clock.now(),
                        )
                        .await?;
                }
                let unresolved = match outcome {
                    EventOutcome::MovedTransfer => {
                        report.moved += 1;
                        tracing::warn!(transfer_id = %transfer.id, "the reconciler moved a transfer its events had not");
                        metrics::counter!("funding_reconciler_moves_total", "resource" => "transfer")
                            .increment(1);
                        None
                    }
                    _ if !in_flight => None,
                    EventOutcome::UnknownStatus(_) => Some(Unresolved::UnknownStatus),
                    _ if transfer.updated_at <= stuck_before => Some(Unresolved::Unchanged),
                    _ => None,
                };
                checks.push((transfer.id, unresolved));
            }
        }
        self.store.record_transfer_checks(&checks).await?;
        report.unresolved = self.store.unresolved_transfers().await?;
        publish_unresolved("transfer", &report.unresolved);
        Ok(report)
    }
}

/// What a conditional move that found its transfer elsewhere says.
const MOVED_MEANWHILE: &str = "the transfer moved meanwhile or the event was applied before";

/// Alpaca's status beyond COMPLETE that its spec does not list.
const SETTLED: &str = "SETTLED";

/// What a reported status does to a transfer: a move, or an outcome that changes nothing.
enum Judged {
    Moved {
        from: AlpacaTransferStatus,
        to: AlpacaTransferStatus,
    },
    Not(EventOutcome),
}

/// Follows the lifecycle table from the transfer's status to the reported one (logging what is
/// ignored).
fn judge(transfer: &Transfer, reported: AlpacaTransferStatus) -> Judged {
    // The live API sends SETTLED after COMPLETE, beyond its spec: the money settled, and a return
    // may still follow. It is COMPLETE as far as the table goes (a transfer that missed its
    // COMPLETE moves there; a COMPLETE one stays), never an unknown status.
    let reported = match reported {
        AlpacaTransferStatus::Unknown(text) if text == SETTLED => AlpacaTransferStatus::Complete,
        other => other,
    };
    match lifecycle::apply(&transfer.status, reported) {
        Ok(Transition::Moved { from, to }) => Judged::Moved { from, to },
        Ok(Transition::Unchanged) => Judged::Not(EventOutcome::Ignored("duplicate")),
        Err(TransitionError::Illegal { from, to }) => {
            tracing::info!(transfer_id = %transfer.id, %from, %to, "late or out-of-order transfer status ignored");
            Judged::Not(EventOutcome::Ignored("not a move the table allows"))
        }
        Err(TransitionError::UnknownStatus(status)) => {
            tracing::error!(transfer_id = %transfer.id, status = %status, "UNKNOWN transfer status from Alpaca; the transfer keeps its status");
            Judged::Not(EventOutcome::UnknownStatus(status))
        }
    }
}

/// The move from `from` to `to`; a move to RETURNED carries the ACH return code found in Alpaca's
/// reason.
fn change(
    from: AlpacaTransferStatus,
    to: AlpacaTransferStatus,
    reason: Option<String>,
    event_id: Option<String>,
    source: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> TransferChange {
    let ach_return_code = (to == AlpacaTransferStatus::Returned)
        .then(|| reason.as_deref().and_then(AchReturnCode::find_in))
        .flatten()
        .map(|code| code.code().to_owned());
    TransferChange {
        from,
        to,
        reason,
        ach_return_code,
        source: source.to_owned(),
        event_id,
        at,
    }
}

/// Logs and counts a stored move.
fn moved(id: TransferId, change: &TransferChange) {
    let TransferChange {
        from, to, source, ..
    } = change;
    tracing::info!(transfer_id = %id, %from, %to, source, "transfer status moved");
    metrics::counter!("funding_transfer_status_changes_total", "to" => to.as_str().to_owned())
        .increment(1);
    if *to == AlpacaTransferStatus::Returned {
        let code = change.ach_return_code.as_deref().map(AchReturnCode::parse);
        crate::observe::entry_returned("alpaca", code.as_ref());
    }
}
