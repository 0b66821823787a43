//! The lifecycles of ACH relationships and transfers: every status change goes through here, so
//! each one updates `updated_at`, bumps the entity's version (making older scheduled steps stale),
//! keeps the account's cash in line with COMPLETE transfers, and emits exactly one funding event.
//! Automatic progress: relationship QUEUED → APPROVED after the approval delay, CANCEL_REQUESTED →
//! CANCELED after the same delay, transfer QUEUED → SENT_TO_CLEARING → COMPLETE one step delay
//! apart (→ SETTLED later, when `settled_after_complete` is set). A transfer made while its
//! relationship is not APPROVED yet (Alpaca accepts it) stays QUEUED until the relationship is
//! APPROVED, as Alpaca's do in production. With `"gross"` `cash_withdrawable`, a withdrawal that
//! cash does not cover at one of its steps is REJECTED instead. A status set through control stops
//! automatic progress for that entity.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::{Change, EntityType};
use super::settings::{CashWithdrawable, INSUFFICIENT_FUNDS};
use super::store::{Direction, Relationship, SETTLED_TRANSFER, Transfer};
use crate::error::ControlError;
use crate::scheduler::{Due, Step};
use crate::state::World;

/// `now + delay`, saturating at the end of time.
fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl World {
    /// Stores a new QUEUED relationship, emits its first event and schedules its approval.
    pub(crate) fn create_relationship(&mut self, relationship: Relationship, now: DateTime<Utc>) {
        self.events.emit(
            now,
            Change {
                account_id: relationship.account_id,
                entity_id: relationship.id,
                entity_type: EntityType::BankRelationship,
                status_from: None,
                status_to: &relationship.status,
                reason: None,
            },
        );
        let due = after(now, self.settings.relationship_approval_delay);
        self.schedule.push(
            due,
            Step::ApproveRelationship,
            relationship.id,
            relationship.version,
        );
        self.alpaca.relationships.push(relationship);
    }

    /// Moves a relationship to `to`, returning its new version.
    pub(crate) fn change_relationship(
        &mut self,
        id: Uuid,
        to: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, ControlError> {
        let relationship = self
            .alpaca
            .relationship_mut(id)
            .ok_or(ControlError::RelationshipNotFound(id))?;
        let from = std::mem::replace(&mut relationship.status, to.to_owned());
        relationship.updated_at = now;
        relationship.version += 1;
        let version = relationship.version;
        let account_id = relationship.account_id;
        self.events.emit(
            now,
            Change {
                account_id,
                entity_id: id,
                entity_type: EntityType::BankRelationship,
                status_from: Some(&from),
                status_to: to,
                reason,
            },
        );
        if to == "APPROVED" {
            self.release_waiting_transfers(id, now);
        }
        Ok(version)
    }

    /// Schedules the first step of every QUEUED transfer of a relationship that was just
    /// approved (the steps of those already moving are stale or harmless: versions decide).
    fn release_waiting_transfers(&mut self, relationship_id: Uuid, now: DateTime<Utc>) {
        let due = after(now, self.settings.transfer_step_delay);
        let waiting: Vec<(Uuid, u64)> = self
            .alpaca
            .transfers
            .iter()
            .filter(|t| t.relationship_id == relationship_id && t.status == "QUEUED")
            .map(|t| (t.id, t.version))
            .collect();
        for (transfer_id, version) in waiting {
            self.schedule
                .push(due, Step::AdvanceTransfer, transfer_id, version);
        }
    }

    /// Whether the relationship a transfer was made on is APPROVED.
    fn relationship_approved(&self, relationship_id: Uuid) -> bool {
        self.alpaca
            .relationships
            .iter()
            .any(|r| r.id == relationship_id && r.status == "APPROVED")
    }

    /// DELETE: CANCEL_REQUESTED now, CANCELED after the approval delay.
    pub(crate) fn request_relationship_cancel(
        &mut self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), ControlError> {
        let version = self.change_relationship(id, "CANCEL_REQUESTED", None, now)?;
        let due = after(now, self.settings.relationship_approval_delay);
        self.schedule
            .push(due, Step::FinishRelationshipCancel, id, version);
        Ok(())
    }

    /// Stores a new QUEUED transfer, emits its first event and schedules its first step.
    pub(crate) fn create_transfer(&mut self, transfer: Transfer, now: DateTime<Utc>) {
        self.events.emit(
            now,
            Change {
                account_id: transfer.account_id,
                entity_id: transfer.id,
                entity_type: EntityType::Transfer,
                status_from: None,
                status_to: &transfer.status,
                reason: None,
            },
        );
        let due = after(now, self.settings.transfer_step_delay);
        self.schedule
            .push(due, Step::AdvanceTransfer, transfer.id, transfer.version);
        self.alpaca.transfers.push(transfer);
    }

    /// Moves a transfer to `to` (with `reason` as its new `reason`), settles cash, returns the
    /// new version.
    pub(crate) fn change_transfer(
        &mut self,
        id: Uuid,
        to: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, ControlError> {
        let transfer = self
            .alpaca
            .transfer_mut(id)
            .ok_or(ControlError::TransferNotFound(id))?;
        let from = std::mem::replace(&mut transfer.status, to.to_owned());
        transfer.reason = reason.map(str::to_owned);
        transfer.updated_at = now;
        transfer.version += 1;
        let version = transfer.version;
        let account_id = transfer.account_id;
        let should_apply = SETTLED_TRANSFER.contains(&transfer.status.as_str());
        let cash_delta = if should_apply == transfer.cash_applied {
            None
        } else {
            transfer.cash_applied = should_apply;
            let effect = transfer.cash_effect();
            Some(if should_apply { effect } else { -effect })
        };
        if let Some(delta) = cash_delta {
            let account = self.alpaca.account_mut(account_id);
            account.cash = account.cash.saturating_add(delta);
        }
        self.events.emit(
            now,
            Change {
                account_id,
                entity_id: id,
                entity_type: EntityType::Transfer,
                status_from: Some(&from),
                status_to: to,
                reason,
            },
        );
        Ok(version)
    }

    /// Applies one scheduled step if the entity has not changed since it was scheduled.
    pub(crate) fn apply_step(&mut self, due: Due, now: DateTime<Utc>) {
        match due.step {
            Step::ApproveRelationship | Step::FinishRelationshipCancel => {
                let current = self
                    .alpaca
                    .relationships
                    .iter()
                    .find(|r| r.id == due.entity)
                    .map(|r| (r.version, r.status.clone()));
                let (to, expected) = match due.step {
                    Step::ApproveRelationship => ("APPROVED", "QUEUED"),
                    _ => ("CANCELED", "CANCEL_REQUESTED"),
                };
                if current == Some((due.version, expected.to_owned())) {
                    let _ = self.change_relationship(due.entity, to, None, now);
                }
            }
            Step::AdvanceTransfer => self.advance_transfer(due, now),
            Step::SettleTransfer => {
                let current = self
                    .alpaca
                    .transfers
                    .iter()
                    .find(|t| t.id == due.entity)
                    .map(|t| (t.version, t.status.clone()));
                if current == Some((due.version, "COMPLETE".to_owned())) {
                    let _ = self.change_transfer(due.entity, "SETTLED", None, now);
                }
            }
        }
    }

    /// QUEUED → SENT_TO_CLEARING → COMPLETE (→ SETTLED later, if set), one step per call; a
    /// `"gross"` withdrawal that cash does not cover is REJECTED instead of moving on.
    fn advance_transfer(&mut self, due: Due, now: DateTime<Utc>) {
        let Some(transfer) = self.alpaca.transfers.iter().find(|t| t.id == due.entity) else {
            return;
        };
        if transfer.version != due.version {
            return;
        }
        let next = match transfer.status.as_str() {
            // Waits for the relationship's approval, which schedules it again.
            "QUEUED" if !self.relationship_approved(transfer.relationship_id) => return,
            "QUEUED" => "SENT_TO_CLEARING",
            "SENT_TO_CLEARING" => "COMPLETE",
            _ => return,
        };
        let settings = self.settings.alpaca;
        let uncovered = settings.cash_withdrawable == CashWithdrawable::Gross
            && transfer.direction == Direction::Outgoing
            && !self.alpaca.cash_covers(transfer);
        if uncovered {
            let _ = self.change_transfer(due.entity, "REJECTED", Some(INSUFFICIENT_FUNDS), now);
            return;
        }
        let Ok(version) = self.change_transfer(due.entity, next, None, now) else {
            return;
        };
        let (step, delay) = if next == "COMPLETE" {
            match settings.settled_after_complete {
                Some(delay) => (Step::SettleTransfer, delay),
                None => return,
            }
        } else {
            (Step::AdvanceTransfer, self.settings.transfer_step_delay)
        };
        self.schedule
            .push(after(now, delay), step, due.entity, version);
    }
}
