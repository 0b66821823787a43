//! The records the use cases keep: a [`BankLink`] is one Plaid account linked to one Alpaca account
//! through an ACH relationship. Its tokens are kept apart, in [`LinkSecrets`](crate::ports::LinkSecrets),
//! so that a link can be shown, logged or returned without them.

use chrono::{DateTime, Utc};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, BankLinkId, IdempotencyKey, Nickname,
    PlaidAccountId, PlaidItemId,
};

/// A bank link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankLink {
    pub id: BankLinkId,
    /// The calling service that created it; idempotency keys are scoped to it.
    pub caller: String,
    pub idempotency_key: IdempotencyKey,
    pub account_id: AccountId,
    pub plaid_account_id: PlaidAccountId,
    pub plaid_item_id: Option<PlaidItemId>,
    pub nickname: Option<Nickname>,
    pub status: AchRelationshipStatus,
    /// Why it is where it is: Alpaca's rejection reason, or the provider error that failed it.
    pub status_reason: Option<String>,
    /// The provider's error code when it failed, e.g. `INVALID_PUBLIC_TOKEN`.
    pub failure_code: Option<String>,
    pub ach_relationship_id: Option<AchRelationshipId>,
    pub account_owner_name: Option<String>,
    /// When a relationship create was last sent to Alpaca; set before the call, so that a retry
    /// after an unknown outcome looks the relationship up instead of creating another.
    pub relationship_requested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BankLink {
    /// Whether the link flow still has provider steps to take.
    pub fn is_creating(&self) -> bool {
        self.status == AchRelationshipStatus::Creating
    }
}
