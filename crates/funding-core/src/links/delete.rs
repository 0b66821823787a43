//! Deleting a bank link: the request writes the link's delete work, and the work asks Alpaca to
//! cancel the ACH relationship; the link moves to CANCEL_REQUESTED, Alpaca's events take it on to
//! CANCELED, and the link's Plaid Item removal is queued with the move. Deleting a link that is
//! already gone (or going) answers with the link as it is.

use async_trait::async_trait;
use funding_domain::lifecycle::{self, Transition};
use funding_domain::{AchRelationshipStatus, BankLinkId, ValidationErrors};

use super::BankLinks;
use crate::engine::Stop;
use crate::engine::{Attempt, WorkHandler};
use crate::error::CoreError;
use crate::model::BankLink;
use crate::ports::{ClaimedWork, LinkStatusChange, NewWork, ProviderErrorKind, WorkKind};

/// Attempts at a relationship delete before it is given up (the link keeps its status).
const DELETE_ATTEMPTS: u32 = 10;

impl BankLinks {
    /// Errors: `InvalidArgument` (malformed id), `NotFound`, `FailedPrecondition` while the link is
    /// still being created, `Provider` when Alpaca refused (nothing changed) or could not be reached
    /// (the delete stays queued and is retried).
    #[tracing::instrument(skip_all, fields(bank_link_id = %id))]
    pub async fn delete(&self, id: &str) -> Result<BankLink, CoreError> {
        let id = BankLinkId::parse(id).map_err(|e| ValidationErrors::from(e.at("id")))?;
        let link = self.load(id).await?;
        if link.status.is_terminal_for_delete() {
            return Ok(link);
        }
        if link.ach_relationship_id.is_none() {
            return Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_CREATING",
                subject: format!("bank_links/{id}"),
                message: "the bank link is still being created; delete it once Alpaca has its relationship".into(),
            });
        }
        self.engine
            .queue()
            .enqueue(NewWork {
                kind: WorkKind::LinkDelete,
                subject_id: id.as_uuid(),
                ordering_key: None,
                max_attempts: DELETE_ATTEMPTS,
            })
            .await?;
        let attempt = self
            .engine
            .drive_now(WorkKind::LinkDelete, id.as_uuid())
            .await?;
        match attempt {
            Some(Attempt::Refused(error)) => Err(CoreError::Provider(error)),
            Some(Attempt::Retry {
                error: Some(error), ..
            }) => Err(CoreError::Provider(error)),
            _ => self.load(id).await,
        }
    }

    async fn delete_steps(&self, id: BankLinkId) -> Result<Attempt, Stop> {
        let link = self.load(id).await?;
        let Some(relationship_id) = link.ach_relationship_id else {
            return Ok(Attempt::Done);
        };
        if link.status.is_terminal_for_delete() {
            return Ok(Attempt::Done);
        }
        match self
            .broker
            .delete_ach_relationship(link.account_id, relationship_id)
            .await
        {
            Ok(()) => {
                self.move_to(&link, AchRelationshipStatus::CancelRequested, None)
                    .await?;
                Ok(Attempt::Done)
            }
            Err(error) if error.kind == ProviderErrorKind::NotFound => {
                self.move_to(
                    &link,
                    AchRelationshipStatus::Canceled,
                    Some("Alpaca no longer has the relationship".into()),
                )
                .await?;
                Ok(Attempt::Done)
            }
            Err(error) if error.is_refusal() => Ok(Attempt::Refused(error)),
            Err(error) => Ok(Attempt::retry(error)),
        }
    }

    async fn move_to(
        &self,
        link: &BankLink,
        to: AchRelationshipStatus,
        reason: Option<String>,
    ) -> Result<(), Stop> {
        if let Ok(Transition::Moved { from, to }) = lifecycle::apply(&link.status, to) {
            let change = LinkStatusChange {
                from,
                to,
                reason,
                source: "api:delete".into(),
                event_id: None,
                at: self.clock.now(),
            };
            if self
                .statuses
                .change_link_status(link.id, change, true)
                .await?
            {
                self.engine.wake();
            }
        }
        Ok(())
    }
}

/// The handler of link delete work.
pub(crate) struct LinkDeletion(pub(crate) BankLinks);

#[async_trait]
impl WorkHandler for LinkDeletion {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        match self
            .0
            .delete_steps(BankLinkId::from_uuid(work.subject_id))
            .await
        {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, _work: &ClaimedWork, _reason: &str) -> Attempt {
        // The link keeps its status; the failed work is counted and shows its last error.
        Attempt::Done
    }
}

pub(crate) trait DeleteState {
    /// Nothing left to cancel: rejected, cancelled, or failed before Alpaca knew it, or cancelling already.
    fn is_terminal_for_delete(&self) -> bool;
}

impl DeleteState for AchRelationshipStatus {
    fn is_terminal_for_delete(&self) -> bool {
        matches!(
            self,
            Self::Rejected
                | Self::Canceled
                | Self::Failed
                | Self::CancelRequested
                | Self::CancelSent
        )
    }
}
