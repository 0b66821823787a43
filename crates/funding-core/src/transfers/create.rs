//! The create request: checked (amount, direction, and an APPROVED link of that account) before
//! anything is written or sent; then the transfer (SUBMITTING), its idempotency record and its
//! submit work are written in one transaction, and one attempt is made on the fast path. The answer
//! is the transfer as it stands then: submitted, refused, or still SUBMITTING (durably accepted, the
//! engine submits it when Alpaca can take it).

use funding_domain::{
    AccountId, AlpacaTransferStatus, Amount, BankLinkId, IdempotencyKey, TransferId,
    ValidationError, ValidationErrors,
};

use super::Transfers;
use crate::engine::{Attempt, Stop};
use crate::error::CoreError;
use crate::failure;
use crate::fingerprint::Fingerprint;
use crate::model::{RiskDecision, Transfer};
use crate::ports::{
    ClaimedWork, FastStart, IdempotencyClaim, NewTransfer, NewWork, TransferDirection, WorkKind,
    alpaca_account_key,
};
use funding_domain::risk::Verdict;

const OPERATION: &str = "CreateTransfer";

/// The submit work of a new transfer, claimed in its first commit.
struct Claimed {
    work: ClaimedWork,
    /// Its request mark was stored too: the create is sent next.
    marked: bool,
    /// The checks' decision when taken before and not an acceptance: the work stores it.
    decided: Option<funding_domain::risk::Decision>,
}

/// A withdrawal refused because Alpaca's withdrawable cash does not cover it.
pub(super) const INSUFFICIENT_WITHDRAWABLE: &str = "service/insufficient_withdrawable";

/// The request as the caller sent it; empty strings are "not given".
#[derive(Debug, Clone, Default)]
pub struct CreateTransferInput {
    pub account_id: String,
    pub bank_link_id: String,
    pub amount: String,
    /// `None` when the caller left it unspecified.
    pub direction: Option<TransferDirection>,
    pub idempotency_key: String,
}

struct CreateTransfer {
    account_id: AccountId,
    bank_link_id: BankLinkId,
    amount: Amount,
    direction: TransferDirection,
    idempotency_key: IdempotencyKey,
}

impl CreateTransfer {
    fn parse(input: &CreateTransferInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let account_id = errors.check(AccountId::parse(&input.account_id));
        let bank_link_id =
            errors.check(BankLinkId::parse(&input.bank_link_id).map_err(|e| e.at("bank_link_id")));
        let amount = errors.check(Amount::parse(&input.amount).map_err(|e| e.at("amount")));
        let direction = match input.direction {
            Some(direction) => Some(direction),
            None => {
                errors.push(ValidationError::new(
                    "direction",
                    "must be TRANSFER_DIRECTION_DEPOSIT or TRANSFER_DIRECTION_WITHDRAWAL",
                ));
                None
            }
        };
        let idempotency_key = errors.check(IdempotencyKey::parse(&input.idempotency_key));
        match (account_id, bank_link_id, amount, direction, idempotency_key) {
            (
                Some(account_id),
                Some(bank_link_id),
                Some(amount),
                Some(direction),
                Some(idempotency_key),
            ) => Ok(Self {
                account_id,
                bank_link_id,
                amount,
                direction,
                idempotency_key,
            }),
            _ => Err(errors),
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::new()
            .field("account_id", self.account_id)
            .field("bank_link_id", self.bank_link_id)
            .field("amount", self.amount)
            .field("direction", self.direction.as_alpaca())
    }
}

impl Transfers {
    /// Creates a transfer, or returns the one this caller already made with this key.
    ///
    /// Errors: `InvalidArgument` listing every bad field; `NotFound` for a link that does not
    /// exist or belongs to another account; `FailedPrecondition` for a link that is not APPROVED,
    /// and for a withdrawal larger than Alpaca's withdrawable cash (naming it); `IdempotencyKeyReused`;
    /// `Provider` when Alpaca refused it (the transfer is then FAILED and a repeat answers the same);
    /// `Store`. Nothing is written or sent for a refused request.
    #[tracing::instrument(skip_all, fields(caller = %caller, account_id = %input.account_id, idempotency_key = %input.idempotency_key, transfer_id))]
    pub async fn create(
        &self,
        caller: &str,
        input: CreateTransferInput,
    ) -> Result<Transfer, CoreError> {
        let request = CreateTransfer::parse(&input)?;
        let fingerprint = request.fingerprint();
        let claim = IdempotencyClaim {
            caller: caller.to_owned(),
            operation: OPERATION,
            key: request.idempotency_key.as_str().to_owned(),
            fingerprint: fingerprint.encode(),
        };
        // A repeat is answered with what the key made, whatever its link has become since.
        let (transfer, claimed) = match self.store.existing_transfer(&claim).await? {
            Some(existing) => (fingerprint.resolve(OPERATION, existing)?, None),
            None => self.begin(caller, request, claim, &fingerprint).await?,
        };
        tracing::Span::current().record("transfer_id", tracing::field::display(transfer.id));
        if transfer.status != AlpacaTransferStatus::Submitting {
            return answer(transfer);
        }
        let id = transfer.id;
        let (attempt, transfer) = match claimed {
            // Claimed in the first commit: the attempt starts at once.
            Some(Claimed {
                work,
                marked,
                decided,
            }) => {
                let this = self.clone();
                let attempt = if marked {
                    // Checked and marked in that commit too: the create is sent now, and its answer
                    // stored with the work finished, in the second and last.
                    let mut unsent = transfer;
                    unsent.submit_requested_at = None;
                    self.engine
                        .drive_claimed(work, move |work| async move {
                            this.send(&work.claim, &unsent)
                                .await
                                .unwrap_or_else(Stop::into_attempt)
                        })
                        .await?
                } else {
                    self.engine
                        .drive_claimed(work, move |work| async move {
                            this.submit(&work.claim, id, decided)
                                .await
                                .unwrap_or_else(Stop::into_attempt)
                        })
                        .await?
                };
                (Some(attempt), self.load(id).await?)
            }
            None => {
                self.engine
                    .drive_or_wait(
                        WorkKind::TransferSubmit,
                        id.as_uuid(),
                        || self.load(id),
                        |transfer: &Transfer| transfer.status != AlpacaTransferStatus::Submitting,
                    )
                    .await?
            }
        };
        match attempt {
            Some(Attempt::Refused(error)) if transfer.status == AlpacaTransferStatus::Failed => {
                Err(CoreError::Provider(error))
            }
            _ => answer(transfer),
        }
    }

    /// Refuses a link whose bank access no longer works (DESIGN §5): REVOKED and UNUSABLE always;
    /// NEEDS_REAUTH when configured (Alpaca already holds the account numbers, so by default it
    /// may still move money).
    fn check_health(&self, link: &crate::model::BankLink) -> Result<(), CoreError> {
        use funding_domain::BankLinkHealth;
        let reason = match link.health {
            BankLinkHealth::Healthy => return Ok(()),
            BankLinkHealth::NeedsReauth if !self.settings.refuse_on_needs_reauth => return Ok(()),
            BankLinkHealth::NeedsReauth => "BANK_LINK_NEEDS_REAUTH",
            BankLinkHealth::Revoked => "BANK_LINK_REVOKED",
            BankLinkHealth::Unusable => "BANK_LINK_UNUSABLE",
        };
        Err(CoreError::FailedPrecondition {
            reason,
            subject: format!("bank_links/{}", link.id),
            message: format!(
                "the bank link is {}{}; {}",
                link.health,
                link.health_reason
                    .as_deref()
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default(),
                if link.health == BankLinkHealth::NeedsReauth {
                    "its user must log in again through Plaid Link in update mode (CreateLinkToken with bank_link_id)"
                } else {
                    "link the bank again"
                }
            ),
        })
    }

    /// A new key: the link checked, then the transfer, its key and its work written together (or,
    /// when a concurrent first use of the key won, what it made). In the same commit the work is
    /// claimed for this process when no older work of the account is pending, and when the checks
    /// could decide before (see [`crate::risk::Risk::check_new_transfer`]) and accepted, the
    /// request mark and the decision are stored with it.
    async fn begin(
        &self,
        caller: &str,
        request: CreateTransfer,
        claim: IdempotencyClaim,
        fingerprint: &Fingerprint,
    ) -> Result<(Transfer, Option<Claimed>), CoreError> {
        let link = self
            .links
            .get_link(request.bank_link_id)
            .await?
            .filter(|link| link.account_id == request.account_id)
            .ok_or_else(|| CoreError::NotFound {
                resource: "bank link",
                id: request.bank_link_id.to_string(),
            })?;
        // Health first: an UNUSABLE link (an ACH return said its account is gone) is also
        // cancelled at Alpaca, and the return is the reason worth telling.
        self.check_health(&link)?;
        let Some(relationship_id) = link.ach_relationship_id.filter(|_| link.status.is_usable())
        else {
            return Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_NOT_APPROVED",
                subject: format!("bank_links/{}", link.id),
                message: format!(
                    "the bank link is {}; transfers need an APPROVED link",
                    link.status
                ),
            });
        };
        let controls = self.risk.controls(request.account_id).await?;
        if let Some(freeze) = &controls.frozen {
            return Err(CoreError::FailedPrecondition {
                reason: funding_domain::risk::ACCOUNT_FROZEN,
                subject: format!("accounts/{}", request.account_id),
                message: format!("the account's funding is frozen: {}", freeze.reason),
            });
        }
        let now = self.clock.now();
        let transfer = Transfer {
            id: TransferId::generate(),
            caller: caller.to_owned(),
            idempotency_key: request.idempotency_key.clone(),
            account_id: request.account_id,
            bank_link_id: request.bank_link_id,
            relationship_id,
            amount: request.amount,
            direction: request.direction,
            status: AlpacaTransferStatus::Submitting,
            status_reason: None,
            ach_return_code: None,
            failure_code: None,
            provider_transfer_id: None,
            submit_requested_at: None,
            risk: None,
            created_at: now,
            updated_at: now,
        };
        let work = NewWork {
            kind: WorkKind::TransferSubmit,
            subject_id: transfer.id.as_uuid(),
            ordering_key: Some(alpaca_account_key(request.account_id)),
            max_attempts: self.settings.max_attempts,
        };
        let mut decided = self.risk.check_new_transfer(&transfer, &controls).await?;
        let send = match &decided {
            Some(decision) if decision.verdict == Verdict::Accept => {
                Some((now, Some(RiskDecision::from(decision))))
            }
            // Refused or held: the submit work stores it.
            _ => None,
        };
        if send.is_some() {
            decided = None;
        }
        let settings = self.engine.settings();
        let start = FastStart {
            owner: settings.owner.clone(),
            lease: settings.lease,
            send,
        };
        let begun = self
            .store
            .begin_transfer_claimed(claim, NewTransfer { transfer, work }, start)
            .await?;
        let claimed = begun.claimed.map(|work| Claimed {
            work,
            marked: begun.marked,
            decided,
        });
        Ok((fingerprint.resolve(OPERATION, begun.begin)?, claimed))
    }
}

/// The answer for a transfer as it stands: a FAILED one answers the error it failed with.
fn answer(transfer: Transfer) -> Result<Transfer, CoreError> {
    if transfer.status != AlpacaTransferStatus::Failed {
        return Ok(transfer);
    }
    let message = transfer.status_reason.clone().unwrap_or_default();
    let subject = format!("transfers/{}", transfer.id);
    match transfer.failure_code.as_deref() {
        Some(INSUFFICIENT_WITHDRAWABLE) => Err(CoreError::FailedPrecondition {
            reason: "INSUFFICIENT_WITHDRAWABLE_CASH",
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
                reason: "TRANSFER_FAILED",
                subject,
                message: format!("the transfer failed: {message}"),
            }),
        },
        None => Err(CoreError::FailedPrecondition {
            reason: "TRANSFER_FAILED",
            subject,
            message: format!("the transfer failed: {message}"),
        }),
    }
}
