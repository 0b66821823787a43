//! The reconciler for links: streams miss things, so a link that waits on Alpaca (QUEUED, PENDING,
//! CANCEL_REQUESTED, …) and has not moved for longer than expected is looked up at Alpaca, and any
//! difference is applied through the same transition table as an event (source `reconciler`). A
//! relationship Alpaca no longer lists while we cancel it is CANCELED.

use chrono::Duration as ChronoDuration;
use funding_domain::AchRelationshipStatus;

use super::{BankLinks, EventOutcome};
use crate::error::CoreError;
use crate::ports::{FundingEntity, FundingEvent};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub checked: usize,
    pub moved: usize,
    /// Links whose relationship Alpaca does not list.
    pub missing: usize,
}

impl BankLinks {
    /// Checks up to `limit` links that have waited on Alpaca for longer than `older_than`.
    pub async fn reconcile(
        &self,
        older_than: std::time::Duration,
        limit: u32,
    ) -> Result<ReconcileReport, CoreError> {
        let before = self.clock.now()
            - ChronoDuration::from_std(older_than).unwrap_or(ChronoDuration::minutes(1));
        let links = self.store.links_to_reconcile(before, limit).await?;
        let mut report = ReconcileReport::default();
        for link in links {
            let Some(relationship_id) = link.ach_relationship_id else {
                continue;
            };
            report.checked += 1;
            let relationships = match self.broker.list_ach_relationships(link.account_id).await {
                Ok(relationships) => relationships,
                Err(error) => {
                    tracing::warn!(bank_link_id = %link.id, "cannot reconcile the link: {error}");
                    continue;
                }
            };
            let reported = match relationships.into_iter().find(|r| r.id == relationship_id) {
                Some(relationship) => relationship.status,
                None if matches!(
                    link.status,
                    AchRelationshipStatus::CancelRequested | AchRelationshipStatus::CancelSent
                ) =>
                {
                    AchRelationshipStatus::Canceled
                }
                None => {
                    report.missing += 1;
                    tracing::error!(bank_link_id = %link.id, ach_relationship_id = %relationship_id, "Alpaca does not list the link's relationship");
                    metrics::counter!("funding_reconciler_missing_total", "resource" => "bank_link").increment(1);
                    continue;
                }
            };
            let observation = FundingEvent {
                event_id: String::new(),
                at: self.clock.now(),
                account_id: link.account_id,
                entity: FundingEntity::BankRelationship,
                entity_id: relationship_id.as_uuid(),
                status_from: None,
                status_to: reported.as_str().to_owned(),
                reason: None,
            };
            if let EventOutcome::Moved { from, to } =
                self.apply_status(&observation, "reconciler").await?
            {
                report.moved += 1;
                tracing::warn!(bank_link_id = %link.id, %from, %to, "the reconciler moved a link its events had not");
                metrics::counter!("funding_reconciler_moves_total", "resource" => "bank_link")
                    .increment(1);
            }
        }
        Ok(report)
    }
}
