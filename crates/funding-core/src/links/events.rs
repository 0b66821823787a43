//! Following Alpaca's funding events for ACH relationships: each event moves its link's status along
//! the lifecycle table, once. Duplicates, late and out-of-order events change nothing; unknown
//! statuses are logged loudly and kept out of the state.

use std::time::Duration;

use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::{AchRelationshipId, AchRelationshipStatus};

use super::BankLinks;
use crate::error::CoreError;
use crate::ports::{FundingEntity, FundingEvent, StatusChange};

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// A link's status moved.
    Moved {
        from: AchRelationshipStatus,
        to: AchRelationshipStatus,
    },
    /// Nothing to do: a duplicate, a late or out-of-order event, or an event seen before.
    Ignored(&'static str),
    /// The status string is unknown to the service; the link kept its status.
    UnknownStatus(String),
    /// No link holds this relationship.
    NoSuchLink,
    /// Not a relationship event.
    NotMine,
}

/// How long an event for a relationship that is being saved right now is waited for.
const SAVE_RACE_ATTEMPTS: u32 = 20;
const SAVE_RACE_PAUSE: Duration = Duration::from_millis(50);

impl BankLinks {
    /// Applies one funding event to the link that holds its relationship.
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, entity_id = %event.entity_id, status_to = %event.status_to))]
    pub async fn apply_event(&self, event: &FundingEvent) -> Result<EventOutcome, CoreError> {
        if event.entity != FundingEntity::BankRelationship {
            return Ok(EventOutcome::NotMine);
        }
        let relationship_id = AchRelationshipId::from_uuid(event.entity_id);
        let Some(link) = self.find_link_for_event(relationship_id, event).await? else {
            tracing::debug!("no bank link holds this relationship");
            return Ok(EventOutcome::NoSuchLink);
        };
        let reported = AchRelationshipStatus::from_provider(&event.status_to);
        match lifecycle::apply(&link.status, reported) {
            Ok(Transition::Moved { from, to }) => {
                let change = StatusChange {
                    from: from.clone(),
                    to: to.clone(),
                    reason: event.reason.clone(),
                    source: "alpaca:event".into(),
                    event_id: Some(event.event_id.clone()),
                    at: event.at,
                };
                if self.store.change_link_status(link.id, change, None).await? {
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

    /// The link holding `relationship_id`. An event may outrun the create that made the relationship
    /// (Alpaca answers, emits QUEUED → APPROVED, and only then is the relationship id stored): while a
    /// link of the event's account is CREATING, wait for it briefly.
    async fn find_link_for_event(
        &self,
        relationship_id: AchRelationshipId,
        event: &FundingEvent,
    ) -> Result<Option<crate::model::BankLink>, CoreError> {
        for attempt in 0..SAVE_RACE_ATTEMPTS {
            if let Some(link) = self
                .store
                .find_link_by_relationship(relationship_id)
                .await?
            {
                return Ok(Some(link));
            }
            let page = self
                .store
                .list_links(
                    event.account_id,
                    crate::ports::PageRequest {
                        size: 100,
                        after: None,
                    },
                )
                .await?;
            let creating = page
                .items
                .iter()
                .any(|link| link.is_creating() && link.relationship_requested_at.is_some());
            if !creating {
                return Ok(None);
            }
            tracing::debug!(
                attempt,
                "a link of this account is being created; waiting for its relationship id"
            );
            tokio::time::sleep(SAVE_RACE_PAUSE).await;
        }
        Ok(None)
    }
}
