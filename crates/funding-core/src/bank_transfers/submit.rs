//! The work that submits a bank transfer to Plaid ([`WorkKind::BankTransferSubmit`]). Plaid
//! deduplicates creates by idempotency key, so every attempt sends the same request with the same
//! key: a retry after an unknown outcome answers the transfer the first attempt made, never a
//! second one. Before the first send its time is stored (fenced, only while SUBMITTING), so a local
//! cancel and a send cannot both happen.
//!
//! Before that first send the risk checks run once (DESIGN §11): a debit's bank balance is read
//! with its processor token; one it does not cover is refused (REFUSED, nothing sent) or held in
//! PENDING_REVIEW until an operator decides, as `[risk] balance_check` says. The decision is stored
//! with the send's mark, the refusal or the hold.
//!
//! When the attempts run out, a create that may have reached Plaid is not ended blindly: one last
//! send decides, and if Plaid still cannot be reached the work keeps waiting, visible in metrics.

use async_trait::async_trait;
use funding_domain::lifecycle::{self, Transition, TransitionError};
use funding_domain::risk::{Decision, Verdict};
use funding_domain::{BankTransferId, BankTransferType, PlaidBankTransferStatus};

use super::BankTransfers;
use super::create::KEY_HELD_BY_ANOTHER;
use crate::engine::{Attempt, Stop, WorkHandler};
use crate::failure;
use crate::model::{BankTransfer, RiskDecision};
use crate::ports::{
    BankTransferChange, Claim, ClaimedWork, PlaidAnswerSaved, PlaidBankTransfer, ProviderError,
};
use crate::risk::RISK_FAILURE_PREFIX;

pub(super) struct BankTransferSubmission(pub(super) BankTransfers);

/// What the risk checks left to do.
enum Checked {
    /// Send it, storing this decision with the request mark (`None`: decided before).
    Send(Option<RiskDecision>),
    /// Refused or held: nothing to send.
    Ended,
}

#[async_trait]
impl WorkHandler for BankTransferSubmission {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        let id = BankTransferId::from_uuid(work.subject_id);
        match self.0.submit(&work.claim, id, None).await {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, work: &ClaimedWork, reason: &str) -> Attempt {
        let id = BankTransferId::from_uuid(work.subject_id);
        let transfers = &self.0;
        let result = async {
            let transfer = transfers.load(id).await?;
            if transfer.status != PlaidBankTransferStatus::Submitting {
                return Ok(Attempt::Done);
            }
            if transfer.submit_requested_at.is_some() {
                // It may be at Plaid: only Plaid's answer (to the same key) may end it.
                return match transfers.submit(&work.claim, id, None).await? {
                    Attempt::Retry { reason, error } => Ok(Attempt::Retry {
                        reason: format!("Plaid's answer is still unknown: {reason}"),
                        error,
                    }),
                    other => Ok(other),
                };
            }
            let change = transfers.refusal(
                &transfer,
                reason.to_owned(),
                failure::ATTEMPTS_EXHAUSTED.to_owned(),
                "engine:gave_up",
            );
            transfers
                .store
                .refuse_bank_transfer(&work.claim, id, change)
                .await?;
            Ok::<Attempt, Stop>(Attempt::Done)
        }
        .await;
        match result {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }
}

impl BankTransfers {
    /// One attempt; `decided` is the checks' decision when the create took it just before (a
    /// refusal or a hold, stored here rather than decided twice).
    pub(super) async fn submit(
        &self,
        claim: &Claim,
        id: BankTransferId,
        decided: Option<Decision>,
    ) -> Result<Attempt, Stop> {
        let transfer = self.load(id).await?;
        if transfer.status != PlaidBankTransferStatus::Submitting {
            return Ok(Attempt::Done);
        }
        let decision = match self.check(claim, &transfer, decided).await? {
            Checked::Send(decision) => decision,
            Checked::Ended => return Ok(Attempt::Done),
        };
        if !self
            .store
            .mark_bank_transfer_submit_requested(claim, id, self.clock.now(), decision.as_ref())
            .await?
        {
            return Ok(Attempt::Done);
        }
        self.send(claim, &transfer).await
    }

    /// The decision taken before the transfer is stored (nothing this service's own transfers
    /// change is read): a debit's balance check, a credit accepted as it is.
    pub(super) async fn decide(&self, transfer: &BankTransfer) -> Decision {
        let request = &transfer.request;
        if request.transfer_type() == BankTransferType::Debit {
            self.risk
                .check_debit_balance(
                    self.gateway.as_ref(),
                    transfer.id,
                    request.processor_token(),
                    request.amount(),
                )
                .await
        } else {
            Decision::accept()
        }
    }

    /// Sends the create (its request mark stored) under the transfer's Plaid key and stores the
    /// answer: with the work finished in the same transaction when Plaid has it, or a refusal.
    pub(super) async fn send(
        &self,
        claim: &Claim,
        transfer: &BankTransfer,
    ) -> Result<Attempt, Stop> {
        let id = transfer.id;
        // Under the key derived from the caller and its key (the caller's own on a transfer made
        // before keys were derived): the same key on every attempt.
        match self
            .gateway
            .create_bank_transfer(&transfer.request_for_plaid())
            .await
        {
            Ok(plaid) => {
                self.save_answer(claim, transfer, plaid, "plaid:create", true)
                    .await
            }
            Err(error) if refuses(&error) => {
                tracing::warn!(bank_transfer_id = %id, code = %error.code, "Plaid refused the bank transfer: {}", error.message);
                let change = self.refusal(
                    transfer,
                    error.message.clone(),
                    failure::encode(&error),
                    &format!("{}:error", error.provider),
                );
                self.store.refuse_bank_transfer(claim, id, change).await?;
                metrics::counter!("funding_bank_transfer_status_changes_total", "to" => "refused")
                    .increment(1);
                Ok(Attempt::Refused(error))
            }
            Err(error) => Err(Stop::provider(error)),
        }
    }

    /// The risk checks (DESIGN §11), once per bank transfer, before its first send: a debit's
    /// balance check (`Risk::check_debit_balance`); a credit (money pushed to
    /// the customer's bank) is accepted as it is (rule `none`). A REFUSE ends it REFUSED with the
    /// reason (`service/risk/<REASON>`), a REVIEW holds it in PENDING_REVIEW (nothing sent until an
    /// operator approves it), an ACCEPT is stored with the request mark. One already decided
    /// (approved after review) or already sent once is not checked again.
    async fn check(
        &self,
        claim: &Claim,
        transfer: &BankTransfer,
        decided: Option<Decision>,
    ) -> Result<Checked, Stop> {
        if transfer.risk.is_some() || transfer.submit_requested_at.is_some() {
            return Ok(Checked::Send(None));
        }
        let decision = match decided {
            Some(decision) => decision,
            None => self.decide(transfer).await,
        };
        let stored = RiskDecision::from(&decision);
        match decision.verdict {
            Verdict::Accept => Ok(Checked::Send(Some(stored))),
            Verdict::Refuse => {
                let reason = decision.reason.unwrap_or("REFUSED");
                tracing::info!(bank_transfer_id = %transfer.id, rule = decision.rule.as_str(), reason, "bank transfer refused by the risk checks: {}", decision.detail);
                let change = BankTransferChange {
                    from: PlaidBankTransferStatus::Submitting,
                    to: PlaidBankTransferStatus::Refused,
                    cancellable: false,
                    failure: None,
                    reason: Some(format!("{reason}: {}", decision.detail)),
                    failure_code: Some(format!("{RISK_FAILURE_PREFIX}{reason}")),
                    source: format!("risk:{}", decision.rule.as_str()),
                    event_id: None,
                    at: self.clock.now(),
                };
                if self
                    .risk
                    .store()
                    .refuse_bank_transfer_by_checks(claim, transfer.id, change, &stored)
                    .await?
                {
                    metrics::counter!("funding_risk_decisions_total", "verdict" => "REFUSE", "rule" => decision.rule.as_str()).increment(1);
                    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => "refused")
                        .increment(1);
                }
                Ok(Checked::Ended)
            }
            Verdict::Review => {
                tracing::info!(bank_transfer_id = %transfer.id, rule = decision.rule.as_str(), "bank transfer held for review: {}", decision.detail);
                if self
                    .risk
                    .hold_bank_transfer_for_review(claim, transfer, &decision)
                    .await?
                {
                    metrics::counter!("funding_risk_decisions_total", "verdict" => "REVIEW", "rule" => decision.rule.as_str()).increment(1);
                    metrics::counter!("funding_bank_transfer_status_changes_total", "to" => "pending_review")
                        .increment(1);
                }
                Ok(Checked::Ended)
            }
        }
    }

    /// Stores Plaid's answer and moves the transfer out of SUBMITTING (with the work finished in
    /// the same transaction when `finish`); then applies the events that were waiting for it.
    async fn save_answer(
        &self,
        claim: &Claim,
        transfer: &BankTransfer,
        plaid: PlaidBankTransfer,
        source: &str,
        finish: bool,
    ) -> Result<Attempt, Stop> {
        let to = match lifecycle::apply(&transfer.status, plaid.status.clone()) {
            Ok(Transition::Moved { to, .. }) => to,
            Ok(Transition::Unchanged) => return Ok(Attempt::Done),
            Err(TransitionError::UnknownStatus(status)) => {
                tracing::error!(bank_transfer_id = %transfer.id, %status, "UNKNOWN bank transfer status from Plaid; stored as pending until an event or a read says more");
                PlaidBankTransferStatus::Pending
            }
            Err(TransitionError::Illegal { from, to }) => {
                return Err(Stop::Retry(
                    format!("Plaid answered {to}, which {from} cannot move to"),
                    None,
                ));
            }
        };
        let plaid_id = plaid.id.clone();
        let change = BankTransferChange {
            from: PlaidBankTransferStatus::Submitting,
            to: to.clone(),
            cancellable: plaid.cancellable,
            failure: plaid.failure_reason.clone(),
            reason: plaid
                .failure_reason
                .as_ref()
                .and_then(|failure| failure.description.clone()),
            failure_code: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        let saved = if finish {
            self.store
                .save_plaid_answer_and_finish(claim, transfer.id, plaid, change)
                .await?
        } else {
            self.store
                .save_plaid_answer(claim, transfer.id, plaid, change)
                .await?
        };
        match saved {
            PlaidAnswerSaved::Saved => {
                tracing::info!(bank_transfer_id = %transfer.id, plaid_bank_transfer_id = %plaid_id, status = %to, "Plaid has the bank transfer");
                metrics::counter!("funding_bank_transfer_status_changes_total", "to" => to.as_str().to_owned()).increment(1);
                crate::observe::entry_originated(
                    "plaid",
                    transfer.request.transfer_type().as_str(),
                );
                if let Err(error) = self.apply_pending_events().await {
                    tracing::warn!(
                        "cannot apply the bank-transfer events waiting for this transfer yet: {error}"
                    );
                }
                Ok(if finish {
                    Attempt::Finished
                } else {
                    Attempt::Done
                })
            }
            PlaidAnswerSaved::NotSubmitting => Ok(Attempt::Done),
            PlaidAnswerSaved::HeldByAnother => {
                tracing::error!(bank_transfer_id = %transfer.id, plaid_bank_transfer_id = %plaid_id, "Plaid answered a transfer another caller's request made with the same idempotency key");
                let change = self.refusal(
                    transfer,
                    "another caller's bank transfer was made with this idempotency key; Plaid \
                     keys are shared by every caller of this service, choose another key"
                        .to_owned(),
                    KEY_HELD_BY_ANOTHER.to_owned(),
                    "service:key_held",
                );
                self.store
                    .refuse_bank_transfer(claim, transfer.id, change)
                    .await?;
                Ok(Attempt::Done)
            }
        }
    }

    fn refusal(
        &self,
        transfer: &BankTransfer,
        reason: String,
        failure_code: String,
        source: &str,
    ) -> BankTransferChange {
        BankTransferChange {
            from: transfer.status.clone(),
            to: PlaidBankTransferStatus::Refused,
            cancellable: false,
            failure: None,
            reason: Some(reason),
            failure_code: Some(failure_code),
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        }
    }
}

/// Whether Plaid definitely refused the create (nothing was made). Refused credentials, limits
/// and outages are not refusals of the transfer: they are retried.
fn refuses(error: &ProviderError) -> bool {
    error.is_refusal() && !error.outcome_unknown()
}
