//! The work that creates a link ([`WorkKind::LinkCreate`](crate::ports::WorkKind)): the public token
//! is exchanged, a processor token is made for Alpaca, and the ACH relationship is created, each
//! result stored (under the work's claim) before the next call, so that the next attempt continues
//! where the last one stopped.
//!
//! Two calls have no safe repeat:
//! - the exchange: the public token is single-use, so an exchange whose outcome is unknown is never
//!   sent again; the link ends FAILED with a reason that says a new public token is needed;
//! - Alpaca's relationship create has no idempotency key: the time of the request is stored before
//!   it is sent, and after an unknown outcome (or a 409 that may be our own earlier create) the
//!   relationship is looked up and adopted rather than created again (see [`super::adopt`]); an
//!   empty lookup counts only once the outcome has settled ([`Settling`]), for the last attempt's
//!   give-up too, so a create that lands late is adopted, never orphaned.
//!
//! A Plaid answer that says the request was not processed (`PLANNED_MAINTENANCE`, a rate limit, a
//! connection never made: [`ProviderErrorKind::NotProcessed`]) is retried, the exchange included.
//!
//! A link that fails after its exchange queues the removal of its Plaid Item with the failure.

use async_trait::async_trait;
use funding_domain::lifecycle::{self, Transition};
use funding_domain::{AccessToken, AchRelationshipStatus, BankLinkId, ProcessorToken};

use super::BankLinks;
use super::replace::Way;
use crate::engine::{Attempt, Settling, Stop, WorkHandler};
use crate::failure;
use crate::model::BankLink;
use crate::ports::{
    AchRelationship, Claim, ClaimedWork, LinkStatusChange, ProviderError, ProviderErrorKind,
    RelationshipSaved, SavedRelationship,
};

/// The handler of link creation work.
pub(crate) struct LinkCreation(pub(crate) BankLinks);

#[async_trait]
impl WorkHandler for LinkCreation {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        let id = BankLinkId::from_uuid(work.subject_id);
        match self.0.create_steps(&work.claim, id).await {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, work: &ClaimedWork, reason: &str) -> Attempt {
        let id = BankLinkId::from_uuid(work.subject_id);
        let links = &self.0;
        let result = async {
            let link = links.load(id).await?;
            if !link.is_creating() {
                return Ok(());
            }
            if let Some(requested_at) = link.relationship_requested_at {
                // The last create may have reached Alpaca: only a lookup after the outcome
                // settled may end the link (an orphaned relationship would refuse every later
                // link of the account with a 409).
                if links.adopt(&work.claim, &link, requested_at).await? {
                    return Ok(());
                }
                links.settle(&work.claim, &link, requested_at).await?;
            }
            let remove_item = links.secrets.link_secrets(id).await?.access_token.is_some();
            links
                .fail_with(
                    &work.claim,
                    id,
                    reason.to_owned(),
                    failure::ATTEMPTS_EXHAUSTED.to_owned(),
                    "engine:gave_up",
                    remove_item,
                )
                .await
        }
        .await;
        match result {
            Ok(_) => Attempt::Done,
            Err(stop) => stop.into_attempt(),
        }
    }
}

impl BankLinks {
    async fn create_steps(&self, claim: &Claim, id: BankLinkId) -> Result<Attempt, Stop> {
        let link = self.load(id).await?;
        if !link.is_creating() {
            return Ok(Attempt::Done);
        }
        let mut secrets = self.secrets.link_secrets(id).await?;
        let access_token = match secrets.access_token.take() {
            Some(token) => token,
            None => match self
                .exchange(claim, &link, secrets.public_token.take())
                .await?
            {
                Ok(token) => token,
                Err(ended) => return Ok(ended),
            },
        };
        let processor_token = match secrets.processor_token.take() {
            Some(token) => token,
            None => match self
                .plaid
                .create_processor_token(&access_token, &link.plaid_account_id)
                .await
            {
                Ok(token) => {
                    self.secrets.save_processor_token(claim, id, &token).await?;
                    token
                }
                Err(error) if error.is_refusal() => {
                    return self.fail(claim, id, &error, true).await;
                }
                Err(error) => return Err(Stop::provider(error)),
            },
        };
        if link.relationship_requested_at.is_none()
            && let Some(ended) = self.check_owner_name(claim, &link, &access_token).await?
        {
            return Ok(ended);
        }
        if link.relationship_requested_at.is_none()
            && let Some(old) = link.replaces
        {
            match self.clear_the_way(claim, &link, old).await? {
                Way::Clear => {}
                Way::Refused(error) => return self.fail(claim, id, &error, true).await,
            }
        }
        self.create_relationship(claim, &link, &processor_token)
            .await
    }

    /// The owner-name check (DESIGN §11) before anything is asked of Alpaca: `None` to go on;
    /// `Some` with how the attempt ended when the link failed (`NAME_MISMATCH`); a wait while its
    /// review is open. A review approved lets it go on; rejected or expired, it fails.
    async fn check_owner_name(
        &self,
        claim: &Claim,
        link: &BankLink,
        access_token: &AccessToken,
    ) -> Result<Option<Attempt>, Stop> {
        use crate::ports::ReviewState;
        use funding_domain::risk::Verdict;
        let Some(risk) = &self.risk else {
            return Ok(None);
        };
        let mismatch = format!(
            "{}{}",
            crate::risk::RISK_FAILURE_PREFIX,
            funding_domain::risk::names::NAME_MISMATCH
        );
        if let Some(review) = risk
            .store()
            .review_of("bank_link", link.id.as_uuid())
            .await?
        {
            return match review.state {
                ReviewState::Approved => Ok(None),
                ReviewState::Open => Err(Stop::Wait(
                    format!(
                        "waiting for an operator's review of the owner name: {}",
                        review.detail
                    ),
                    std::time::Duration::from_secs(30),
                )),
                ReviewState::Rejected | ReviewState::Expired => {
                    let how = if review.state == ReviewState::Rejected {
                        format!(
                            "rejected in review by {}: {}",
                            review.decided_by.as_deref().unwrap_or("an operator"),
                            review.note.as_deref().unwrap_or_default()
                        )
                    } else {
                        "its review expired unreviewed".to_owned()
                    };
                    self.fail_with(
                        claim,
                        link.id,
                        format!("NAME_MISMATCH: {}; {how}", review.detail),
                        mismatch,
                        "risk:owner_name",
                        true,
                    )
                    .await?;
                    Ok(Some(Attempt::Done))
                }
            };
        }
        if risk.settings().name_check == funding_domain::risk::names::NameCheck::Off {
            return Ok(None);
        }
        let owner = match self.broker.account_owner_name(link.account_id).await {
            Ok(owner) => owner,
            Err(error) if error.is_refusal() => {
                tracing::warn!(code = %error.code, "Alpaca gave no account owner to compare the bank's with; the name check passes");
                None
            }
            Err(error) => return Err(Stop::provider(error)),
        };
        let decision = risk
            .check_owner_name(access_token, &link.plaid_account_id, owner.as_deref())
            .await
            .map_err(Stop::provider)?;
        match decision.verdict {
            Verdict::Accept => Ok(None),
            Verdict::Refuse => {
                tracing::info!(bank_link_id = %link.id, "bank link refused by the owner-name check: {}", decision.detail);
                metrics::counter!("funding_risk_decisions_total", "verdict" => "REFUSE", "rule" => "owner_name").increment(1);
                self.fail_with(
                    claim,
                    link.id,
                    format!("NAME_MISMATCH: {}", decision.detail),
                    mismatch,
                    "risk:owner_name",
                    true,
                )
                .await?;
                Ok(Some(Attempt::Done))
            }
            Verdict::Review => {
                metrics::counter!("funding_risk_decisions_total", "verdict" => "REVIEW", "rule" => "owner_name").increment(1);
                risk.open_link_review(link, &decision).await?;
                Err(Stop::Wait(
                    format!(
                        "waiting for an operator's review of the owner name: {}",
                        decision.detail
                    ),
                    std::time::Duration::from_secs(30),
                ))
            }
        }
    }

    /// Exchanges the public token, once. `Err` with how the attempt ended when the link ended
    /// FAILED instead.
    async fn exchange(
        &self,
        claim: &Claim,
        link: &BankLink,
        public_token: Option<funding_domain::PublicToken>,
    ) -> Result<Result<AccessToken, Attempt>, Stop> {
        let id = link.id;
        if link.exchange_requested_at.is_some() {
            return self
                .fail_needing_public_token(
                    claim,
                    id,
                    "an earlier exchange of its public token was sent and its outcome is unknown",
                )
                .await
                .map(Err);
        }
        let Some(public_token) = public_token else {
            return self
                .fail_needing_public_token(claim, id, "its public token is no longer stored")
                .await
                .map(Err);
        };
        self.secrets
            .mark_exchange_requested(claim, id, Some(self.clock.now()))
            .await?;
        match self.plaid.exchange_public_token(&public_token).await {
            Ok(item) => {
                self.secrets
                    .save_exchange(claim, id, &item.access_token, &item.item_id)
                    .await?;
                Ok(Ok(item.access_token))
            }
            Err(error) if error.outcome_unknown() || error.kind == ProviderErrorKind::Decode => {
                tracing::warn!(code = %error.code, "the public token exchange had an unknown outcome; it is not repeated");
                self.fail_needing_public_token(
                    claim,
                    id,
                    &format!(
                        "the exchange of its public token had an unknown outcome ({})",
                        error.code
                    ),
                )
                .await
                .map(Err)
            }
            Err(error) if error.is_refusal() => self.fail(claim, id, &error, false).await.map(Err),
            Err(error) => {
                // Refused before it was processed (429, our credentials): safe to send again.
                self.secrets
                    .mark_exchange_requested(claim, id, None)
                    .await?;
                Err(Stop::provider(error))
            }
        }
    }

    async fn create_relationship(
        &self,
        claim: &Claim,
        link: &BankLink,
        processor_token: &ProcessorToken,
    ) -> Result<Attempt, Stop> {
        let earlier_request = link.relationship_requested_at;
        if let Some(requested_at) = earlier_request {
            if self.adopt(claim, link, requested_at).await? {
                return Ok(Attempt::Done);
            }
            self.settle(claim, link, requested_at).await?;
            tracing::warn!(bank_link_id = %link.id, "the unknown outcome settled and Alpaca has no such relationship: sending the create again");
        }
        let now = self.clock.now();
        self.statuses
            .mark_relationship_requested(claim, link.id, now)
            .await?;
        match self
            .broker
            .create_ach_relationship(link.account_id, processor_token, link.nickname.as_ref())
            .await
        {
            Ok(relationship) => {
                match self
                    .save_relationship(claim, link, relationship, "alpaca:create")
                    .await?
                {
                    RelationshipSaved::HeldByAnother => Err(Stop::Retry(
                        "Alpaca answered with a relationship another link holds".into(),
                        None,
                    )),
                    RelationshipSaved::Saved | RelationshipSaved::NotCreating => Ok(Attempt::Done),
                }
            }
            Err(error)
                if error.kind == ProviderErrorKind::Conflict && earlier_request.is_some() =>
            {
                // Perhaps our own earlier create, whose answer was lost.
                if self
                    .adopt(claim, link, earlier_request.unwrap_or(now))
                    .await?
                {
                    return Ok(Attempt::Done);
                }
                self.fail(claim, link.id, &error, true).await
            }
            Err(error) if error.is_refusal() => self.fail(claim, link.id, &error, true).await,
            Err(error) if error.certainly_not_processed() => {
                // Certainly not processed: nothing can land late.
                self.statuses
                    .restore_relationship_requested(claim, link.id, earlier_request)
                    .await?;
                Err(Stop::provider(error))
            }
            Err(error) => Err(Stop::provider(error)),
        }
    }

    /// Returns (as a [`Stop::Wait`]) while the outcome of the relationship create sent at
    /// `requested_at` has not settled, saying why in the link's status reason; `Ok` once it has.
    async fn settle(
        &self,
        claim: &Claim,
        link: &BankLink,
        requested_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Stop> {
        let settling = Settling::at(
            "relationship create",
            requested_at,
            self.clock.now(),
            self.settings.unknown_outcome_settle,
        );
        if let Settling::Waiting { reason, .. } = &settling {
            tracing::info!(bank_link_id = %link.id, "{reason}");
            self.statuses
                .note_creating_waiting(claim, link.id, reason)
                .await?;
        }
        settling.into_stop().map_or(Ok(()), Err)
    }

    /// Stores a relationship from Alpaca on a CREATING link, with its first status.
    pub(super) async fn save_relationship(
        &self,
        claim: &Claim,
        link: &BankLink,
        relationship: AchRelationship,
        source: &str,
    ) -> Result<RelationshipSaved, Stop> {
        let status = match lifecycle::apply(
            &AchRelationshipStatus::Creating,
            relationship.status.clone(),
        ) {
            Ok(Transition::Moved { to, .. }) => to,
            _ => {
                tracing::error!(status = %relationship.status, "Alpaca reported a relationship in a status the service does not know; keeping it QUEUED");
                AchRelationshipStatus::Queued
            }
        };
        let change = LinkStatusChange {
            from: AchRelationshipStatus::Creating,
            to: status.clone(),
            reason: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        let saved = SavedRelationship {
            relationship_id: relationship.id,
            account_owner_name: relationship.account_owner_name.clone(),
            bank_account_type: relationship.bank_account_type.clone(),
            bank_account_mask: relationship.bank_account_mask.clone(),
        };
        let outcome = self
            .statuses
            .save_relationship(claim, link.id, saved, change)
            .await?;
        if outcome == RelationshipSaved::Saved {
            tracing::info!(ach_relationship_id = %relationship.id, %status, source, "bank link has its relationship");
            metrics::counter!("funding_bank_link_status_changes_total", "to" => status.as_str().to_owned()).increment(1);
        }
        Ok(outcome)
    }

    /// Ends the link FAILED with a provider's definite refusal, which the attempt answers.
    async fn fail(
        &self,
        claim: &Claim,
        id: BankLinkId,
        error: &ProviderError,
        remove_item: bool,
    ) -> Result<Attempt, Stop> {
        tracing::warn!(provider = %error.provider, code = %error.code, "bank link failed: {}", error.message);
        self.fail_with(
            claim,
            id,
            error.message.clone(),
            failure::encode(error),
            &format!("{}:error", error.provider),
            remove_item,
        )
        .await?;
        Ok(Attempt::Refused(error.clone()))
    }

    async fn fail_needing_public_token(
        &self,
        claim: &Claim,
        id: BankLinkId,
        why: &str,
    ) -> Result<Attempt, Stop> {
        let reason = format!(
            "{why}; a public token can be exchanged only once: run Plaid Link again for a new public token and create the link with it and a new idempotency key"
        );
        tracing::warn!(bank_link_id = %id, "bank link failed: {reason}");
        self.fail_with(
            claim,
            id,
            reason,
            failure::PUBLIC_TOKEN_NEEDED.to_owned(),
            "plaid:exchange_unknown",
            false,
        )
        .await?;
        Ok(Attempt::Done)
    }

    pub(super) async fn fail_with(
        &self,
        claim: &Claim,
        id: BankLinkId,
        reason: String,
        failure_code: String,
        source: &str,
        remove_item: bool,
    ) -> Result<(), Stop> {
        let note = self.replacement_note(&self.load(id).await?).await?;
        let change = LinkStatusChange {
            from: AchRelationshipStatus::Creating,
            to: AchRelationshipStatus::Failed,
            reason: Some(reason + &note),
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        if self
            .statuses
            .fail_link(claim, id, change, failure_code, remove_item)
            .await?
        {
            metrics::counter!("funding_bank_link_status_changes_total", "to" => "FAILED")
                .increment(1);
            if remove_item {
                self.engine.wake();
            }
        }
        Ok(())
    }
}
