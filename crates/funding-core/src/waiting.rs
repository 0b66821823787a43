//! Why a resource that is not finished waits (DESIGN §4.9): read from its pending work (queued
//! behind an older create of its account, retrying a provider error, settling an unknown outcome,
//! an attempt running now) or, once the provider has it, from where it stands there.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ports::{StoreError, WorkKind, WorkQueue};

/// What a resource waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingReason {
    /// Behind an older piece of work of its order (one Alpaca create per account at a time).
    QueuedBehind,
    /// Its last attempt failed with a provider error; tried again at `next_attempt_at`.
    Retrying,
    /// A create got no answer and may still land: nothing is sent again before it settles.
    Settling,
    /// An attempt is running, or about to.
    InProgress,
    /// At the provider, following its lifecycle.
    Provider,
}

/// Why a resource waits, for its readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: WaitingReason,
    /// In words.
    pub detail: String,
    /// The resource ahead of it (`transfers/<id>`, `bank_links/<id>`, `bank_transfers/<id>`).
    pub behind: Option<String>,
    /// The provider's code of the error being retried.
    pub provider_code: Option<String>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Waiting {
    /// Waiting at the provider, as `detail` says.
    pub fn at_provider(detail: String) -> Self {
        Self {
            reason: WaitingReason::Provider,
            detail,
            behind: None,
            provider_code: None,
            attempt: 0,
            max_attempts: 0,
            next_attempt_at: None,
        }
    }
}

/// The resource a piece of work is for, by its API name.
pub fn resource_name(kind: WorkKind, subject: Uuid) -> String {
    let collection = match kind {
        WorkKind::LinkCreate | WorkKind::LinkDelete | WorkKind::PlaidItemRemove => "bank_links",
        WorkKind::TransferSubmit | WorkKind::TransferCancel | WorkKind::TransferReturned => {
            "transfers"
        }
        WorkKind::BankTransferSubmit | WorkKind::BankTransferCancel => "bank_transfers",
    };
    format!("{collection}/{subject}")
}

/// Why the pending work of `kind` for `subject` has not finished; `None` when there is none.
pub(crate) async fn of_work(
    queue: &dyn WorkQueue,
    kind: WorkKind,
    subject: Uuid,
) -> Result<Option<Waiting>, StoreError> {
    let Some(work) = queue.waiting(kind, subject).await? else {
        return Ok(None);
    };
    let mut waiting = Waiting {
        reason: WaitingReason::InProgress,
        detail: String::new(),
        behind: None,
        provider_code: None,
        attempt: work.attempts,
        max_attempts: work.max_attempts,
        next_attempt_at: None,
    };
    let last_error = work.last_error.unwrap_or_default();
    if work.claimed {
        waiting.detail = format!(
            "an attempt is running now (attempt {} of {})",
            work.attempts, work.max_attempts
        );
    } else if let Some((ahead_kind, ahead)) = work.behind {
        let name = resource_name(ahead_kind, ahead);
        waiting.reason = WaitingReason::QueuedBehind;
        waiting.detail = format!(
            "queued behind {name}: creates at one Alpaca account are sent one at a time, so a lookup never takes another request's resource"
        );
        waiting.behind = Some(name);
    } else if last_error.starts_with("settling an unknown outcome") {
        waiting.reason = WaitingReason::Settling;
        waiting.detail = last_error;
        waiting.next_attempt_at = Some(work.due_at);
    } else if work.attempts > 0 && !last_error.is_empty() {
        waiting.reason = WaitingReason::Retrying;
        waiting.detail = format!(
            "retrying after attempt {} of {} failed: {last_error}",
            work.attempts, work.max_attempts
        );
        waiting.provider_code = work.last_error_code;
        waiting.next_attempt_at = Some(work.due_at);
    } else {
        waiting.detail = "about to be sent".to_owned();
        waiting.next_attempt_at = Some(work.due_at);
    }
    Ok(Some(waiting))
}

impl crate::Transfers {
    /// Why `transfer` waits, while it is not finished; `None` once it is (or when the reason
    /// cannot be read, which is logged: the transfer itself is still answered).
    pub async fn waiting(&self, transfer: &crate::model::Transfer) -> Option<Waiting> {
        use funding_domain::AlpacaTransferStatus;
        let found = match &transfer.status {
            AlpacaTransferStatus::Submitting => {
                of_work(
                    self.engine.queue().as_ref(),
                    WorkKind::TransferSubmit,
                    transfer.id.as_uuid(),
                )
                .await
            }
            status if status.is_in_flight() => Ok(Some(Waiting::at_provider(format!(
                "at Alpaca, {status}: followed through Alpaca's funding events, and the reconciler when they are late"
            )))),
            _ => Ok(None),
        };
        found.unwrap_or_else(|error| {
            tracing::warn!(transfer_id = %transfer.id, "cannot read why the transfer waits: {error}");
            None
        })
    }
}

impl crate::BankLinks {
    /// Why `link` waits, while it is not finished; `None` once it is.
    pub async fn waiting(&self, link: &crate::model::BankLink) -> Option<Waiting> {
        let found = if link.is_creating() {
            of_work(
                self.engine.queue().as_ref(),
                WorkKind::LinkCreate,
                link.id.as_uuid(),
            )
            .await
        } else if link.waits_on_alpaca() {
            match of_work(
                self.engine.queue().as_ref(),
                WorkKind::LinkDelete,
                link.id.as_uuid(),
            )
            .await
            {
                Ok(None) => Ok(Some(Waiting::at_provider(format!(
                    "at Alpaca, {}: followed through Alpaca's funding events, and the reconciler when they are late",
                    link.status
                )))),
                other => other,
            }
        } else {
            Ok(None)
        };
        found.unwrap_or_else(|error| {
            tracing::warn!(bank_link_id = %link.id, "cannot read why the link waits: {error}");
            None
        })
    }
}

impl crate::bank_transfers::BankTransfers {
    /// Why `transfer` waits, while it is not finished; `None` once it is.
    pub async fn waiting(&self, transfer: &crate::model::BankTransfer) -> Option<Waiting> {
        use funding_domain::PlaidBankTransferStatus;
        let found = match &transfer.status {
            PlaidBankTransferStatus::Submitting => {
                of_work(
                    self.engine.queue().as_ref(),
                    WorkKind::BankTransferSubmit,
                    transfer.id.as_uuid(),
                )
                .await
            }
            PlaidBankTransferStatus::Pending => Ok(Some(Waiting::at_provider(
                "at Plaid, pending: followed through Plaid's event sync and webhooks, and the reconciler when they are late"
                    .to_owned(),
            ))),
            _ => Ok(None),
        };
        found.unwrap_or_else(|error| {
            tracing::warn!(bank_transfer_id = %transfer.id, "cannot read why the bank transfer waits: {error}");
            None
        })
    }
}
