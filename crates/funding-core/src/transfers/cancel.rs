//! Cancelling a transfer. One held for review is cancelled here, its review closed. One that never
//! reached Alpaca is cancelled here: at once when its create
//! was never sent (one conditional update that a concurrent submit cannot also win), or, when its
//! create may have reached Alpaca, after the submit work's claim is taken and a lookup made after
//! the unknown outcome settled proves Alpaca does not have it (before that, the cancel is refused
//! with `TRANSFER_OUTCOME_SETTLING`, saying until when). One Alpaca has is asked to cancel (`DELETE`), which is only a request:
//! the transfer keeps its status until the CANCELED event. Once it can no longer be cancelled, a
//! cancel is FAILED_PRECONDITION with its current status.

use async_trait::async_trait;
use funding_domain::{AlpacaTransferStatus, TransferId, ValidationErrors};

use super::Transfers;
use crate::engine::{Attempt, Settling, Stop, WorkHandler};
use crate::error::CoreError;
use crate::model::Transfer;
use crate::ports::{ClaimedWork, NewWork, ProviderErrorKind, TransferChange, WorkKind};

/// Attempts at Alpaca's DELETE before the cancel request is given up (the transfer goes on).
const CANCEL_ATTEMPTS: u32 = 5;

impl Transfers {
    /// Errors: `InvalidArgument`, `NotFound`, `FailedPrecondition` (no longer cancellable, with
    /// the status; or being submitted right now), `Provider` when Alpaca could not be reached (the
    /// cancel request stays queued and is retried).
    #[tracing::instrument(skip_all, fields(transfer_id = %id))]
    pub async fn cancel(&self, id: &str) -> Result<Transfer, CoreError> {
        let id = TransferId::parse(id).map_err(|e| ValidationErrors::from(e.at("id")))?;
        let transfer = self.load(id).await?;
        match &transfer.status {
            AlpacaTransferStatus::Canceled => Ok(transfer),
            AlpacaTransferStatus::Submitting => self.cancel_unsubmitted(transfer).await,
            // Held for review, never sent: cancelled here, its review closed.
            AlpacaTransferStatus::PendingReview => {
                if !self.risk.cancel_held(&transfer).await? {
                    // Approved, rejected or expired meanwhile: answer for where it is now.
                    return Box::pin(self.cancel(&transfer.id.to_string())).await;
                }
                self.load(transfer.id).await
            }
            status if status.is_cancellable() => self.request_cancel(transfer).await,
            status => Err(not_cancellable(&transfer, status)),
        }
    }

    async fn cancel_unsubmitted(&self, transfer: Transfer) -> Result<Transfer, CoreError> {
        let change = TransferChange {
            from: AlpacaTransferStatus::Submitting,
            to: AlpacaTransferStatus::Canceled,
            reason: Some("cancelled before it reached Alpaca".into()),
            ach_return_code: None,
            source: "api:cancel".into(),
            event_id: None,
            at: self.clock.now(),
        };
        if transfer.submit_requested_at.is_none()
            && self
                .store
                .cancel_unsent(transfer.id, change.clone())
                .await?
        {
            return self.load(transfer.id).await;
        }
        // Its create may be at Alpaca: take the submit work's claim, so nobody sends it meanwhile,
        // and look it up.
        let settings = self.engine.settings();
        let Some(work) = self
            .engine
            .queue()
            .claim(
                WorkKind::TransferSubmit,
                transfer.id.as_uuid(),
                &settings.owner,
                settings.lease,
            )
            .await?
        else {
            let now = self.load(transfer.id).await?;
            if now.status != AlpacaTransferStatus::Submitting {
                return Box::pin(self.cancel(&transfer.id.to_string())).await;
            }
            // Its work waits for an unknown outcome to settle: say so, and until when.
            if let Some(requested_at) = now.submit_requested_at
                && let Settling::Waiting { reason, .. } = Settling::at(
                    "transfer create",
                    requested_at,
                    self.clock.now(),
                    self.settings.unknown_outcome_settle,
                )
            {
                return Err(settling(&transfer, &reason));
            }
            return Err(CoreError::FailedPrecondition {
                reason: "TRANSFER_BEING_SUBMITTED",
                subject: format!("transfers/{}", transfer.id),
                message: "the transfer is being submitted to Alpaca right now; cancel it again in a moment".into(),
            });
        };
        let current = self.load(transfer.id).await?;
        let outcome = async {
            if let Some(requested_at) = current.submit_requested_at {
                if self.adopt(&work.claim, &current, requested_at).await? {
                    return Ok::<bool, Stop>(true);
                }
                // Not at Alpaca yet, but it may still land: no CANCELED on an empty lookup
                // before the outcome has settled.
                self.settle(&work.claim, &current, requested_at).await?;
            }
            let ended = self
                .store
                .end_unsubmitted(&work.claim, current.id, change, None)
                .await?;
            Ok(!ended)
        }
        .await;
        match &outcome {
            // Resolved (adopted, or ended here): the submit work is done.
            Ok(_) => {
                let _ = self.engine.queue().finish(&work.claim).await;
            }
            // Still settling: give the work back to look again when it planned to.
            Err(Stop::Wait(reason, delay)) => {
                let _ = self
                    .engine
                    .queue()
                    .postpone(&work.claim, *delay, reason)
                    .await;
            }
            // Not resolved: give the work back to be submitted (or looked up) again.
            Err(_) => {
                let _ = self
                    .engine
                    .queue()
                    .retry_later(
                        &work.claim,
                        std::time::Duration::ZERO,
                        "a cancel could not look the transfer up",
                        None,
                    )
                    .await;
            }
        }
        match outcome {
            // Alpaca has it after all: ask Alpaca to cancel it.
            Ok(true) => Box::pin(self.cancel(&transfer.id.to_string())).await,
            Ok(false) => self.load(transfer.id).await,
            Err(Stop::Retry(_, Some(error))) => Err(CoreError::Provider(error)),
            Err(Stop::Wait(reason, _)) => Err(settling(&transfer, &reason)),
            Err(_) => Err(CoreError::FailedPrecondition {
                reason: "TRANSFER_BEING_SUBMITTED",
                subject: format!("transfers/{}", transfer.id),
                message:
                    "the transfer could not be looked up at Alpaca; cancel it again in a moment"
                        .into(),
            }),
        }
    }

    async fn request_cancel(&self, transfer: Transfer) -> Result<Transfer, CoreError> {
        self.engine
            .queue()
            .enqueue(NewWork {
                kind: WorkKind::TransferCancel,
                subject_id: transfer.id.as_uuid(),
                ordering_key: None,
                max_attempts: CANCEL_ATTEMPTS,
            })
            .await?;
        let attempt = self
            .engine
            .drive_now(WorkKind::TransferCancel, transfer.id.as_uuid())
            .await?;
        let now = self.load(transfer.id).await?;
        match attempt {
            Some(Attempt::Refused(error)) => Err(CoreError::FailedPrecondition {
                reason: "TRANSFER_NOT_CANCELLABLE",
                subject: format!("transfers/{}", now.id),
                message: format!(
                    "Alpaca refused to cancel the transfer ({}), which is {}",
                    error.message, now.status
                ),
            }),
            Some(Attempt::Retry {
                error: Some(error), ..
            }) => Err(CoreError::Provider(error)),
            _ => Ok(now),
        }
    }

    async fn cancel_steps(&self, id: TransferId) -> Result<Attempt, Stop> {
        let transfer = self.load(id).await?;
        let Some(provider_id) = transfer.provider_transfer_id else {
            return Ok(Attempt::Done);
        };
        if !transfer.status.is_cancellable() {
            return Ok(Attempt::Done);
        }
        match self
            .broker
            .cancel_transfer(transfer.account_id, provider_id)
            .await
        {
            Ok(()) => {
                tracing::info!(transfer_id = %id, "asked Alpaca to cancel the transfer");
                Ok(Attempt::Done)
            }
            Err(error) if error.is_retryable() || error.kind == ProviderErrorKind::Unauthorized => {
                Ok(Attempt::retry(error))
            }
            Err(error) => Ok(Attempt::Refused(error)),
        }
    }
}

/// A cancel refused because the transfer's create may still land at Alpaca.
fn settling(transfer: &Transfer, reason: &str) -> CoreError {
    CoreError::FailedPrecondition {
        reason: "TRANSFER_OUTCOME_SETTLING",
        subject: format!("transfers/{}", transfer.id),
        message: format!(
            "the transfer cannot be cancelled yet: {reason}; cancel it again once it has settled"
        ),
    }
}

fn not_cancellable(transfer: &Transfer, status: &AlpacaTransferStatus) -> CoreError {
    CoreError::FailedPrecondition {
        reason: "TRANSFER_NOT_CANCELLABLE",
        subject: format!("transfers/{}", transfer.id),
        message: format!("the transfer is {status} and can no longer be cancelled"),
    }
}

/// The handler of transfer cancel work.
pub(super) struct TransferCancellation(pub(super) Transfers);

#[async_trait]
impl WorkHandler for TransferCancellation {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        match self
            .0
            .cancel_steps(TransferId::from_uuid(work.subject_id))
            .await
        {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, _work: &ClaimedWork, _reason: &str) -> Attempt {
        Attempt::Done
    }
}
