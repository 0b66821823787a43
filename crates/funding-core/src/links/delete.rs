//! Deleting a bank link: Alpaca is asked to cancel the ACH relationship, and the link moves to
//! CANCEL_REQUESTED; the events take it on to CANCELED. Deleting a link that is already gone answers
//! with the link as it is.

use funding_domain::lifecycle::{self, Transition};
use funding_domain::{AchRelationshipStatus, BankLinkId, ValidationErrors};

use super::BankLinks;
use crate::error::CoreError;
use crate::model::BankLink;
use crate::ports::{ProviderErrorKind, StatusChange};

impl BankLinks {
    /// Errors: `InvalidArgument` (malformed id), `NotFound`, `FailedPrecondition` while the link is
    /// still being created, `Provider` when Alpaca refused or could not be reached (nothing changed).
    #[tracing::instrument(skip_all, fields(bank_link_id = %id))]
    pub async fn delete(&self, id: &str) -> Result<BankLink, CoreError> {
        let id = BankLinkId::parse(id).map_err(|e| ValidationErrors::from(e.at("id")))?;
        let link = self.load(id).await?;
        if link.status.is_terminal_for_delete() {
            return Ok(link);
        }
        let Some(relationship_id) = link.ach_relationship_id else {
            return Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_CREATING",
                subject: format!("bank_links/{id}"),
                message: "the bank link is still being created; delete it once Alpaca has its relationship".into(),
            });
        };
        match self
            .broker
            .delete_ach_relationship(link.account_id, relationship_id)
            .await
        {
            Ok(()) => {
                self.move_to(&link, AchRelationshipStatus::CancelRequested, None)
                    .await
            }
            Err(error) if error.kind == ProviderErrorKind::NotFound => {
                self.move_to(
                    &link,
                    AchRelationshipStatus::Canceled,
                    Some("Alpaca no longer has the relationship".into()),
                )
                .await
            }
            Err(error) => Err(CoreError::Provider(error)),
        }
    }

    async fn move_to(
        &self,
        link: &BankLink,
        to: AchRelationshipStatus,
        reason: Option<String>,
    ) -> Result<BankLink, CoreError> {
        if let Ok(Transition::Moved { from, to }) = lifecycle::apply(&link.status, to) {
            let change = StatusChange {
                from,
                to,
                reason,
                source: "api:delete".into(),
                event_id: None,
                at: self.clock.now(),
            };
            self.store.change_link_status(link.id, change, None).await?;
        }
        self.load(link.id).await
    }
}

trait DeleteState {
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
