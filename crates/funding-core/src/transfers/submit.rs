//! The work that submits a transfer to Alpaca ([`WorkKind::TransferSubmit`]). It runs one at a time
//! per Alpaca account (its ordering key), so a lookup never takes another request's transfer and a
//! withdrawal is checked against a withdrawable amount no other submit of ours is about to spend.
//!
//! 1. After an earlier attempt that may have reached Alpaca (its request time is stored), the
//!    transfer is looked up first: an Alpaca transfer over our relationship with our requested
//!    amount (`requested_amount`, Alpaca's `amount` being net of fees) and direction, created since
//!    our request less a clock skew of seconds (those created after the request first), that none
//!    of ours holds, is adopted through UNIQUE(provider_transfer_id).
//! 2. An empty lookup proves nothing until the unknown outcome has settled (DESIGN §4.2, see
//!    [`Settling`]): until then the transfer waits, saying why in its status reason, and is neither
//!    created again nor failed.
//! 3. A withdrawal is checked against what Alpaca lets the account withdraw less what this service
//!    already has in flight there (DESIGN §4.7), whether or not Alpaca's `cash_withdrawable` nets
//!    queued withdrawals; one that does not fit ends FAILED, unsent, naming what would fit.
//! 4. The request time is stored (only while the transfer is still SUBMITTING: a cancel that won
//!    the race means nothing is sent), then the create is sent once; its answer is stored with the
//!    work's fence.
//!
//! A create whose outcome is unknown is never given up blindly: when the attempts run out, a last
//! lookup decides, and until the outcome has settled the work keeps waiting.

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use funding_domain::lifecycle::{self, Transition};
use funding_domain::{AlpacaTransferStatus, TransferId};
use rust_decimal::Decimal;

use super::Transfers;
use super::create::INSUFFICIENT_WITHDRAWABLE;
use crate::engine::{Attempt, Settling, Stop, WorkHandler};
use crate::failure;
use crate::model::{RiskDecision, Transfer};
use crate::ports::{
    AlpacaTransfer, Claim, ClaimedWork, TransferChange, TransferDirection, TransferSaved,
};
use crate::risk::RISK_FAILURE_PREFIX;
use funding_domain::risk::{Decision, Verdict};

pub(super) struct TransferSubmission(pub(super) Transfers);

/// How often a transfer held by a freeze looks again (an unfreeze makes it due at once).
const FROZEN_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// What the risk checks left to do.
enum Checked {
    /// Send it, storing this decision with the request mark (`None`: decided before).
    Send(Option<RiskDecision>),
    /// Refused or held: nothing to send.
    Ended,
}

#[async_trait]
impl WorkHandler for TransferSubmission {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        let id = TransferId::from_uuid(work.subject_id);
        match self.0.submit(&work.claim, id, None).await {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, work: &ClaimedWork, reason: &str) -> Attempt {
        let id = TransferId::from_uuid(work.subject_id);
        let transfers = &self.0;
        let result = async {
            let transfer = transfers.load(id).await?;
            if transfer.status != AlpacaTransferStatus::Submitting {
                return Ok(Attempt::Done);
            }
            if let Some(requested_at) = transfer.submit_requested_at {
                // It may be at Alpaca: only a lookup that answers, after the outcome settled, may
                // end it.
                if transfers
                    .adopt(&work.claim, &transfer, requested_at)
                    .await?
                {
                    return Ok(Attempt::Done);
                }
                transfers
                    .settle(&work.claim, &transfer, requested_at)
                    .await?;
            }
            transfers
                .fail(
                    &work.claim,
                    &transfer,
                    reason.to_owned(),
                    failure::ATTEMPTS_EXHAUSTED.to_owned(),
                    "engine:gave_up",
                )
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

impl Transfers {
    /// One attempt; `decided` is the checks' decision when the create took it just before (a
    /// refusal or a hold, stored here rather than decided twice).
    pub(super) async fn submit(
        &self,
        claim: &Claim,
        id: TransferId,
        decided: Option<Decision>,
    ) -> Result<Attempt, Stop> {
        let transfer = self.load(id).await?;
        if transfer.status != AlpacaTransferStatus::Submitting {
            return Ok(Attempt::Done);
        }
        if let Some(requested_at) = transfer.submit_requested_at {
            if self.adopt(claim, &transfer, requested_at).await? {
                return Ok(Attempt::Done);
            }
            self.settle(claim, &transfer, requested_at).await?;
            tracing::warn!(transfer_id = %id, "the unknown outcome settled and Alpaca has no such transfer: sending the create again");
        }
        let decision = match self.check(claim, &transfer, decided).await? {
            Checked::Send(decision) => decision,
            Checked::Ended => return Ok(Attempt::Done),
        };
        if transfer.direction == TransferDirection::Withdrawal {
            let withdrawable = self.withdrawable(&transfer).await?;
            if withdrawable < transfer.amount.as_decimal() {
                let reason = format!(
                    "the withdrawal of {} is more than can be withdrawn now: at most {:.2} \
                     (Alpaca's withdrawable cash less this service's withdrawals in flight)",
                    transfer.amount,
                    withdrawable.max(Decimal::ZERO)
                );
                tracing::info!(transfer_id = %id, %withdrawable, "withdrawal refused: not enough withdrawable cash");
                self.fail(
                    claim,
                    &transfer,
                    reason,
                    INSUFFICIENT_WITHDRAWABLE.to_owned(),
                    "service:withdrawable",
                )
                .await?;
                return Ok(Attempt::Done);
            }
        }
        let now = self.clock.now();
        if !self
            .store
            .mark_submit_requested(claim, id, now, decision.as_ref())
            .await?
        {
            return Ok(Attempt::Done);
        }
        self.send(claim, &transfer).await
    }

    /// Sends the create of `transfer` (as it was before its request mark, which is stored) once,
    /// and stores the answer: Alpaca's transfer with the work finished in the same transaction,
    /// or a refusal as FAILED; a request certainly not processed has its mark taken back.
    pub(super) async fn send(&self, claim: &Claim, transfer: &Transfer) -> Result<Attempt, Stop> {
        let id = transfer.id;
        match self
            .broker
            .create_transfer(
                transfer.account_id,
                transfer.relationship_id,
                &transfer.amount,
                transfer.direction,
            )
            .await
        {
            Ok(created) => match self
                .save(claim, transfer, created, "alpaca:create", true)
                .await?
            {
                TransferSaved::Saved => Ok(Attempt::Finished),
                TransferSaved::NotSubmitting | TransferSaved::HeldByAnother => Ok(Attempt::Done),
            },
            Err(error) if error.is_refusal() && !error.outcome_unknown() => {
                tracing::warn!(transfer_id = %id, code = %error.code, "Alpaca refused the transfer: {}", error.message);
                self.fail(
                    claim,
                    transfer,
                    error.message.clone(),
                    failure::encode(&error),
                    &format!("{}:error", error.provider),
                )
                .await?;
                Ok(Attempt::Refused(error))
            }
            Err(error) if error.certainly_not_processed() => {
                // Certainly not processed (a rate limit, a connection never made): nothing can
                // land late, so the next attempt sends again without settling.
                self.store
                    .restore_submit_requested(claim, id, transfer.submit_requested_at)
                    .await?;
                Err(Stop::provider(error))
            }
            Err(error) => Err(Stop::provider(error)),
        }
    }

    /// The risk checks (DESIGN §11), once per transfer: a REFUSE ends it FAILED with the reason, a
    /// REVIEW holds it in PENDING_REVIEW (nothing sent until an operator approves it), an ACCEPT is
    /// stored with the request mark. Whatever was decided, nothing is sent while the account's
    /// funding is frozen: the transfer waits, saying so.
    async fn check(
        &self,
        claim: &Claim,
        transfer: &Transfer,
        decided: Option<Decision>,
    ) -> Result<Checked, Stop> {
        // A frozen account's transfers accepted before the freeze wait, unsent, until an operator
        // unfreezes it (DESIGN §12); the unfreeze makes their work due at once.
        let controls = self.risk.controls(transfer.account_id).await?;
        if let Some(freeze) = &controls.frozen {
            let reason = format!(
                "held: the account's funding is frozen ({}); sent once it is unfrozen",
                freeze.reason
            );
            self.store
                .note_submit_waiting(claim, transfer.id, &reason)
                .await?;
            return Err(Stop::Wait(reason, FROZEN_RECHECK));
        }
        if transfer.risk.is_some() {
            // Decided before (approved after review).
            return Ok(Checked::Send(None));
        }
        let decision = match decided {
            Some(decision) => decision,
            None => self.risk.check_transfer(transfer, &controls).await?,
        };
        let stored = RiskDecision::from(&decision);
        match decision.verdict {
            Verdict::Accept => Ok(Checked::Send(Some(stored))),
            Verdict::Refuse => {
                let reason = decision.reason.unwrap_or("REFUSED");
                tracing::info!(transfer_id = %transfer.id, rule = decision.rule.as_str(), reason, "transfer refused by the risk checks: {}", decision.detail);
                let change = TransferChange {
                    from: AlpacaTransferStatus::Submitting,
                    to: AlpacaTransferStatus::Failed,
                    reason: Some(format!("{reason}: {}", decision.detail)),
                    ach_return_code: None,
                    source: format!("risk:{}", decision.rule.as_str()),
                    event_id: None,
                    at: self.clock.now(),
                };
                if self
                    .risk_store()
                    .refuse_transfer(
                        claim,
                        transfer.id,
                        change,
                        format!("{RISK_FAILURE_PREFIX}{reason}"),
                        &stored,
                    )
                    .await?
                {
                    metrics::counter!("funding_risk_decisions_total", "verdict" => "REFUSE", "rule" => decision.rule.as_str()).increment(1);
                    metrics::counter!("funding_transfer_status_changes_total", "to" => "FAILED")
                        .increment(1);
                }
                Ok(Checked::Ended)
            }
            Verdict::Review => {
                tracing::info!(transfer_id = %transfer.id, rule = decision.rule.as_str(), "transfer held for review: {}", decision.detail);
                if self
                    .risk
                    .hold_for_review(claim, transfer, &decision)
                    .await?
                {
                    metrics::counter!("funding_risk_decisions_total", "verdict" => "REVIEW", "rule" => decision.rule.as_str()).increment(1);
                    metrics::counter!("funding_transfer_status_changes_total", "to" => "PENDING_REVIEW")
                        .increment(1);
                }
                Ok(Checked::Ended)
            }
        }
    }

    fn risk_store(&self) -> &dyn crate::ports::RiskStore {
        self.risk.store()
    }

    /// Returns (as a [`Stop::Wait`]) while the outcome of the create sent at `requested_at` has not
    /// settled, saying why in the transfer's status reason; `Ok` once it has.
    pub(super) async fn settle(
        &self,
        claim: &Claim,
        transfer: &Transfer,
        requested_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Stop> {
        let settling = Settling::at(
            "transfer create",
            requested_at,
            self.clock.now(),
            self.settings.unknown_outcome_settle,
        );
        if let Settling::Waiting { reason, .. } = &settling {
            tracing::info!(transfer_id = %transfer.id, "{reason}");
            self.store
                .note_submit_waiting(claim, transfer.id, reason)
                .await?;
        }
        settling.into_stop().map_or(Ok(()), Err)
    }

    /// What the account may withdraw now without overdrawing (DESIGN §4.7): the least of Alpaca's
    /// `cash_withdrawable` (whatever it nets) and its `cash` less the larger of Alpaca's
    /// `pending_transfer_out` and this service's own withdrawals in flight. Whether or not Alpaca
    /// nets queued withdrawals, nothing in flight is counted as withdrawable twice.
    async fn withdrawable(&self, transfer: &Transfer) -> Result<Decimal, Stop> {
        let funds = self
            .broker
            .account_funds(transfer.account_id)
            .await
            .map_err(Stop::provider)?;
        let ours: Decimal = self
            .store
            .withdrawals_in_flight(transfer.account_id, transfer.id)
            .await?
            .iter()
            .map(|amount| amount.as_decimal())
            .sum();
        let pending_out = funds
            .pending_transfer_out
            .unwrap_or(Decimal::ZERO)
            .max(ours);
        Ok(funds.cash_withdrawable.min(funds.cash - pending_out))
    }

    /// Looks for the Alpaca transfer an earlier attempt may have made, and adopts it.
    pub(super) async fn adopt(
        &self,
        claim: &Claim,
        transfer: &Transfer,
        requested_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, Stop> {
        let skew = ChronoDuration::from_std(self.settings.adoption_skew)
            .unwrap_or(ChronoDuration::seconds(5));
        let requested = transfer.amount.as_decimal();
        let mut candidates: Vec<AlpacaTransfer> = self
            .broker
            .list_transfers(transfer.account_id, Some(transfer.direction))
            .await
            .map_err(|error| Stop::Retry(format!("looking the transfer up: {error}"), Some(error)))?
            .into_iter()
            .filter(|candidate| {
                candidate.relationship_id == Some(transfer.relationship_id)
                    && candidate.direction == transfer.direction
                    && candidate.requested() == requested
                    && candidate.created_at >= requested_at - skew
            })
            .collect();
        // Those made after our request first (the likeliest ours), then those within the skew.
        candidates
            .sort_by_key(|candidate| (candidate.created_at < requested_at, candidate.created_at));
        for candidate in candidates {
            if self
                .store
                .find_transfer_by_provider_id(candidate.id)
                .await?
                .is_some()
            {
                continue;
            }
            let provider_id = candidate.id;
            match self
                .save(claim, transfer, candidate, "alpaca:lookup", false)
                .await?
            {
                TransferSaved::Saved => {
                    tracing::info!(transfer_id = %transfer.id, provider_transfer_id = %provider_id, "adopted the Alpaca transfer an earlier attempt made");
                    return Ok(true);
                }
                TransferSaved::NotSubmitting => return Ok(true),
                TransferSaved::HeldByAnother => continue,
            }
        }
        Ok(false)
    }

    /// Stores Alpaca's transfer on our SUBMITTING one, with its first status (and, when `finish`,
    /// the work finished in the same transaction).
    async fn save(
        &self,
        claim: &Claim,
        transfer: &Transfer,
        created: AlpacaTransfer,
        source: &str,
        finish: bool,
    ) -> Result<TransferSaved, Stop> {
        let status = match lifecycle::apply(
            &AlpacaTransferStatus::Submitting,
            created.status.clone(),
        ) {
            Ok(Transition::Moved { to, .. }) => to,
            _ => {
                tracing::error!(status = %created.status, "Alpaca reported a transfer in a status the service does not know; keeping it QUEUED");
                AlpacaTransferStatus::Queued
            }
        };
        let change = TransferChange {
            from: AlpacaTransferStatus::Submitting,
            to: status.clone(),
            reason: created.reason.clone(),
            ach_return_code: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        let saved = if finish {
            self.store
                .save_submitted_and_finish(claim, transfer.id, created.id, change)
                .await?
        } else {
            self.store
                .save_submitted(claim, transfer.id, created.id, change)
                .await?
        };
        if saved == TransferSaved::Saved {
            tracing::info!(transfer_id = %transfer.id, provider_transfer_id = %created.id, %status, source, "transfer submitted");
            metrics::counter!("funding_transfer_status_changes_total", "to" => status.as_str().to_owned()).increment(1);
            crate::observe::entry_originated("alpaca", transfer.direction.as_alpaca());
        }
        Ok(saved)
    }

    async fn fail(
        &self,
        claim: &Claim,
        transfer: &Transfer,
        reason: String,
        failure_code: String,
        source: &str,
    ) -> Result<(), Stop> {
        let change = TransferChange {
            from: AlpacaTransferStatus::Submitting,
            to: AlpacaTransferStatus::Failed,
            reason: Some(reason),
            ach_return_code: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        if self
            .store
            .end_unsubmitted(claim, transfer.id, change, Some(failure_code))
            .await?
        {
            metrics::counter!("funding_transfer_status_changes_total", "to" => "FAILED")
                .increment(1);
        }
        Ok(())
    }
}
