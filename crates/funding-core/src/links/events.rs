//! Following Alpaca's funding events for ACH relationships: each event moves its link's status along
//! the lifecycle table, once. Duplicates, late and out-of-order events change nothing; unknown
//! statuses are logged loudly and kept out of the state.

use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::{AchRelationshipId, AchRelationshipStatus};

use super::BankLinks;
use crate::error::CoreError;
use crate::event_outcome::EventOutcome;
use crate::ports::{FundingEntity, FundingEvent, LinkStatusChange};

impl BankLinks {
    /// Applies one funding event to the link that holds its relationship.
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, entity_id = %event.entity_id, status_to = %event.status_to))]
    pub async fn apply_event(&self, event: &FundingEvent) -> Result<EventOutcome, CoreError> {
        self.apply_status(event, "alpaca:event").await
    }

    /// Applies a status Alpaca reported (by an event, or to the reconciler) to the link.
    pub(crate) async fn apply_status(
        &self,
        event: &FundingEvent,
        source: &str,
    ) -> Result<EventOutcome, CoreError> {
        if event.entity != FundingEntity::BankRelationship {
            return Ok(EventOutcome::NotMine);
        }
        let relationship_id = AchRelationshipId::from_uuid(event.entity_id);
        let Some(link) = self
            .store
            .find_link_by_relationship(relationship_id)
            .await?
        else {
            tracing::debug!("no bank link holds this relationship (yet)");
            return Ok(EventOutcome::NoSuchLink);
        };
        let reported = AchRelationshipStatus::from_provider(&event.status_to);
        match lifecycle::apply(&link.status, reported) {
            Ok(Transition::Moved { from, to }) => {
                let mut reason = event.reason.clone();
                if to == AchRelationshipStatus::Rejected && link.replaces.is_some() {
                    let note = self.replacement_note(&link).await?;
                    reason = Some(reason.unwrap_or_default() + &note);
                }
                let change = LinkStatusChange {
                    from: from.clone(),
                    to: to.clone(),
                    reason,
                    source: source.into(),
                    // The reconciler's observations carry no event id.
                    event_id: (!event.event_id.is_empty()).then(|| event.event_id.clone()),
                    at: event.at,
                };
                let remove_item = matches!(to, AchRelationshipStatus::Rejected);
                if self
                    .statuses
                    .change_link_status(link.id, change, remove_item)
                    .await?
                {
                    tracing::info!(bank_link_id = %link.id, %from, %to, "bank link status moved");
                    metrics::counter!("funding_bank_link_status_changes_total", "to" => to.as_str().to_owned()).increment(1);
                    Ok(EventOutcome::Moved { from, to })
                } else {
                    Ok(EventOutcome::Ignored(
                        "the link moved meanwhile or the event was applied before",
                    ))
                }
            }
            Ok(Transition::Unchanged) => Ok(EventOutcome::Ignored("duplicate")),
            Err(TransitionError::Illegal { from, to }) => {
                tracing::info!(bank_link_id = %link.id, %from, %to, "late or out-of-order relationship event ignored");
                Ok(EventOutcome::Ignored("not a move the table allows"))
            }
            Err(TransitionError::UnknownStatus(status)) => {
                tracing::error!(bank_link_id = %link.id, status = %status, "UNKNOWN ACH relationship status from Alpaca; the link keeps its status");
                Ok(EventOutcome::UnknownStatus(status))
            }
        }
    }
}
