//! Cancelling a bank transfer. Plaid cancels only while the transfer is `cancellable` (pending and
//! not yet sent to the network); past that a cancel gets FAILED_PRECONDITION with the current
//! status, and Plaid is not asked. A transfer whose create was never sent is cancelled locally (one
//! conditional update that the submit's own mark cannot also win); one held for review is
//! cancelled locally too, its review closed. Otherwise the cancel is work of
//! its own ([`WorkKind::BankTransferCancel`]), ordered after the transfer's submit, so it only
//! ever asks Plaid about a transfer Plaid has answered for.

use async_trait::async_trait;
use funding_domain::{BankTransferId, PlaidBankTransferStatus};

use super::{BankTransfers, ordering_key, parse_id};
use crate::engine::{Attempt, Stop, WorkHandler};
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::{BankTransferChange, ClaimedWork, NewWork, WorkKind};

/// Plaid's code for a transfer that can no longer be cancelled.
const NOT_CANCELLABLE: &str = "BANK_TRANSFER_NOT_CANCELLABLE";
const CANCEL_ATTEMPTS: u32 = 10;

pub(super) struct BankTransferCancellation(pub(super) BankTransfers);

#[async_trait]
impl WorkHandler for BankTransferCancellation {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        let id = BankTransferId::from_uuid(work.subject_id);
        match self.0.cancel_at_plaid(id).await {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, _work: &ClaimedWork, _reason: &str) -> Attempt {
        // The transfer keeps its status (Plaid's events and the reconciler still follow it); the
        // cancel request ends, visible in the work's failed state.
        Attempt::Done
    }
}

impl BankTransfers {
    /// Cancels the bank transfer, or answers why it cannot be.
    ///
    /// Errors: `InvalidArgument`, `NotFound`; `FailedPrecondition` (`BANK_TRANSFER_NOT_CANCELLABLE`)
    /// naming the status once Plaid would refuse; `Provider` when Plaid refused the cancel.
    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id))]
    pub async fn cancel(&self, id: &str) -> Result<BankTransfer, CoreError> {
        let id = parse_id(id)?;
        let transfer = self.load(id).await?;
        match transfer.status {
            PlaidBankTransferStatus::Cancelled => return Ok(transfer),
            // Held for review, never sent: cancelled here, its review closed.
            PlaidBankTransferStatus::PendingReview => {
                if !self.risk.cancel_held_bank_transfer(&transfer).await? {
                    // Approved, rejected or expired meanwhile: answer for where it is now.
                    return Box::pin(self.cancel(&id.to_string())).await;
                }
                tracing::info!("cancelled while held for review");
                return self.load(id).await;
            }
            PlaidBankTransferStatus::Submitting => {
                let change = self.cancel_change(&transfer, "api:cancel");
                if self.store.cancel_unsent_bank_transfer(id, change).await? {
                    tracing::info!("cancelled before it was ever sent to Plaid");
                    return self.load(id).await;
                }
            }
            PlaidBankTransferStatus::Pending if transfer.cancellable() => {}
            _ => return Err(not_cancellable(&transfer)),
        }
        self.engine
            .queue()
            .enqueue(NewWork {
                kind: WorkKind::BankTransferCancel,
                subject_id: id.as_uuid(),
                ordering_key: Some(ordering_key(id)),
                max_attempts: CANCEL_ATTEMPTS,
            })
            .await?;
        let (attempt, transfer) = self
            .engine
            .drive_or_wait(
                WorkKind::BankTransferCancel,
                id.as_uuid(),
                || self.load(id),
                |transfer: &BankTransfer| {
                    !matches!(
                        transfer.status,
                        PlaidBankTransferStatus::Submitting | PlaidBankTransferStatus::Pending
                    )
                },
            )
            .await?;
        match (attempt, &transfer.status) {
            (_, PlaidBankTransferStatus::Cancelled) => Ok(transfer),
            (Some(Attempt::Refused(error)), _) if error.code == NOT_CANCELLABLE => {
                Err(not_cancellable(&transfer))
            }
            (Some(Attempt::Refused(error)), _) => Err(CoreError::Provider(error)),
            (_, PlaidBankTransferStatus::Pending | PlaidBankTransferStatus::Submitting) => {
                // Asked for durably; the engine goes on asking Plaid.
                Ok(transfer)
            }
            _ => Err(not_cancellable(&transfer)),
        }
    }

    async fn cancel_at_plaid(&self, id: BankTransferId) -> Result<Attempt, Stop> {
        let transfer = self.load(id).await?;
        let plaid_id = match (&transfer.status, transfer.provider_id()) {
            (PlaidBankTransferStatus::Submitting, _) => {
                return Err(Stop::Retry(
                    "waiting for Plaid's answer to the create".to_owned(),
                    None,
                ));
            }
            (PlaidBankTransferStatus::Pending, Some(plaid_id)) if transfer.cancellable() => {
                plaid_id.clone()
            }
            _ => return Ok(Attempt::Done),
        };
        match self.gateway.cancel_bank_transfer(&plaid_id).await {
            Ok(()) => {
                let change = self.cancel_change(&transfer, "plaid:cancel");
                if self.store.change_bank_transfer_status(id, change).await? {
                    tracing::info!("Plaid cancelled the bank transfer");
                    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => "cancelled").increment(1);
                }
                Ok(Attempt::Done)
            }
            Err(error) if error.code == NOT_CANCELLABLE => {
                tracing::info!("Plaid says the bank transfer can no longer be cancelled");
                self.store.set_bank_transfer_cancellable(id, false).await?;
                if let Err(refresh) = self.refresh(&transfer).await {
                    tracing::warn!("cannot read the bank transfer back from Plaid: {refresh}");
                }
                Ok(Attempt::Refused(error))
            }
            Err(error) if error.is_retryable() => Err(Stop::provider(error)),
            Err(error) => Ok(Attempt::Refused(error)),
        }
    }

    fn cancel_change(&self, transfer: &BankTransfer, source: &str) -> BankTransferChange {
        BankTransferChange {
            from: transfer.status.clone(),
            to: PlaidBankTransferStatus::Cancelled,
            cancellable: false,
            failure: None,
            reason: None,
            failure_code: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        }
    }
}

fn not_cancellable(transfer: &BankTransfer) -> CoreError {
    CoreError::FailedPrecondition {
        reason: "BANK_TRANSFER_NOT_CANCELLABLE",
        subject: format!("bank_transfers/{}", transfer.id),
        message: format!(
            "the bank transfer is {}; it can no longer be cancelled",
            transfer.status
        ),
    }
}
