//! Changing banks (DESIGN §5, `replace_bank_link_id`). Alpaca keeps one active ACH relationship per
//! account, so the new link's work, once its public token is exchanged and its processor token made
//! (a bad token leaves the old link untouched), asks Alpaca to cancel the old link's relationship
//! and waits, visibly, until Alpaca shows it CANCELED (its event, or the reconciler) before it
//! creates the new one. The old link's Item is kept until the new link is approved or has ended
//! (see `LinkStatusStore::change_link_status`); if the new one fails, the account is left with
//! neither link, and the new link's reason says so.
//!
//! Every step is safe to repeat after a crash: the cancel is sent again only while the old link
//! still shows an active status. Alpaca may answer a repeated delete with success, with 404 once the
//! relationship is gone (taken as CANCELED), or with a refusal because it is cancelling it already:
//! a refusal is checked against Alpaca's list before it fails the new link.

use std::time::Duration;

use funding_domain::lifecycle::{self, Transition};
use funding_domain::{AchRelationshipStatus, BankLinkId};

use super::BankLinks;
use crate::engine::Stop;
use crate::error::CoreError;
use crate::model::BankLink;
use crate::ports::{Claim, LinkStatusChange, ProviderError, ProviderErrorKind};

/// How often the new link looks again while Alpaca cancels the old relationship.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Where the way to the new relationship stands.
pub(super) enum Way {
    /// Nothing active is left at Alpaca: create the new relationship.
    Clear,
    /// Alpaca refused to cancel the old relationship: the new link fails with this.
    Refused(ProviderError),
}

impl BankLinks {
    /// Cancels the relationship of the link `link` replaces and returns [`Way::Clear`] once Alpaca
    /// shows it gone; until then a [`Stop::Wait`] whose reason is the link's status reason.
    pub(super) async fn clear_the_way(
        &self,
        claim: &Claim,
        link: &BankLink,
        old_id: BankLinkId,
    ) -> Result<Way, Stop> {
        use AchRelationshipStatus::*;
        let old = self.load(old_id).await?;
        match old.status {
            Canceled | Rejected | Failed => return Ok(Way::Clear),
            CancelRequested | CancelSent => {
                return Err(self.wait_for_cancel(claim, link, &old).await?);
            }
            Creating => {
                return Err(Stop::Wait(
                    format!(
                        "waiting for bank link {old_id}, which this one replaces, to finish being created"
                    ),
                    LOOK_AGAIN,
                ));
            }
            _ => {}
        }
        let Some(relationship_id) = old.ach_relationship_id else {
            return Ok(Way::Clear);
        };
        match self
            .broker
            .delete_ach_relationship(old.account_id, relationship_id)
            .await
        {
            Ok(()) => {
                self.move_replaced(&old, link, CancelRequested).await?;
                Err(self.wait_for_cancel(claim, link, &old).await?)
            }
            Err(error) if error.kind == ProviderErrorKind::NotFound => {
                self.move_replaced(&old, link, Canceled).await?;
                Ok(Way::Clear)
            }
            Err(error) if error.is_refusal() => {
                // Alpaca may refuse to cancel a relationship it is cancelling already (our first
                // delete landed but its answer was lost): its own list says whether that is so.
                let listed = self
                    .broker
                    .list_ach_relationships(old.account_id)
                    .await
                    .map_err(Stop::provider)?;
                match listed.iter().find(|r| r.id == relationship_id) {
                    None => {
                        self.move_replaced(&old, link, Canceled).await?;
                        Ok(Way::Clear)
                    }
                    Some(found) if found.status == Canceled => {
                        self.move_replaced(&old, link, Canceled).await?;
                        Ok(Way::Clear)
                    }
                    Some(found) if matches!(found.status, CancelRequested | CancelSent) => {
                        self.move_replaced(&old, link, CancelRequested).await?;
                        Err(self.wait_for_cancel(claim, link, &old).await?)
                    }
                    Some(_) => Ok(Way::Refused(error)),
                }
            }
            Err(error) => Err(Stop::provider(error)),
        }
    }

    async fn wait_for_cancel(
        &self,
        claim: &Claim,
        link: &BankLink,
        old: &BankLink,
    ) -> Result<Stop, Stop> {
        let reason = format!(
            "changing banks: waiting for Alpaca to cancel the ACH relationship of bank link {}, which this one replaces (Alpaca keeps one active relationship per account)",
            old.id
        );
        if link.status_reason.as_deref() != Some(reason.as_str()) {
            self.statuses
                .note_creating_waiting(claim, link.id, &reason)
                .await?;
        }
        Ok(Stop::Wait(reason, LOOK_AGAIN))
    }

    /// Moves the replaced link (not under this work's fence: conditioned on its status, as an
    /// event's move is), keeping its Item until the replacement settles.
    async fn move_replaced(
        &self,
        old: &BankLink,
        by: &BankLink,
        to: AchRelationshipStatus,
    ) -> Result<(), Stop> {
        if let Ok(Transition::Moved { from, to }) = lifecycle::apply(&old.status, to) {
            let change = LinkStatusChange {
                from,
                to: to.clone(),
                reason: Some(format!("replaced by bank link {}", by.id)),
                source: "api:replace".into(),
                event_id: None,
                at: self.clock.now(),
            };
            if self
                .statuses
                .change_link_status(old.id, change, false)
                .await?
            {
                tracing::info!(bank_link_id = %old.id, replaced_by = %by.id, %to, "the replaced bank link moved");
                metrics::counter!("funding_bank_link_status_changes_total", "to" => to.as_str().to_owned()).increment(1);
            }
        }
        Ok(())
    }

    /// What a failing replacement adds to its reason: whether the account is now left without an
    /// active link.
    pub(super) async fn replacement_note(&self, link: &BankLink) -> Result<String, CoreError> {
        let Some(old_id) = link.replaces else {
            return Ok(String::new());
        };
        let old = self.load(old_id).await?;
        use AchRelationshipStatus::*;
        Ok(match old.status {
            CancelRequested | CancelSent | Canceled => format!(
                "; bank link {old_id}, which it was to replace, was cancelled, so the account has no active bank link: link a bank again"
            ),
            _ => format!("; bank link {old_id}, which it was to replace, is unchanged"),
        })
    }
}
