//! The reconciler for links: streams miss things, so a link that waits on Alpaca (QUEUED, PENDING,
//! CANCEL_REQUESTED, …) and has not moved for longer than expected is looked up at Alpaca, and any
//! difference is applied through the same transition table as an event (source `reconciler`). A
//! relationship Alpaca no longer lists while we cancel it is CANCELED. Alpaca has no GET by id for a
//! relationship: each account's list is asked once a pass for all of its due links.

use funding_domain::{AchRelationshipStatus, BankLinkId};

use super::BankLinks;
use crate::error::CoreError;
use crate::event_outcome::EventOutcome;
use crate::ports::{FundingEntity, FundingEvent, Unresolved};
use crate::reconcile::{
    Pacer, ReconcileReport, ReconcileSettings, ago, by_account, publish_unresolved,
};

impl BankLinks {
    /// Looks up, at Alpaca, up to `settings.pass_size` links that have waited on Alpaca for longer
    /// than `settings.after` (those looked at least recently first), one list per account, each
    /// list in its turn of `pacer`; applies any difference and records what stays unresolved.
    pub async fn reconcile(
        &self,
        settings: &ReconcileSettings,
        pacer: &Pacer,
    ) -> Result<ReconcileReport, CoreError> {
        let now = self.clock.now();
        let before = ago(now, settings.after);
        let stuck_before = ago(now, settings.stuck_after);
        let links = self
            .store
            .links_to_reconcile(before, settings.pass_size)
            .await?;
        let mut report = ReconcileReport::default();
        let mut checks: Vec<(BankLinkId, Option<Unresolved>)> = Vec::with_capacity(links.len());
        for (account_id, links) in by_account(links, |link| link.account_id) {
            pacer.wait().await;
            report.lookups += 1;
            let relationships = match self.broker.list_ach_relationships(account_id).await {
                Ok(relationships) => relationships,
                Err(error) => {
                    tracing::warn!(%account_id, links = links.len(), "cannot reconcile the account's links: {error}");
                    for link in links {
                        report.checked += 1;
                        checks.push((link.id, Some(Unresolved::LookupFailed)));
                    }
                    continue;
                }
            };
            for link in links {
                let Some(relationship_id) = link.ach_relationship_id else {
                    continue;
                };
                report.checked += 1;
                let found = relationships.iter().find(|r| r.id == relationship_id);
                let reported = match found {
                    Some(relationship) => relationship.status.clone(),
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
                        checks.push((link.id, Some(Unresolved::Missing)));
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
                let unresolved = match self.apply_status(&observation, "reconciler").await? {
                    EventOutcome::Moved { from, to } => {
                        report.moved += 1;
                        tracing::warn!(bank_link_id = %link.id, %from, %to, "the reconciler moved a link its events had not");
                        metrics::counter!("funding_reconciler_moves_total", "resource" => "bank_link")
                            .increment(1);
                        None
                    }
                    EventOutcome::UnknownStatus(_) => Some(Unresolved::UnknownStatus),
                    _ if link.updated_at <= stuck_before => Some(Unresolved::Unchanged),
                    _ => None,
                };
                checks.push((link.id, unresolved));
            }
        }
        self.store.record_link_checks(&checks).await?;
        report.unresolved = self.store.unresolved_links().await?;
        publish_unresolved("bank_link", &report.unresolved);
        Ok(report)
    }
}
