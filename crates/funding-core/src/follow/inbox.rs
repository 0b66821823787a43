//! The applier of the inbox's pending Alpaca events, in order, dispatched by `entity_type` to the
//! links or the transfers: a run of transfer events in one transaction, anything else one by one.
//! An event whose link is not stored yet is parked and applied once it is; one that fails to apply
//! is parked with its error; neither stops the events after it.

use std::sync::Arc;

use super::alpaca::FUNDING_STREAM;
use crate::event_outcome::EventOutcome;
use crate::links::BankLinks;
use crate::ports::{FundingEntity, InboxEvent, InboxMark, InboxState, InboxStore, StoreError};
use crate::transfers::Transfers;

/// Pending events applied per read of the inbox.
pub(super) const APPLY_PAGE: u32 = 200;
/// Pages applied before the reader looks at its lease and the stream again: a backlog (events the
/// sweep made pending by the thousand) is applied a slice at a time, never for longer than the
/// lease between two renewals.
pub(super) const APPLY_PAGES_AT_ONCE: usize = 10;

/// Applies the inbox's pending events, dispatched by what they are about.
pub(super) struct InboxApplier {
    pub(super) links: BankLinks,
    pub(super) transfers: Option<Transfers>,
    pub(super) inbox: Arc<dyn InboxStore>,
}

impl InboxApplier {
    /// Applies pending events until none are left, the store fails (they stay pending), or
    /// [`APPLY_PAGES_AT_ONCE`] pages were applied; whether it stopped at that bound with more to
    /// apply.
    pub(super) async fn apply_pending(&self) -> bool {
        for _ in 0..APPLY_PAGES_AT_ONCE {
            let events = match self.inbox.pending_events(FUNDING_STREAM, APPLY_PAGE).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!("cannot read the inbox: {error}");
                    return false;
                }
            };
            if events.is_empty() {
                return false;
            }
            let mut rest = events.as_slice();
            while let Some(first) = rest.first() {
                // A run of Transfer events is applied in one transaction; anything else one by one.
                let run = match &self.transfers {
                    Some(_) if first.event.entity == FundingEntity::Transfer => rest
                        .iter()
                        .take_while(|stored| stored.event.entity == FundingEntity::Transfer)
                        .count(),
                    _ => 0,
                };
                let applied = if run > 1 {
                    self.apply_transfers(&rest[..run]).await
                } else {
                    self.apply(first).await
                };
                if !applied {
                    return false;
                }
                rest = &rest[run.max(1)..];
            }
        }
        true
    }

    /// Applies a run of Transfer events together with their inbox marks (one transaction), or one
    /// by one when they cannot be applied together; false when the store failed (stop for now).
    async fn apply_transfers(&self, run: &[InboxEvent]) -> bool {
        let Some(transfers) = &self.transfers else {
            return false;
        };
        let mark = |stored: &InboxEvent, outcome: &EventOutcome| InboxMark {
            stream: stored.stream.clone(),
            event_id: stored.event_id.clone(),
            state: recorded(outcome).0,
            error: None,
        };
        match transfers.apply_events_together(run, mark).await {
            Ok(Some(outcomes)) => {
                for outcome in &outcomes {
                    metrics::counter!("funding_alpaca_events_total", "outcome" => recorded(outcome).1)
                        .increment(1);
                }
                return true;
            }
            Ok(None) => {
                tracing::debug!(
                    events = run.len(),
                    "the events could not be applied together; applying them one by one"
                );
            }
            Err(crate::CoreError::Store(StoreError::Unavailable(message))) => {
                tracing::warn!("cannot apply events now: {message}");
                return false;
            }
            Err(error) => {
                tracing::warn!(
                    "applying events together failed ({error}); applying them one by one"
                );
            }
        }
        for stored in run {
            if !self.apply(stored).await {
                return false;
            }
        }
        true
    }

    /// Applies one event and records the outcome; false when the store failed (stop for now).
    async fn apply(&self, stored: &InboxEvent) -> bool {
        let event = &stored.event;
        let outcome = match &event.entity {
            FundingEntity::BankRelationship => Some(self.links.apply_event(event).await),
            FundingEntity::Transfer => match &self.transfers {
                Some(transfers) => Some(transfers.apply_event(event).await),
                None => None,
            },
            FundingEntity::Other(_) => None,
        };
        let (state, error, label) = match outcome {
            // Nobody handles this kind of subject (yet): kept, to be applied when one does.
            None => (InboxState::Unhandled, None, "unhandled"),
            Some(Ok(outcome)) => {
                let (state, label) = recorded(&outcome);
                (state, None, label)
            }
            Some(Err(crate::CoreError::Store(StoreError::Unavailable(message)))) => {
                tracing::warn!(event_id = %stored.event_id, "cannot apply the event now: {message}");
                return false;
            }
            Some(Err(error)) => {
                tracing::error!(event_id = %stored.event_id, "applying the event failed; it is parked: {error}");
                (
                    InboxState::ParkedError,
                    Some(error.to_string()),
                    "parked_error",
                )
            }
        };
        metrics::counter!("funding_alpaca_events_total", "outcome" => label).increment(1);
        match self
            .inbox
            .mark_event(&stored.stream, &stored.event_id, state, error.as_deref())
            .await
        {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(event_id = %stored.event_id, "cannot record the event's outcome: {error}");
                false
            }
        }
    }
}

/// How an event's outcome is recorded: its inbox state and its metrics label.
fn recorded(outcome: &EventOutcome) -> (InboxState, &'static str) {
    match outcome {
        EventOutcome::NoSuchLink => (InboxState::ParkedNoSubject, "parked_no_subject"),
        EventOutcome::Moved { .. } | EventOutcome::MovedTransfer => (InboxState::Applied, "moved"),
        EventOutcome::Ignored(_) | EventOutcome::NotMine => (InboxState::Applied, "ignored"),
        EventOutcome::UnknownStatus(_) => (InboxState::Applied, "unknown_status"),
    }
}
