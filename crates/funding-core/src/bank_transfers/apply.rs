//! Applying one reported status to a bank transfer: it moves the transfer along the lifecycle
//! table once; duplicates, late and out-of-order reports change nothing, and a status this service
//! does not know leaves the transfer as it is.

use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::{BankTransferId, PlaidBankTransferStatus};

use super::BankTransfers;
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::{BankTransferChange, BankTransferFailure, PlaidBankTransferEvent};

/// What applying one Plaid event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaidEventOutcome {
    Moved {
        from: PlaidBankTransferStatus,
        to: PlaidBankTransferStatus,
    },
    /// A duplicate, a late or out-of-order event.
    Ignored(&'static str),
    /// No transfer of ours holds this Plaid transfer (yet).
    NoSubject,
    /// A status this service does not know; the transfer kept its status.
    UnknownStatus(String),
}

impl BankTransfers {
    /// Applies one Plaid event to the transfer that holds its Plaid transfer.
    #[tracing::instrument(skip_all, fields(event_id = event.event_id, plaid_bank_transfer_id = %event.bank_transfer_id, event_type = %event.event_type))]
    pub async fn apply_event(
        &self,
        event: &PlaidBankTransferEvent,
    ) -> Result<PlaidEventOutcome, CoreError> {
        let Some(transfer) = self
            .store
            .find_bank_transfer_by_plaid_id(&event.bank_transfer_id)
            .await?
        else {
            return Ok(PlaidEventOutcome::NoSubject);
        };
        self.apply_status(
            &transfer,
            event.event_type.clone(),
            event.failure_reason.clone(),
            Some(event.event_id.to_string()),
            "plaid:event",
        )
        .await
    }

    pub(super) async fn apply_status(
        &self,
        transfer: &BankTransfer,
        reported: PlaidBankTransferStatus,
        failure: Option<BankTransferFailure>,
        event_id: Option<String>,
        source: &str,
    ) -> Result<PlaidEventOutcome, CoreError> {
        match judge(transfer, reported) {
            Judged::Moved { from, to } => {
                let change = change(
                    transfer,
                    from.clone(),
                    to.clone(),
                    failure,
                    event_id,
                    source,
                    self.clock.now(),
                );
                if self
                    .store
                    .change_bank_transfer_status(transfer.id, change.clone())
                    .await?
                {
                    moved(transfer.id, &change);
                    Ok(PlaidEventOutcome::Moved { from, to })
                } else {
                    Ok(PlaidEventOutcome::Ignored(
                        "the transfer moved meanwhile or the event was applied before",
                    ))
                }
            }
            Judged::Not(outcome) => Ok(outcome),
        }
    }
}

/// What a reported status does to a bank transfer: a move, or an outcome that changes nothing.
pub(super) enum Judged {
    Moved {
        from: PlaidBankTransferStatus,
        to: PlaidBankTransferStatus,
    },
    Not(PlaidEventOutcome),
}

/// Follows the lifecycle table from the transfer's status to the reported one (logging what is
/// ignored).
pub(super) fn judge(transfer: &BankTransfer, reported: PlaidBankTransferStatus) -> Judged {
    match lifecycle::apply(&transfer.status, reported) {
        Ok(Transition::Moved { from, to }) => Judged::Moved { from, to },
        Ok(Transition::Unchanged) => Judged::Not(PlaidEventOutcome::Ignored("duplicate")),
        Err(TransitionError::Illegal { from, to }) => {
            tracing::info!(bank_transfer_id = %transfer.id, %from, %to, "late or out-of-order bank transfer status ignored");
            Judged::Not(PlaidEventOutcome::Ignored("not a move the table allows"))
        }
        Err(TransitionError::UnknownStatus(status)) => {
            tracing::error!(bank_transfer_id = %transfer.id, %status, "UNKNOWN bank transfer status from Plaid; the transfer keeps its status");
            Judged::Not(PlaidEventOutcome::UnknownStatus(status))
        }
    }
}

/// The move of `transfer` from `from` to `to`, with Plaid's failure.
pub(super) fn change(
    transfer: &BankTransfer,
    from: PlaidBankTransferStatus,
    to: PlaidBankTransferStatus,
    failure: Option<BankTransferFailure>,
    event_id: Option<String>,
    source: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> BankTransferChange {
    BankTransferChange {
        // Only a pending transfer may still be cancelled.
        cancellable: to == PlaidBankTransferStatus::Pending && transfer.cancellable(),
        from,
        to,
        reason: failure.as_ref().and_then(|f| f.description.clone()),
        failure,
        failure_code: None,
        source: source.to_owned(),
        event_id,
        at,
    }
}

/// Logs and counts a stored move.
pub(super) fn moved(id: BankTransferId, change: &BankTransferChange) {
    let BankTransferChange {
        from, to, source, ..
    } = change;
    tracing::info!(bank_transfer_id = %id, %from, %to, source, "bank transfer status moved");
    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => to.as_str().to_owned())
        .increment(1);
    if *to == PlaidBankTransferStatus::Reversed {
        let code = change
            .failure
            .as_ref()
            .and_then(|f| f.ach_return_code.clone());
        crate::observe::entry_returned("plaid", code.as_ref());
    }
}
