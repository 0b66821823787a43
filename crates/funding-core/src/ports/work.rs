//! The work queue: every provider call that changes something is a piece of work, written in the
//! same transaction as the resource it is for, and driven by whoever holds its claim. A claim is a
//! lease with a fence: its expiry is taken from the database's clock, and its generation grows with
//! every claim, so a holder whose lease ran out (a pause, a slow provider, a crash) can no longer
//! write: every write that results from the work is conditioned on the claim (see
//! [`StoreError::Fenced`]).

use std::time::Duration;

use async_trait::async_trait;
use funding_domain::AccountId;
use uuid::Uuid;

use super::StoreError;

/// What a piece of work does. The kinds of the whole service, so the table's CHECK knows them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// Exchange the public token, make the processor token, create the ACH relationship.
    LinkCreate,
    /// Ask Alpaca to cancel a link's ACH relationship.
    LinkDelete,
    /// Remove a link's Plaid Item (`/item/remove`), so that nothing is left billed.
    PlaidItemRemove,
    /// Submit an Alpaca transfer.
    TransferSubmit,
    /// Ask Alpaca to cancel a transfer.
    TransferCancel,
    /// Submit a Plaid bank transfer.
    BankTransferSubmit,
    /// Cancel a Plaid bank transfer.
    BankTransferCancel,
    /// What an ACH return does to the link and the account (DESIGN §12), once per returned
    /// transfer.
    TransferReturned,
}

impl WorkKind {
    pub const ALL: [WorkKind; 8] = [
        Self::LinkCreate,
        Self::LinkDelete,
        Self::PlaidItemRemove,
        Self::TransferSubmit,
        Self::TransferCancel,
        Self::BankTransferSubmit,
        Self::BankTransferCancel,
        Self::TransferReturned,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LinkCreate => "link_create",
            Self::LinkDelete => "link_delete",
            Self::PlaidItemRemove => "plaid_item_remove",
            Self::TransferSubmit => "transfer_submit",
            Self::TransferCancel => "transfer_cancel",
            Self::BankTransferSubmit => "bank_transfer_submit",
            Self::BankTransferCancel => "bank_transfer_cancel",
            Self::TransferReturned => "transfer_returned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl std::fmt::Display for WorkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Work to write together with its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWork {
    pub kind: WorkKind,
    /// The resource it is for (a bank link, a transfer, …). One piece of work per kind and subject.
    pub subject_id: Uuid,
    /// Work with the same key runs one at a time, oldest first (e.g. `alpaca:account:<id>`: at most
    /// one unresolved Alpaca create per account, so a lookup never takes another request's resource).
    pub ordering_key: Option<String>,
    /// After this many attempts the work ends failed, with its last error.
    pub max_attempts: u32,
}

/// The ordering key of work that creates something at an Alpaca account: one at a time per account.
pub fn alpaca_account_key(account_id: AccountId) -> String {
    format!("alpaca:account:{account_id}")
}

/// The right to drive one piece of work, as long as the store still agrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub work_id: Uuid,
    /// Grows with every claim of this work: a write with an older generation is refused.
    pub generation: i64,
    pub owner: String,
}

/// A claimed piece of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedWork {
    pub claim: Claim,
    pub kind: WorkKind,
    pub subject_id: Uuid,
    /// Attempts so far, this one included.
    pub attempt: u32,
    pub max_attempts: u32,
    /// What the previous attempt failed with.
    pub last_error: Option<String>,
}

impl ClaimedWork {
    /// Whether this is the last attempt the work is allowed.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Where a resource's pending work stands, for saying why the resource waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkWaiting {
    pub kind: WorkKind,
    /// Attempts so far (a wait for an unknown outcome to settle does not count).
    pub attempts: u32,
    pub max_attempts: u32,
    /// What the last attempt failed with (or why it waits), and the provider's code when a
    /// provider error.
    pub last_error: Option<String>,
    pub last_error_code: Option<String>,
    /// When the work is due again, by the database's clock.
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// Whether an attempt holds it right now.
    pub claimed: bool,
    /// The older pending work of its ordering key it waits behind, if any.
    pub behind: Option<(WorkKind, Uuid)>,
}

/// How much work waits, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkStats {
    /// Pending work, by kind.
    pub pending: Vec<(WorkKind, u64)>,
    /// Work that ended failed, by kind.
    pub failed: Vec<(WorkKind, u64)>,
    /// How long the oldest pending work has waited since it was written.
    pub oldest_pending_age: Option<Duration>,
}

/// The queue of provider work. Every method is one conditional statement or one transaction, safe
/// for any number of workers on any number of replicas.
#[async_trait]
pub trait WorkQueue: Send + Sync + 'static {
    /// Adds work unless work of that kind for that subject exists already (then a no-op).
    async fn enqueue(&self, work: NewWork) -> Result<(), StoreError>;

    /// Claims up to `limit` pieces of due work that nobody holds (or whose holder's lease ran out):
    /// the oldest first, only the oldest pending one of each ordering key. On PostgreSQL with
    /// `FOR UPDATE SKIP LOCKED`. Each claim lasts `lease` by the database's clock.
    async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedWork>, StoreError>;

    /// Claims the pending work of `kind` for `subject_id` for the request's fast path, if it is due
    /// (a caller's repeat does not cut a retry's backoff short), nobody holds it, and no older work
    /// of its ordering key is pending. `None` otherwise.
    async fn claim(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedWork>, StoreError>;

    /// Extends a claim by `lease` from now (the database's now). False if the claim is no longer
    /// held (it ran out and somebody else took it, or the work ended).
    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError>;

    /// Ends the work done. False if the claim is no longer held.
    async fn finish(&self, claim: &Claim) -> Result<bool, StoreError>;

    /// Gives the claim back and makes the work due again after `delay`, recording `error` and,
    /// for a provider's error, its code.
    async fn retry_later(
        &self,
        claim: &Claim,
        delay: Duration,
        error: &str,
        provider_code: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Gives the claim back and makes the work due again after `delay`, recording `reason`, without
    /// counting the attempt: the work is waiting (an unknown outcome settling at the provider), not
    /// failing, so waiting never uses up its attempts.
    async fn postpone(
        &self,
        claim: &Claim,
        delay: Duration,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Ends the work failed with `error` (attempts exhausted).
    async fn give_up(&self, claim: &Claim, error: &str) -> Result<bool, StoreError>;

    /// The pending work of `kind` for `subject_id`, if any, and what it waits behind.
    async fn waiting(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
    ) -> Result<Option<WorkWaiting>, StoreError>;

    /// Pending and failed work, for metrics.
    async fn stats(&self) -> Result<WorkStats, StoreError>;
}
