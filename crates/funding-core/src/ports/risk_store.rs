//! What the risk controls (DESIGN §11) need from storage: an account's frozen state and limit
//! overrides, what its decided transfers have used of a window, the review queue, and the audit
//! trail. Every write that changes something appends its audit event in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::risk::limits::{FundingLimits, PastTransfer};
use funding_domain::{AccountId, BankTransferId, TransferId};
use uuid::Uuid;

use super::{BankTransferChange, Claim, NewWork, StoreError, TransferChange};
use crate::model::RiskDecision;

/// A rail and a direction on it: what limits are set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FundingFlow {
    AlpacaDeposit,
    AlpacaWithdrawal,
    PlaidDebit,
    PlaidCredit,
}

impl FundingFlow {
    /// Every flow, in the order they are shown.
    pub const ALL: [FundingFlow; 4] = [
        Self::AlpacaDeposit,
        Self::AlpacaWithdrawal,
        Self::PlaidDebit,
        Self::PlaidCredit,
    ];

    /// `alpaca` or `plaid`.
    pub fn rail(&self) -> &'static str {
        match self {
            Self::AlpacaDeposit | Self::AlpacaWithdrawal => "alpaca",
            Self::PlaidDebit | Self::PlaidCredit => "plaid",
        }
    }

    /// `deposit`, `withdrawal` (Alpaca), `debit`, `credit` (Plaid).
    pub fn direction(&self) -> &'static str {
        match self {
            Self::AlpacaDeposit => "deposit",
            Self::AlpacaWithdrawal => "withdrawal",
            Self::PlaidDebit => "debit",
            Self::PlaidCredit => "credit",
        }
    }

    /// The flow of a rail and direction as stored.
    pub fn parse(rail: &str, direction: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|flow| flow.rail() == rail && flow.direction() == direction)
    }
}

/// Why and by whom an account's funding is frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFreeze {
    pub reason: String,
    /// The client that froze it, or `service` for the service itself.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// One account's limits for one flow, set through `SetAccountLimits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOverride {
    pub flow: FundingFlow,
    pub limits: FundingLimits,
    pub updated_by: String,
    pub reason: String,
    pub updated_at: DateTime<Utc>,
}

/// What is kept per account for the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountControls {
    pub frozen: Option<AccountFreeze>,
    pub overrides: Vec<LimitOverride>,
}

impl AccountControls {
    /// The account's override for `flow`, if any.
    pub fn override_for(&self, flow: FundingFlow) -> Option<&LimitOverride> {
        self.overrides.iter().find(|limit| limit.flow == flow)
    }
}

/// An audit event to append: who did what to which resource, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// The calling client's name, or `service` for what the service did itself.
    pub actor: String,
    /// What happened, e.g. `limits.set`, `review.approved`, `account.frozen`.
    pub action: String,
    /// The resource it happened to, e.g. `accounts/<id>`, `transfers/<id>`.
    pub resource: String,
    pub account_id: Option<AccountId>,
    /// Why, in the actor's words (an operator's note, the rule that decided).
    pub reason: String,
    /// What changed, as JSON.
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// An audit event as stored: numbered without gaps, chained by hash to the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub account_id: Option<AccountId>,
    pub reason: String,
    /// JSON text, as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// What its hash covers, for `funding_domain::audit::verify_chain` (with `hash`).
    pub fn chain_fields(&self) -> funding_domain::audit::AuditFields<'_> {
        funding_domain::audit::AuditFields {
            sequence: self.seq,
            at_ms: self.at.timestamp_millis(),
            actor: &self.actor,
            action: &self.action,
            resource: &self.resource,
            reason: &self.reason,
            details: &self.details,
        }
    }
}

/// Which audit events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub account_id: Option<AccountId>,
    /// Exactly this resource (`transfers/<id>`).
    pub resource: Option<String>,
}

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    Open,
    Approved,
    Rejected,
    Expired,
}

impl ReviewState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Approved, Self::Rejected, Self::Expired]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A transfer, a bank transfer or a link held for an operator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: Uuid,
    /// `transfer`, `bank_transfer` or `bank_link`.
    pub resource: String,
    pub resource_id: Uuid,
    pub account_id: Option<AccountId>,
    pub state: ReviewState,
    /// The rule that sent it to review (`balance`, `daily_limit`, …).
    pub rule: String,
    /// The reason code it would have been refused with (`INSUFFICIENT_BANK_BALANCE`, …).
    pub reason: Option<String>,
    /// What the rule saw, in words.
    pub detail: String,
    pub amount: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The client that approved or rejected it (`service` when it expired).
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

/// An operator's (or the expiry's) decision on an open review of a transfer, written with the
/// transfer's move out of PENDING_REVIEW, its work when it is sent, and the audit event.
#[derive(Debug, Clone)]
pub struct ReviewDecision {
    pub review_id: Uuid,
    pub to: ReviewState,
    pub decided_by: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub transfer: TransferId,
    /// PENDING_REVIEW → SUBMITTING (approved) or FAILED (rejected, expired).
    pub change: TransferChange,
    pub failure_code: Option<String>,
    /// The submit work, when approved.
    pub work: Option<NewWork>,
    pub audit: NewAuditEvent,
}

/// A decision on an open review of a bank transfer (the Plaid rail): an operator's, the expiry's,
/// or its caller's cancel; written with the bank transfer's move out of PENDING_REVIEW, its
/// submit work when it is sent, and the audit event.
#[derive(Debug, Clone)]
pub struct BankTransferReviewDecision {
    pub review_id: Uuid,
    pub to: ReviewState,
    pub decided_by: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub bank_transfer: BankTransferId,
    /// PENDING_REVIEW → SUBMITTING (approved), REFUSED (rejected, expired; its failure code
    /// `service/risk/<REASON>`) or CANCELLED (its caller cancelled it).
    pub change: BankTransferChange,
    /// The submit work, when approved.
    pub work: Option<NewWork>,
    pub audit: NewAuditEvent,
}

#[async_trait]
pub trait RiskStore: Send + Sync + 'static {
    /// The account's frozen state and limit overrides (empty for an account never set).
    async fn account_controls(&self, account_id: AccountId) -> Result<AccountControls, StoreError>;

    /// The account's transfers of `flow` that count against its limits, created since `since`:
    /// decided (accepted, or held for review) and not ended without moving money (FAILED,
    /// CANCELED, REJECTED, EXPIRED) or returned. Amounts in cents.
    async fn limit_usage(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
        since: DateTime<Utc>,
    ) -> Result<Vec<PastTransfer>, StoreError>;

    /// What the account's decided transfers of `flow` still in flight (not yet COMPLETE or ended)
    /// amount to, in cents.
    async fn in_flight_amount(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
    ) -> Result<i64, StoreError>;

    /// Sets (or, with no limit at all, removes) the account's override for `flow`, with `audit`.
    async fn set_account_limits(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
        limits: FundingLimits,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError>;

    /// Freezes (`Some`) or unfreezes (`None`) the account's funding, with `audit`; whether it
    /// changed (freezing a frozen account, or unfreezing one that is not, changes nothing and
    /// writes no audit event).
    async fn set_frozen(
        &self,
        account_id: AccountId,
        freeze: Option<AccountFreeze>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Under the work's fence: stores the decision on the SUBMITTING transfer and ends it FAILED
    /// (`change`), unsent; whether it moved.
    async fn refuse_transfer(
        &self,
        fence: &Claim,
        id: TransferId,
        change: TransferChange,
        failure_code: String,
        decision: &RiskDecision,
    ) -> Result<bool, StoreError>;

    /// Under the work's fence: stores the decision, moves the SUBMITTING transfer to
    /// PENDING_REVIEW (`change`) and opens `review`, with `audit`; whether it moved.
    async fn hold_transfer_for_review(
        &self,
        fence: &Claim,
        id: TransferId,
        change: TransferChange,
        decision: &RiskDecision,
        review: Review,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Closes an open review and moves its transfer as `decision` says, in one transaction;
    /// `false` (nothing written) when the review is no longer open or the transfer no longer
    /// PENDING_REVIEW.
    async fn decide_review(&self, decision: ReviewDecision) -> Result<bool, StoreError>;

    /// Under the submit work's fence: stores the decision on the SUBMITTING bank transfer whose
    /// create was never sent and ends it REFUSED (`change`, with its `service/risk/<REASON>`
    /// failure code), unsent; whether it moved.
    async fn refuse_bank_transfer_by_checks(
        &self,
        fence: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
        decision: &RiskDecision,
    ) -> Result<bool, StoreError>;

    /// Under the submit work's fence: stores the decision, moves the SUBMITTING bank transfer whose
    /// create was never sent to PENDING_REVIEW (`change`) and opens `review`, with `audit`;
    /// whether it moved.
    async fn hold_bank_transfer_for_review(
        &self,
        fence: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
        decision: &RiskDecision,
        review: Review,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Closes an open review of a bank transfer and moves the bank transfer as `decision` says (its
    /// submit work armed again when approved), in one transaction; `false` (nothing written) when
    /// the review is no longer open or the bank transfer no longer PENDING_REVIEW.
    async fn decide_bank_transfer_review(
        &self,
        decision: BankTransferReviewDecision,
    ) -> Result<bool, StoreError>;

    /// Opens `review` (of a resource not held in a status of its own: a link, whose work waits on
    /// it) with `audit`; a resource already reviewed keeps its review.
    async fn open_review(&self, review: Review, audit: NewAuditEvent) -> Result<(), StoreError>;

    /// Closes an open review of a link as `to`, makes the link's waiting create work due, with
    /// `audit`; whether it was still open.
    #[allow(clippy::too_many_arguments)]
    async fn close_link_review(
        &self,
        review_id: Uuid,
        link_id: Uuid,
        to: ReviewState,
        decided_by: &str,
        note: Option<String>,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Makes a link UNUSABLE (an ACH return said its bank account is gone or wrong), with its
    /// history entry (event id `event_id`: a second time is a no-op), outbox row and `audit`, in
    /// one transaction; whether it moved.
    async fn mark_link_unusable(
        &self,
        link_id: funding_domain::BankLinkId,
        reason: &str,
        event_id: &str,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// How many of the link's deposits were returned with one of `codes` since `since` (by the
    /// time of their last change).
    async fn returns_on_link(
        &self,
        link_id: funding_domain::BankLinkId,
        codes: &[&str],
        since: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    /// The Alpaca rail's debits (deposits) originated since `since` — those that reached the ACH
    /// network: SENT_TO_CLEARING, APPROVED, COMPLETE or RETURNED — grouped by whether they were
    /// returned and with which code: (returned, code, how many). Of one account, or all.
    async fn debit_outcomes(
        &self,
        account_id: Option<AccountId>,
        since: DateTime<Utc>,
    ) -> Result<Vec<(bool, Option<String>, u64)>, StoreError>;

    /// What the account's deposits COMPLETE since `since` amount to, in cents: money it has been
    /// given that an ACH return may still take back.
    async fn completed_deposits_since(
        &self,
        account_id: AccountId,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    async fn get_review(&self, id: Uuid) -> Result<Option<Review>, StoreError>;

    /// The review of a resource, if it was ever held.
    async fn review_of(
        &self,
        resource: &str,
        resource_id: Uuid,
    ) -> Result<Option<Review>, StoreError>;

    /// Reviews oldest first, optionally of one state and one account, after `after`.
    async fn list_reviews(
        &self,
        state: Option<ReviewState>,
        account_id: Option<AccountId>,
        size: u32,
        after: Option<Uuid>,
    ) -> Result<(Vec<Review>, Option<Uuid>), StoreError>;

    /// Open reviews whose expiry has passed by `now`, oldest first.
    async fn expired_reviews(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError>;

    /// Audit events in order, after `after` (a sequence number).
    async fn list_audit_events(
        &self,
        filter: AuditFilter,
        size: u32,
        after: Option<i64>,
    ) -> Result<(Vec<AuditEvent>, Option<i64>), StoreError>;
}
