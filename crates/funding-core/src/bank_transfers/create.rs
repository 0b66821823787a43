//! The create request: every rule of `/processor/bank_transfer/create` is checked before anything
//! is written or sent (each broken one named by its field); then the transfer (SUBMITTING), its
//! idempotency record and its submit work are written in one transaction, and one attempt is made
//! on the fast path. The answer is the transfer as it stands then: at Plaid (pending), refused (by
//! Plaid, or by the risk checks before anything was sent), held for review (PENDING_REVIEW), or
//! still SUBMITTING (durably accepted; the engine resends it, with the same key, until Plaid
//! answers).

use funding_domain::{
    BankTransferDraft, BankTransferId, BankTransferRequest, PlaidBankTransferStatus,
};

use super::{BankTransfers, ordering_key};
use crate::engine::{Attempt, Stop};
use crate::error::CoreError;
use crate::failure;
use crate::fingerprint::Fingerprint;
use crate::model::{BankTransfer, RiskDecision};
use crate::ports::{Begun, FastStart, IdempotencyClaim, NewBankTransfer, NewWork, WorkKind};
use funding_domain::risk::Verdict;

const OPERATION: &str = "CreateBankTransfer";

/// A create refused because another caller's transfer holds the Plaid transfer this one's
/// idempotency key made (Plaid deduplicates keys across every caller of this service).
pub(super) const KEY_HELD_BY_ANOTHER: &str = "service/idempotency_key_held_by_another_caller";

fn fingerprint(request: &BankTransferRequest) -> Fingerprint {
    let draft = request.to_draft();
    let metadata: Vec<String> = draft
        .metadata
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    Fingerprint::new()
        .secret("processor_token", &draft.processor_token)
        .field("type", &draft.transfer_type)
        .field("network", &draft.network)
        .field("amount", &draft.amount)
        .field("iso_currency_code", &draft.iso_currency_code)
        .field("description", &draft.description)
        .field("ach_class", draft.ach_class.unwrap_or_default())
        .field("user.legal_name", &draft.user.legal_name)
        .field(
            "user.email_address",
            draft.user.email_address.unwrap_or_default(),
        )
        .field("custom_tag", draft.custom_tag.unwrap_or_default())
        .field(
            "metadata",
            serde_json::to_string(&metadata).unwrap_or_default(),
        )
        .field(
            "origination_account_id",
            draft.origination_account_id.unwrap_or_default(),
        )
}

impl BankTransfers {
    /// Creates a bank transfer, or returns the one this caller already made with this key.
    ///
    /// Errors: `InvalidArgument` listing every broken rule; `IdempotencyKeyReused` naming the
    /// differing field; `Provider` when Plaid refused it, `FailedPrecondition` with the reason
    /// (`INSUFFICIENT_BANK_BALANCE`, …) when the risk checks did (the transfer is then REFUSED and a
    /// repeat answers the same); `Store`. Nothing is written or sent for an invalid request. A
    /// debit held for review is answered as it is, PENDING_REVIEW.
    #[tracing::instrument(skip_all, fields(caller = %caller, idempotency_key = %draft.idempotency_key, bank_transfer_id))]
    pub async fn create(
        &self,
        caller: &str,
        draft: BankTransferDraft,
    ) -> Result<BankTransfer, CoreError> {
        let request = BankTransferRequest::parse(&draft)?;
        let fingerprint = fingerprint(&request);
        let now = self.clock.now();
        let id = BankTransferId::generate();
        let claim = IdempotencyClaim {
            caller: caller.to_owned(),
            operation: OPERATION,
            key: request.idempotency_key().as_str().to_owned(),
            fingerprint: fingerprint.encode(),
        };
        let plaid_key = BankTransfer::plaid_key_for(caller, request.idempotency_key());
        let transfer = BankTransfer {
            id,
            caller: caller.to_owned(),
            request,
            status: PlaidBankTransferStatus::Submitting,
            plaid: None,
            status_reason: None,
            failure_code: None,
            submit_requested_at: None,
            risk: None,
            plaid_idempotency_key: Some(plaid_key),
            created_at: now,
            updated_at: now,
        };
        let work = NewWork {
            kind: WorkKind::BankTransferSubmit,
            subject_id: id.as_uuid(),
            ordering_key: Some(ordering_key(id)),
            max_attempts: self.settings.max_attempts,
        };
        // A repeat is answered with what the key made (no check, nothing written).
        let mut decided = None;
        let begun = match self.store.existing_bank_transfer(&claim).await? {
            Some(existing) => Begun::existing(existing),
            None => {
                // Checked before the first commit, which then stores the decision and the request
                // mark with the transfer and its work claimed: the create is sent at once, and
                // its answer stored with the work finished in the second and last commit.
                let decision = self.decide(&transfer).await;
                let send = (decision.verdict == Verdict::Accept)
                    .then(|| (now, Some(RiskDecision::from(&decision))));
                if send.is_none() {
                    decided = Some(decision);
                }
                let settings = self.engine.settings();
                let start = FastStart {
                    owner: settings.owner.clone(),
                    lease: settings.lease,
                    send,
                };
                self.store
                    .begin_bank_transfer_claimed(claim, NewBankTransfer { transfer, work }, start)
                    .await?
            }
        };
        let (claimed, marked) = (begun.claimed, begun.marked);
        let transfer = fingerprint.resolve(OPERATION, begun.begin)?;
        tracing::Span::current().record("bank_transfer_id", tracing::field::display(transfer.id));
        if transfer.status != PlaidBankTransferStatus::Submitting {
            return answer(transfer);
        }
        let id = transfer.id;
        let (attempt, transfer) = match claimed {
            Some(work) => {
                let this = self.clone();
                let attempt = self
                    .engine
                    .drive_claimed(work, move |work| async move {
                        let sent = if marked {
                            this.send(&work.claim, &transfer).await
                        } else {
                            // Refused or held by the checks: the work decides again and stores it.
                            this.submit(&work.claim, id, decided).await
                        };
                        sent.unwrap_or_else(Stop::into_attempt)
                    })
                    .await?;
                (Some(attempt), self.load(id).await?)
            }
            None => {
                self.engine
                    .drive_or_wait(
                        WorkKind::BankTransferSubmit,
                        id.as_uuid(),
                        || self.load(id),
                        |transfer: &BankTransfer| {
                            transfer.status != PlaidBankTransferStatus::Submitting
                        },
                    )
                    .await?
            }
        };
        match attempt {
            Some(Attempt::Refused(error))
                if transfer.status == PlaidBankTransferStatus::Refused =>
            {
                Err(CoreError::Provider(error))
            }
            _ => answer(transfer),
        }
    }
}

/// The answer for a transfer as it stands: a REFUSED one answers the error it was refused with (a
/// refusal of the risk checks or of a review as FAILED_PRECONDITION with its reason code).
pub(super) fn answer(transfer: BankTransfer) -> Result<BankTransfer, CoreError> {
    if transfer.status != PlaidBankTransferStatus::Refused {
        return Ok(transfer);
    }
    let message = transfer.status_reason.clone().unwrap_or_default();
    let subject = format!("bank_transfers/{}", transfer.id);
    match transfer.failure_code.as_deref() {
        Some(KEY_HELD_BY_ANOTHER) => Err(CoreError::FailedPrecondition {
            reason: "IDEMPOTENCY_KEY_HELD_BY_ANOTHER_CALLER",
            subject,
            message,
        }),
        Some(code) if code.starts_with(crate::risk::RISK_FAILURE_PREFIX) => {
            Err(CoreError::FailedPrecondition {
                reason: crate::risk::reason_code(&code[crate::risk::RISK_FAILURE_PREFIX.len()..]),
                subject,
                message,
            })
        }
        Some(code) => match failure::decode(code, &message) {
            Some(error) => Err(CoreError::Provider(error)),
            None => Err(CoreError::FailedPrecondition {
                reason: "BANK_TRANSFER_REFUSED",
                subject,
                message: format!("the bank transfer was refused: {message}"),
            }),
        },
        None => Err(CoreError::FailedPrecondition {
            reason: "BANK_TRANSFER_REFUSED",
            subject,
            message: format!("the bank transfer was refused: {message}"),
        }),
    }
}
