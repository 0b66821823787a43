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
    /// When the public token exchange was sent; set before the call, so that a later attempt knows
    /// an exchange with no stored answer had an unknown outcome (the token is single-use).
    pub exchange_requested_at: Option<DateTime<Utc>>,
    /// The bank account's type as Alpaca reports it (`CHECKING`, `SAVINGS`).
    pub bank_account_type: Option<String>,
    /// The last four digits of the bank account number; never the whole number.
    pub bank_account_mask: Option<String>,
    /// Whether its bank access still works (Plaid's Item webhooks, ACH returns).
    pub health: funding_domain::BankLinkHealth,
    /// Why it has that health, in words (the webhook or return that said so).
    pub health_reason: Option<String>,
    /// The link of the same account this one replaces (changing banks): its relationship is
    /// cancelled at Alpaca before this one's is created.
    pub replaces: Option<BankLinkId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BankLink {
    /// Whether the link flow still has provider steps to take.
    pub fn is_creating(&self) -> bool {
        self.status == AchRelationshipStatus::Creating
    }

    /// Whether the link waits on Alpaca to move it (QUEUED, PENDING, …, CANCEL_REQUESTED): what the
    /// reconciler looks at when events are late.
    pub fn waits_on_alpaca(&self) -> bool {
        use AchRelationshipStatus::*;
        matches!(
            self.status,
            Queued | Pending | SentToClearing | CancelRequested | CancelSent
        )
    }
}

/// A deposit or withdrawal on the Alpaca rail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: funding_domain::TransferId,
    /// The calling service that created it; idempotency keys are scoped to it.
    pub caller: String,
    pub idempotency_key: IdempotencyKey,
    pub account_id: AccountId,
    pub bank_link_id: BankLinkId,
    /// The link's ACH relationship, which the transfer moves money over.
    pub relationship_id: AchRelationshipId,
    pub amount: funding_domain::Amount,
    pub direction: crate::ports::TransferDirection,
    pub status: funding_domain::AlpacaTransferStatus,
    /// Alpaca's reason (rejection, return), or why the service failed it.
    pub status_reason: Option<String>,
    /// The ACH return code of a RETURNED transfer (`R01`), as given.
    pub ach_return_code: Option<String>,
    /// How a FAILED transfer failed (`provider/kind/code`, or a `service/…` code).
    pub failure_code: Option<String>,
    /// Alpaca's id, once Alpaca has the transfer (UNIQUE: one of ours per Alpaca transfer).
    pub provider_transfer_id: Option<funding_domain::AlpacaTransferId>,
    /// When the create was last sent to Alpaca; set before the call, so that a retry after an
    /// unknown outcome looks the transfer up instead of creating another.
    pub submit_requested_at: Option<DateTime<Utc>>,
    /// What the risk checks decided before it was sent (DESIGN §11); `None` until they ran.
    pub risk: Option<RiskDecision>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A decision of the risk checks (DESIGN §11) as stored with what it decided about: the verdict,
/// the rule that decided, the reason code of a refusal or review, what the rule saw in words and in
/// figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskDecision {
    /// `ACCEPT`, `REVIEW` or `REFUSE`.
    pub verdict: String,
    /// `balance`, `daily_limit`, `frozen`, … (`none` when no rule had anything to say).
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub detail: String,
    /// Name and value, in the order the rule gave them (`amount`, `available`, …).
    #[serde(default)]
    pub figures: Vec<(String, String)>,
}

impl RiskDecision {
    /// As stored (JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From its stored form; `None` for text that is not one.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

impl From<&funding_domain::risk::Decision> for RiskDecision {
    fn from(decision: &funding_domain::risk::Decision) -> Self {
        Self {
            verdict: decision.verdict.as_str().to_owned(),
            rule: decision.rule.as_str().to_owned(),
            reason: decision.reason.map(str::to_owned),
            detail: decision.detail.clone(),
            figures: decision
                .figures
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        }
    }
}

/// A bank transfer on the Plaid processor rail, as stored: the request as the caller made it
/// (resent unchanged, with its idempotency key, until Plaid answers), this service's status, and
/// Plaid's object once Plaid answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransfer {
    pub id: funding_domain::BankTransferId,
    /// The calling service that created it; idempotency keys are scoped to it.
    pub caller: String,
    pub request: funding_domain::BankTransferRequest,
    /// Along the Plaid lifecycle, plus SUBMITTING, REFUSED and PENDING_REVIEW of our own.
    pub status: funding_domain::PlaidBankTransferStatus,
    /// Plaid's bank transfer as last read, with its status, `cancellable` and `failure_reason`
    /// kept up to date by every move; `None` until Plaid answered the create.
    pub plaid: Option<crate::ports::PlaidBankTransfer>,
    /// Why it was refused or failed, in words.
    pub status_reason: Option<String>,
    /// How a REFUSED transfer was refused (`plaid/invalid_input/CODE`, …, or
    /// `service/risk/<REASON>` when the risk checks or a review refused it).
    pub failure_code: Option<String>,
    /// When the create was first sent; a transfer never sent may be cancelled locally.
    pub submit_requested_at: Option<DateTime<Utc>>,
    /// What the risk checks decided before it was first sent (DESIGN §11); `None` until they ran.
    pub risk: Option<RiskDecision>,
    /// The idempotency key sent to Plaid: derived from the caller and its key
    /// ([`BankTransfer::plaid_key_for`]); `None` on transfers made before keys were derived,
    /// which keep being sent with the caller's own key.
    pub plaid_idempotency_key: Option<funding_domain::IdempotencyKey>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BankTransfer {
    /// Plaid's idempotency key for `caller`'s `key` (DESIGN §9): 48 hex digits of
    /// SHA-256(caller, key), so two callers' keys never meet at Plaid (its keys are shared by
    /// everything this service sends), stable across retries and replicas, within Plaid's 50.
    pub fn plaid_key_for(
        caller: &str,
        key: &funding_domain::IdempotencyKey,
    ) -> funding_domain::IdempotencyKey {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"funding.v1/plaid-idempotency-key\0");
        hasher.update(caller.as_bytes());
        hasher.update(b"\0");
        hasher.update(key.as_str().as_bytes());
        let digest = hex::encode(hasher.finalize());
        funding_domain::IdempotencyKey::parse(&digest[..48]).unwrap_or_else(|_| key.clone())
    }

    /// The request exactly as Plaid is sent it: the caller's request under the key it was first
    /// sent with (the derived one, or the caller's own on a transfer made before keys were
    /// derived).
    pub fn request_for_plaid(&self) -> funding_domain::BankTransferRequest {
        let Some(key) = &self.plaid_idempotency_key else {
            return self.request.clone();
        };
        let mut draft = self.request.to_draft();
        draft.idempotency_key = key.as_str().to_owned();
        funding_domain::BankTransferRequest::parse(&draft).unwrap_or_else(|_| self.request.clone())
    }

    /// Plaid's id, once Plaid answered.
    pub fn provider_id(&self) -> Option<&funding_domain::PlaidBankTransferId> {
        self.plaid.as_ref().map(|plaid| &plaid.id)
    }

    /// Whether Plaid would still cancel it.
    pub fn cancellable(&self) -> bool {
        self.status == funding_domain::PlaidBankTransferStatus::Pending
            && self.plaid.as_ref().is_some_and(|plaid| plaid.cancellable)
    }
}

#[cfg(test)]
mod tests {
    use funding_domain::IdempotencyKey;

    use super::BankTransfer;

    #[test]
    fn plaids_key_is_scoped_to_the_caller_stable_and_within_plaids_fifty_characters() {
        let key = IdempotencyKey::parse("deposit-1").unwrap();
        let a = BankTransfer::plaid_key_for("treasury", &key);
        assert_eq!(a, BankTransfer::plaid_key_for("treasury", &key), "stable");
        assert_ne!(
            a,
            BankTransfer::plaid_key_for("payroll", &key),
            "per caller"
        );
        assert_ne!(
            a,
            BankTransfer::plaid_key_for("treasury", &IdempotencyKey::parse("deposit-2").unwrap())
        );
        assert_eq!(a.as_str().len(), 48);
        // A caller name and key that run into each other do not collide.
        assert_ne!(
            BankTransfer::plaid_key_for("ab", &IdempotencyKey::parse("c").unwrap()),
            BankTransfer::plaid_key_for("a", &IdempotencyKey::parse("bc").unwrap())
        );
        let longest = IdempotencyKey::parse(&"k".repeat(50)).unwrap();
        assert!(
            BankTransfer::plaid_key_for(&"c".repeat(200), &longest)
                .as_str()
                .len()
                <= 50
        );
    }
}
