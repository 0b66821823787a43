//! The review queue (DESIGN §11): a transfer the checks sent to REVIEW waits in PENDING_REVIEW;
//! `ApproveReview` sends it (back to SUBMITTING, its submit work pending again), `RejectReview`
//! ends it FAILED, and one left unreviewed past `review_expiry` ends FAILED by itself. A bank
//! transfer of the Plaid rail waits in `pending_review` the same way and ends REFUSED instead of
//! FAILED. Each decision is an audit event naming who made it, written with the resource's move.

use funding_domain::{
    AccountId, AlpacaTransferStatus, BankTransferId, PlaidBankTransferStatus, TransferId,
    ValidationErrors,
};
use uuid::Uuid;

use super::account::note;
use super::{REVIEW_EXPIRED, REVIEW_REJECTED, RISK_FAILURE_PREFIX, Risk};
use crate::error::CoreError;
use crate::paging::{PageLimits, read_page};
use crate::ports::{
    AuditEvent, AuditFilter, BankTransferChange, BankTransferReviewDecision, NewAuditEvent,
    NewWork, Review, ReviewDecision, ReviewState, TransferChange, WorkKind, alpaca_account_key,
};

/// The review resource of a bank transfer on the Plaid rail.
const BANK_TRANSFER: &str = "bank_transfer";

/// One page of reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewPage {
    pub reviews: Vec<Review>,
    pub next_page_token: String,
}

/// One page of audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_page_token: String,
}

/// Who the service is in the audit trail, for what it does by itself.
pub const SERVICE_ACTOR: &str = "service";

fn parse_review_id(errors: &mut ValidationErrors, text: &str) -> Option<Uuid> {
    match Uuid::parse_str(text.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(funding_domain::ValidationError::new(
                "review_id",
                "must be a review id (a UUID, from ListReviews)",
            ));
            None
        }
    }
}

fn optional_account(errors: &mut ValidationErrors, text: &str) -> Option<AccountId> {
    if text.is_empty() {
        return None;
    }
    errors.check(AccountId::parse(text))
}

impl Risk {
    /// Under the submit work's fence: holds `transfer` in PENDING_REVIEW with `decision` and opens
    /// its review (expiring after `review_expiry`), with an audit event by the service; whether it
    /// moved.
    pub(crate) async fn hold_for_review(
        &self,
        claim: &crate::ports::Claim,
        transfer: &crate::model::Transfer,
        decision: &funding_domain::risk::Decision,
    ) -> Result<bool, CoreError> {
        let now = self.clock.now();
        let expiry = chrono::Duration::from_std(self.settings.review_expiry)
            .unwrap_or(chrono::Duration::days(3));
        let review = Review {
            id: Uuid::now_v7(),
            resource: "transfer".to_owned(),
            resource_id: transfer.id.as_uuid(),
            account_id: Some(transfer.account_id),
            state: ReviewState::Open,
            rule: decision.rule.as_str().to_owned(),
            reason: decision.reason.map(str::to_owned),
            detail: decision.detail.clone(),
            amount: Some(transfer.amount.to_string()),
            created_at: now,
            expires_at: now + expiry,
            decided_at: None,
            decided_by: None,
            note: None,
        };
        let audit = NewAuditEvent {
            actor: SERVICE_ACTOR.to_owned(),
            action: "review.opened".to_owned(),
            resource: format!("transfers/{}", transfer.id),
            account_id: Some(transfer.account_id),
            reason: decision.detail.clone(),
            details: serde_json::json!({
                "review_id": review.id.to_string(),
                "account_id": transfer.account_id.to_string(),
                "rule": review.rule,
                "reason": review.reason,
                "amount": review.amount,
            }),
            at: now,
        };
        let change = TransferChange {
            from: AlpacaTransferStatus::Submitting,
            to: AlpacaTransferStatus::PendingReview,
            reason: Some(format!(
                "held for review ({}): {}",
                decision.rule.as_str(),
                decision.detail
            )),
            ach_return_code: None,
            source: format!("risk:{}", decision.rule.as_str()),
            event_id: None,
            at: now,
        };
        Ok(self
            .store
            .hold_transfer_for_review(
                claim,
                transfer.id,
                change,
                &crate::model::RiskDecision::from(decision),
                review,
                audit,
            )
            .await?)
    }

    /// Under the submit work's fence: holds a bank transfer of the Plaid rail in PENDING_REVIEW
    /// with `decision` and opens its review (of no account: the rail's bank transfers carry none),
    /// expiring after `review_expiry`, with an audit event by the service; whether it moved.
    pub(crate) async fn hold_bank_transfer_for_review(
        &self,
        claim: &crate::ports::Claim,
        transfer: &crate::model::BankTransfer,
        decision: &funding_domain::risk::Decision,
    ) -> Result<bool, CoreError> {
        let now = self.clock.now();
        let expiry = chrono::Duration::from_std(self.settings.review_expiry)
            .unwrap_or(chrono::Duration::days(3));
        let amount = transfer.request.amount().to_string();
        let review = Review {
            id: Uuid::now_v7(),
            resource: BANK_TRANSFER.to_owned(),
            resource_id: transfer.id.as_uuid(),
            account_id: None,
            state: ReviewState::Open,
            rule: decision.rule.as_str().to_owned(),
            reason: decision.reason.map(str::to_owned),
            detail: decision.detail.clone(),
            amount: Some(amount.clone()),
            created_at: now,
            expires_at: now + expiry,
            decided_at: None,
            decided_by: None,
            note: None,
        };
        let audit = NewAuditEvent {
            actor: SERVICE_ACTOR.to_owned(),
            action: "review.opened".to_owned(),
            resource: format!("bank_transfers/{}", transfer.id),
            account_id: None,
            reason: decision.detail.clone(),
            details: serde_json::json!({
                "review_id": review.id.to_string(),
                "type": transfer.request.transfer_type().as_str(),
                "rule": review.rule,
                "reason": review.reason,
                "amount": amount,
            }),
            at: now,
        };
        let change = BankTransferChange {
            from: PlaidBankTransferStatus::Submitting,
            to: PlaidBankTransferStatus::PendingReview,
            cancellable: false,
            failure: None,
            reason: Some(format!(
                "held for review ({}): {}",
                decision.rule.as_str(),
                decision.detail
            )),
            failure_code: None,
            source: format!("risk:{}", decision.rule.as_str()),
            event_id: None,
            at: now,
        };
        Ok(self
            .store
            .hold_bank_transfer_for_review(
                claim,
                transfer.id,
                change,
                &crate::model::RiskDecision::from(decision),
                review,
                audit,
            )
            .await?)
    }

    /// Opens the review of a link whose owner name the check sent to REVIEW (the link's work waits
    /// on it), with an audit event by the service. A second call for the same link changes
    /// nothing.
    pub(crate) async fn open_link_review(
        &self,
        link: &crate::model::BankLink,
        decision: &funding_domain::risk::Decision,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let expiry = chrono::Duration::from_std(self.settings.review_expiry)
            .unwrap_or(chrono::Duration::days(3));
        let review = Review {
            id: Uuid::now_v7(),
            resource: "bank_link".to_owned(),
            resource_id: link.id.as_uuid(),
            account_id: Some(link.account_id),
            state: ReviewState::Open,
            rule: decision.rule.as_str().to_owned(),
            reason: decision.reason.map(str::to_owned),
            detail: decision.detail.clone(),
            amount: None,
            created_at: now,
            expires_at: now + expiry,
            decided_at: None,
            decided_by: None,
            note: None,
        };
        let audit = NewAuditEvent {
            actor: SERVICE_ACTOR.to_owned(),
            action: "review.opened".to_owned(),
            resource: format!("bank_links/{}", link.id),
            account_id: Some(link.account_id),
            reason: decision.detail.clone(),
            details: serde_json::json!({
                "review_id": review.id.to_string(),
                "account_id": link.account_id.to_string(),
                "rule": review.rule,
                "reason": review.reason,
            }),
            at: now,
        };
        self.store.open_review(review, audit).await?;
        Ok(())
    }

    /// Reviews, oldest first; optionally only those in `state` and of one account.
    pub async fn list_reviews(
        &self,
        state: Option<ReviewState>,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<ReviewPage, CoreError> {
        let mut errors = ValidationErrors::new();
        let account = optional_account(&mut errors, account_id);
        let (size, after) = read_page(
            &mut errors,
            page_size,
            page_token,
            PageLimits {
                default: 50,
                max: 500,
            },
            |text| {
                Uuid::parse_str(text).map_err(|_| {
                    funding_domain::ValidationError::new(
                        "page_token",
                        "is not one this service gave",
                    )
                })
            },
        );
        errors.into_result()?;
        let (Some(size), Some(after)) = (size, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let (reviews, next) = self.store.list_reviews(state, account, size, after).await?;
        Ok(ReviewPage {
            reviews,
            next_page_token: next.map(|id| id.to_string()).unwrap_or_default(),
        })
    }

    /// Audit events in the order they were written; optionally of one account or one resource.
    pub async fn list_audit_events(
        &self,
        account_id: &str,
        resource: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<AuditPage, CoreError> {
        let mut errors = ValidationErrors::new();
        let account = optional_account(&mut errors, account_id);
        let (size, after) = read_page(
            &mut errors,
            page_size,
            page_token,
            PageLimits {
                default: 100,
                max: 1000,
            },
            |text| {
                text.parse::<i64>().map_err(|_| {
                    funding_domain::ValidationError::new(
                        "page_token",
                        "is not one this service gave",
                    )
                })
            },
        );
        if resource.len() > 200 {
            errors.push(funding_domain::ValidationError::new(
                "resource",
                "must be at most 200 characters (e.g. transfers/<id>)",
            ));
        }
        errors.into_result()?;
        let (Some(size), Some(after)) = (size, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let filter = AuditFilter {
            account_id: account,
            resource: (!resource.is_empty()).then(|| resource.to_owned()),
        };
        let (events, next) = self.store.list_audit_events(filter, size, after).await?;
        Ok(AuditPage {
            events,
            next_page_token: next.map(|seq| seq.to_string()).unwrap_or_default(),
        })
    }

    /// Approves an open review: its transfer (or bank transfer) is sent, its link goes on.
    /// Errors: `NotFound`; `FailedPrecondition` `REVIEW_NOT_OPEN` for a review already decided or
    /// expired, `ACCOUNT_FROZEN` while the account's funding is frozen.
    pub async fn approve_review(
        &self,
        caller: &str,
        review_id: &str,
        note_text: &str,
    ) -> Result<Review, CoreError> {
        self.decide(caller, review_id, note_text, ReviewState::Approved)
            .await
    }

    /// Rejects an open review: its transfer ends FAILED, its bank transfer REFUSED
    /// (`REVIEW_REJECTED`), unsent.
    pub async fn reject_review(
        &self,
        caller: &str,
        review_id: &str,
        note_text: &str,
    ) -> Result<Review, CoreError> {
        self.decide(caller, review_id, note_text, ReviewState::Rejected)
            .await
    }

    async fn decide(
        &self,
        caller: &str,
        review_id: &str,
        note_text: &str,
        to: ReviewState,
    ) -> Result<Review, CoreError> {
        let mut errors = ValidationErrors::new();
        let id = parse_review_id(&mut errors, review_id);
        let note = note(&mut errors, "note", note_text);
        errors.into_result()?;
        let (Some(id), Some(note)) = (id, note) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let review = self
            .store
            .get_review(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "review",
                id: id.to_string(),
            })?;
        if review.state != ReviewState::Open {
            return Err(not_open(&review));
        }
        if to == ReviewState::Approved
            && let Some(account_id) = review.account_id
            && let Some(freeze) = self.frozen(account_id).await?
        {
            return Err(CoreError::FailedPrecondition {
                reason: funding_domain::risk::ACCOUNT_FROZEN,
                subject: format!("accounts/{account_id}"),
                message: format!(
                    "the account's funding is frozen ({}): unfreeze it before approving its transfers",
                    freeze.reason
                ),
            });
        }
        if !self.close(&review, to, caller, Some(note)).await? {
            let now = self.store.get_review(id).await?.unwrap_or(review);
            return Err(not_open(&now));
        }
        if to == ReviewState::Approved {
            self.engine.wake();
        }
        Ok(self.store.get_review(id).await?.unwrap_or(Review {
            state: to,
            ..review
        }))
    }

    /// Closes `review` as `to` with its transfer's move; whether it was still open.
    async fn close(
        &self,
        review: &Review,
        to: ReviewState,
        actor: &str,
        note: Option<String>,
    ) -> Result<bool, CoreError> {
        self.close_as(review, to, actor, note, false).await
    }

    /// As [`close`](Self::close); `cancelled`: the transfer's own caller cancelled it (CANCELED
    /// rather than FAILED, the review closed as rejected).
    async fn close_as(
        &self,
        review: &Review,
        to: ReviewState,
        actor: &str,
        note: Option<String>,
        cancelled: bool,
    ) -> Result<bool, CoreError> {
        if review.resource == "bank_link" {
            return self.close_link_review(review, to, actor, note).await;
        }
        if review.resource == BANK_TRANSFER {
            return self
                .close_bank_transfer_review(review, to, actor, note, cancelled)
                .await;
        }
        if review.resource != "transfer" {
            return Err(CoreError::Internal(format!(
                "a review of a {} cannot be decided by this version",
                review.resource
            )));
        }
        let transfer = TransferId::from_uuid(review.resource_id);
        let now = self.clock.now();
        let said = note.clone().unwrap_or_default();
        let Closing {
            outcome,
            reason,
            failure_code,
            source,
            action,
        } = closing(review, to, actor, &said, cancelled);
        let target = match outcome {
            Outcome::Cancelled => AlpacaTransferStatus::Canceled,
            Outcome::Resubmitted => AlpacaTransferStatus::Submitting,
            Outcome::Ended => AlpacaTransferStatus::Failed,
        };
        let work = (to == ReviewState::Approved).then(|| NewWork {
            kind: WorkKind::TransferSubmit,
            subject_id: transfer.as_uuid(),
            ordering_key: review.account_id.map(alpaca_account_key),
            max_attempts: self.settings.submit_max_attempts.max(1),
        });
        let decision = ReviewDecision {
            review_id: review.id,
            to,
            decided_by: actor.to_owned(),
            note: note.clone(),
            at: now,
            transfer,
            change: TransferChange {
                from: AlpacaTransferStatus::PendingReview,
                to: target,
                reason: Some(reason),
                ach_return_code: None,
                source: source.to_owned(),
                event_id: None,
                at: now,
            },
            failure_code,
            work,
            audit: NewAuditEvent {
                actor: actor.to_owned(),
                action: action.to_owned(),
                resource: format!("transfers/{transfer}"),
                account_id: review.account_id,
                reason: note.unwrap_or_else(|| "unreviewed past its expiry".to_owned()),
                details: serde_json::json!({
                    "review_id": review.id.to_string(),
                    "account_id": review.account_id.map(|id| id.to_string()),
                    "rule": review.rule,
                    "reason": review.reason,
                    "amount": review.amount,
                }),
                at: now,
            },
        };
        let closed = self.store.decide_review(decision).await?;
        if closed {
            tracing::info!(review_id = %review.id, transfer_id = %transfer, actor, state = to.as_str(), "review closed");
            metrics::counter!("funding_reviews_closed_total", "state" => to.as_str()).increment(1);
        }
        Ok(closed)
    }

    /// Closes a bank transfer's review with its move out of PENDING_REVIEW: approved, back to
    /// SUBMITTING with its submit work armed again (as its create wrote it); rejected or expired,
    /// REFUSED (`service/risk/REVIEW_REJECTED`, `service/risk/REVIEW_EXPIRED`), unsent; cancelled by
    /// its caller, CANCELLED. Whether the review was still open.
    async fn close_bank_transfer_review(
        &self,
        review: &Review,
        to: ReviewState,
        actor: &str,
        note: Option<String>,
        cancelled: bool,
    ) -> Result<bool, CoreError> {
        let transfer = BankTransferId::from_uuid(review.resource_id);
        let now = self.clock.now();
        let said = note.clone().unwrap_or_default();
        let Closing {
            outcome,
            reason,
            failure_code,
            source,
            action,
        } = closing(review, to, actor, &said, cancelled);
        let target = match outcome {
            Outcome::Cancelled => PlaidBankTransferStatus::Cancelled,
            Outcome::Resubmitted => PlaidBankTransferStatus::Submitting,
            Outcome::Ended => PlaidBankTransferStatus::Refused,
        };
        // The same work the create wrote: one submit at a time per bank transfer, before its cancel.
        let work = (to == ReviewState::Approved).then(|| NewWork {
            kind: WorkKind::BankTransferSubmit,
            subject_id: transfer.as_uuid(),
            ordering_key: Some(crate::bank_transfers::ordering_key(transfer)),
            max_attempts: self.settings.bank_transfer_submit_max_attempts.max(1),
        });
        let decision = BankTransferReviewDecision {
            review_id: review.id,
            to,
            decided_by: actor.to_owned(),
            note: note.clone(),
            at: now,
            bank_transfer: transfer,
            change: BankTransferChange {
                from: PlaidBankTransferStatus::PendingReview,
                to: target.clone(),
                cancellable: false,
                failure: None,
                reason: Some(reason),
                failure_code,
                source: source.to_owned(),
                event_id: None,
                at: now,
            },
            work,
            audit: NewAuditEvent {
                actor: actor.to_owned(),
                action: action.to_owned(),
                resource: format!("bank_transfers/{transfer}"),
                account_id: None,
                reason: note.unwrap_or_else(|| "unreviewed past its expiry".to_owned()),
                details: serde_json::json!({
                    "review_id": review.id.to_string(),
                    "rule": review.rule,
                    "reason": review.reason,
                    "amount": review.amount,
                }),
                at: now,
            },
        };
        let closed = self.store.decide_bank_transfer_review(decision).await?;
        if closed {
            tracing::info!(review_id = %review.id, bank_transfer_id = %transfer, actor, state = to.as_str(), "review closed");
            metrics::counter!("funding_reviews_closed_total", "state" => to.as_str()).increment(1);
            metrics::counter!("funding_bank_transfer_status_changes_total", "to" => target.as_str().to_owned()).increment(1);
        }
        Ok(closed)
    }

    /// Closes a link's review: the link's waiting work is made due, and goes on (approved) or
    /// fails (`NAME_MISMATCH`) when it next runs.
    async fn close_link_review(
        &self,
        review: &Review,
        to: ReviewState,
        actor: &str,
        note: Option<String>,
    ) -> Result<bool, CoreError> {
        let now = self.clock.now();
        let action = match to {
            ReviewState::Approved => "review.approved",
            ReviewState::Rejected => "review.rejected",
            _ => "review.expired",
        };
        let audit = NewAuditEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            resource: format!("bank_links/{}", review.resource_id),
            account_id: review.account_id,
            reason: note
                .clone()
                .unwrap_or_else(|| "unreviewed past its expiry".to_owned()),
            details: serde_json::json!({
                "review_id": review.id.to_string(),
                "account_id": review.account_id.map(|id| id.to_string()),
                "rule": review.rule,
                "reason": review.reason,
            }),
            at: now,
        };
        let closed = self
            .store
            .close_link_review(review.id, review.resource_id, to, actor, note, now, audit)
            .await?;
        if closed {
            self.engine.wake();
        }
        Ok(closed)
    }

    /// Cancels a transfer held for review (CancelTransfer): CANCELED, its review closed; `false`
    /// when it is no longer held (approved, rejected or expired meanwhile).
    pub(crate) async fn cancel_held(
        &self,
        transfer: &crate::model::Transfer,
    ) -> Result<bool, CoreError> {
        let Some(review) = self
            .store
            .review_of("transfer", transfer.id.as_uuid())
            .await?
            .filter(|review| review.state == ReviewState::Open)
        else {
            return Ok(false);
        };
        self.close_as(
            &review,
            ReviewState::Rejected,
            &transfer.caller,
            Some("cancelled by the transfer's caller".to_owned()),
            true,
        )
        .await
    }

    /// Cancels a bank transfer held for review (CancelBankTransfer): CANCELLED, its review closed;
    /// `false` when it is no longer held (approved, rejected or expired meanwhile).
    pub(crate) async fn cancel_held_bank_transfer(
        &self,
        transfer: &crate::model::BankTransfer,
    ) -> Result<bool, CoreError> {
        let Some(review) = self
            .store
            .review_of(BANK_TRANSFER, transfer.id.as_uuid())
            .await?
            .filter(|review| review.state == ReviewState::Open)
        else {
            return Ok(false);
        };
        self.close_as(
            &review,
            ReviewState::Rejected,
            &transfer.caller,
            Some("cancelled by the transfer's caller".to_owned()),
            true,
        )
        .await
    }

    /// Ends every open review whose expiry has passed (their transfers FAILED and bank transfers
    /// REFUSED, `REVIEW_EXPIRED`; their links failed when their work next runs); how many it
    /// ended. Run by the reconciler's loop.
    pub async fn expire_reviews(&self) -> Result<u32, CoreError> {
        let mut ended = 0;
        loop {
            let due = self.store.expired_reviews(self.clock.now(), 100).await?;
            if due.is_empty() {
                return Ok(ended);
            }
            let mut progressed = false;
            for review in &due {
                if self
                    .close(review, ReviewState::Expired, SERVICE_ACTOR, None)
                    .await?
                {
                    ended += 1;
                    progressed = true;
                }
            }
            if !progressed || due.len() < 100 {
                return Ok(ended);
            }
        }
    }
}

fn not_open(review: &Review) -> CoreError {
    CoreError::FailedPrecondition {
        reason: "REVIEW_NOT_OPEN",
        subject: format!("reviews/{}", review.id),
        message: format!(
            "the review is {}{}: only an open review can be approved or rejected",
            review.state.as_str(),
            review
                .decided_by
                .as_deref()
                .map(|by| format!(" (by {by})"))
                .unwrap_or_default()
        ),
    }
}

/// Where a transfer held for review goes when its review closes, on either rail.
enum Outcome {
    /// Cancelled by its caller while held.
    Cancelled,
    /// Approved: back to SUBMITTING, its submit work armed again.
    Resubmitted,
    /// Rejected or expired: ended unsent (FAILED on Alpaca's rail, REFUSED on Plaid's).
    Ended,
}

/// How a transfer's review closes: the outcome, the status reason, the failure code, the
/// history's source and the audit action.
struct Closing {
    outcome: Outcome,
    reason: String,
    failure_code: Option<String>,
    source: &'static str,
    action: &'static str,
}

fn closing(review: &Review, to: ReviewState, actor: &str, said: &str, cancelled: bool) -> Closing {
    let (outcome, reason, failure_code, source, action) = match to {
        ReviewState::Rejected if cancelled => (
            Outcome::Cancelled,
            "cancelled while held for review".to_owned(),
            None,
            "api:cancel",
            "review.cancelled",
        ),
        ReviewState::Approved => (
            Outcome::Resubmitted,
            format!("approved in review by {actor}: {said}"),
            None,
            "review:approved",
            "review.approved",
        ),
        ReviewState::Rejected => (
            Outcome::Ended,
            format!("rejected in review by {actor}: {said}"),
            Some(format!("{RISK_FAILURE_PREFIX}{REVIEW_REJECTED}")),
            "review:rejected",
            "review.rejected",
        ),
        ReviewState::Expired | ReviewState::Open => (
            Outcome::Ended,
            format!(
                "its review expired unreviewed ({} held it: {})",
                review.rule, review.detail
            ),
            Some(format!("{RISK_FAILURE_PREFIX}{REVIEW_EXPIRED}")),
            "review:expired",
            "review.expired",
        ),
    };
    Closing {
        outcome,
        reason,
        failure_code,
        source,
        action,
    }
}
