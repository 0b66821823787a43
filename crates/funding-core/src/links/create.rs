//! Creating a bank link: the public token is exchanged, a processor token is made for Alpaca, and an
//! ACH relationship is created — each result stored before the next step, so that a repeat of the
//! request (same idempotency key), or the resumer after a crash, continues where it stopped.
//! Alpaca's relationship create has no idempotency key: the time of the request is stored before it is
//! sent, and after an unknown outcome the relationship is looked up at Alpaca before a second create.

use chrono::Duration as ChronoDuration;
use funding_domain::lifecycle::{self, Transition};
use funding_domain::{
    AccountId, AchRelationshipStatus, BankLinkId, IdempotencyKey, Nickname, PlaidAccountId,
    PublicToken, ValidationErrors,
};

use super::{BankLinks, failure, fingerprint::Fingerprint};
use crate::error::CoreError;
use crate::model::BankLink;
use crate::ports::{
    AchRelationship, Begin, IdempotencyClaim, NewBankLink, ProviderError, StatusChange,
};

const OPERATION: &str = "CreateBankLink";

/// The request as the caller sent it; empty strings are "not given".
#[derive(Clone, Default)]
pub struct CreateBankLinkInput {
    pub account_id: String,
    pub public_token: String,
    pub plaid_account_id: String,
    pub nickname: String,
    pub idempotency_key: String,
}

impl std::fmt::Debug for CreateBankLinkInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBankLinkInput")
            .field("account_id", &self.account_id)
            .field("public_token", &"[REDACTED]")
            .field("plaid_account_id", &self.plaid_account_id)
            .field("nickname", &self.nickname)
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// A valid create request.
struct CreateBankLink {
    account_id: AccountId,
    public_token: PublicToken,
    plaid_account_id: PlaidAccountId,
    nickname: Option<Nickname>,
    idempotency_key: IdempotencyKey,
}

impl CreateBankLink {
    fn parse(input: &CreateBankLinkInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let account_id = errors.check(AccountId::parse(&input.account_id));
        let public_token = errors.check(PublicToken::parse(&input.public_token));
        let plaid_account_id = errors.check(PlaidAccountId::parse(&input.plaid_account_id));
        let nickname = if input.nickname.is_empty() {
            Some(None)
        } else {
            errors.check(Nickname::parse(&input.nickname)).map(Some)
        };
        let idempotency_key = errors.check(IdempotencyKey::parse(&input.idempotency_key));
        match (
            account_id,
            public_token,
            plaid_account_id,
            nickname,
            idempotency_key,
        ) {
            (
                Some(account_id),
                Some(public_token),
                Some(plaid_account_id),
                Some(nickname),
                Some(idempotency_key),
            ) => Ok(Self {
                account_id,
                public_token,
                plaid_account_id,
                nickname,
                idempotency_key,
            }),
            _ => Err(errors),
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::new()
            .field("account_id", self.account_id)
            .secret("public_token", self.public_token.expose_secret())
            .field("plaid_account_id", &self.plaid_account_id)
            .field(
                "nickname",
                self.nickname
                    .as_ref()
                    .map(Nickname::as_str)
                    .unwrap_or_default(),
            )
    }
}

impl BankLinks {
    /// Creates a bank link, or returns the one this caller already made with this idempotency key.
    ///
    /// Errors: `InvalidArgument` listing every bad field (nothing written, nothing sent);
    /// `IdempotencyKeyReused` naming the differing field; `Provider` when Plaid or Alpaca refused
    /// (the link is then FAILED, and a repeat answers the same) or could not be reached (the link stays
    /// CREATING and a repeat, or the resumer, continues it); `Store`.
    #[tracing::instrument(skip_all, fields(caller = %caller, account_id = %input.account_id, idempotency_key = %input.idempotency_key, bank_link_id))]
    pub async fn create(
        &self,
        caller: &str,
        input: CreateBankLinkInput,
    ) -> Result<BankLink, CoreError> {
        let request = CreateBankLink::parse(&input)?;
        let fingerprint = request.fingerprint();
        let now = self.clock.now();
        let link = BankLink {
            id: BankLinkId::generate(),
            caller: caller.to_owned(),
            idempotency_key: request.idempotency_key.clone(),
            account_id: request.account_id,
            plaid_account_id: request.plaid_account_id.clone(),
            plaid_item_id: None,
            nickname: request.nickname.clone(),
            status: AchRelationshipStatus::Creating,
            status_reason: None,
            failure_code: None,
            ach_relationship_id: None,
            account_owner_name: None,
            relationship_requested_at: None,
            created_at: now,
            updated_at: now,
        };
        let claim = IdempotencyClaim {
            caller: caller.to_owned(),
            operation: OPERATION,
            key: request.idempotency_key.as_str().to_owned(),
            fingerprint: fingerprint.encode(),
        };
        let link = match self.store.begin_link(claim, NewBankLink { link }).await? {
            Begin::Created(link) => link,
            Begin::Existing {
                fingerprint: stored,
                resource,
            } => {
                if let Some(field) = fingerprint.first_difference(&stored) {
                    return Err(CoreError::IdempotencyKeyReused {
                        operation: OPERATION,
                        field,
                    });
                }
                resource
            }
        };
        tracing::Span::current().record("bank_link_id", tracing::field::display(link.id));
        // The provider steps run in a task of their own: a caller that gives up (deadline, dropped
        // connection) must not abort them between a provider's answer and storing it.
        let this = self.clone();
        let public_token = request.public_token;
        let steps = async move { this.drive(link, Some(&public_token)).await };
        tokio::spawn(tracing::Instrument::in_current_span(steps))
            .await
            .map_err(|error| CoreError::Internal(format!("the bank link task failed: {error}")))?
    }

    /// Takes a link through its remaining provider steps, if nobody else is doing so.
    pub(crate) async fn drive(
        &self,
        link: BankLink,
        public_token: Option<&PublicToken>,
    ) -> Result<BankLink, CoreError> {
        if link.status == AchRelationshipStatus::Failed {
            return Err(replayed_failure(&link));
        }
        if !link.is_creating() {
            return Ok(link);
        }
        let owner = self.settings.instance.as_str();
        let lease =
            ChronoDuration::from_std(self.settings.lease).unwrap_or(ChronoDuration::seconds(30));
        if !self
            .store
            .lease_link(link.id, owner, self.clock.now() + lease)
            .await?
        {
            // Another request or replica is driving it; answer with where it is now.
            return self.load(link.id).await;
        }
        let outcome = self.run_steps(link.id, public_token).await;
        let released = self.store.release_link(link.id, owner).await;
        let link = match outcome {
            Ok(()) => self.load(link.id).await?,
            Err(StepError::Provider(error)) if refuses_the_link(&error) => {
                self.fail(link.id, &error).await?;
                return Err(CoreError::Provider(error));
            }
            Err(StepError::Provider(error)) => return Err(CoreError::Provider(error)),
            Err(StepError::Core(error)) => return Err(error),
        };
        released?;
        Ok(link)
    }

    async fn run_steps(
        &self,
        id: BankLinkId,
        public_token: Option<&PublicToken>,
    ) -> Result<(), StepError> {
        let mut secrets = self.store.link_secrets(id).await.map_err(CoreError::from)?;
        let access_token = match secrets.access_token.take() {
            Some(token) => token,
            None => {
                let Some(public_token) = public_token else {
                    return Err(StepError::Core(CoreError::FailedPrecondition {
                        reason: "PUBLIC_TOKEN_NEEDED",
                        subject: format!("bank_links/{id}"),
                        message: "the link stopped before its public token was exchanged; repeat the create with the same idempotency key and public token".into(),
                    }));
                };
                let item = self.plaid.exchange_public_token(public_token).await?;
                self.store
                    .save_exchange(id, &item.access_token, &item.item_id)
                    .await
                    .map_err(CoreError::from)?;
                item.access_token
            }
        };
        let link = self.load(id).await?;
        let processor_token = match secrets.processor_token.take() {
            Some(token) => token,
            None => {
                let token = self
                    .plaid
                    .create_processor_token(&access_token, &link.plaid_account_id)
                    .await?;
                self.store
                    .save_processor_token(id, &token)
                    .await
                    .map_err(CoreError::from)?;
                token
            }
        };
        if let Some(requested_at) = link.relationship_requested_at
            && let Some(found) = self
                .find_unclaimed_relationship(&link, requested_at)
                .await?
        {
            tracing::info!(ach_relationship_id = %found.id, "adopting the relationship an earlier attempt created");
            return self.save_relationship(&link, found, "alpaca:lookup").await;
        }
        self.store
            .mark_relationship_requested(id, self.clock.now())
            .await
            .map_err(CoreError::from)?;
        let relationship = self
            .broker
            .create_ach_relationship(link.account_id, &processor_token, link.nickname.as_ref())
            .await?;
        self.save_relationship(&link, relationship, "alpaca:create")
            .await
    }

    /// An active relationship at Alpaca, created since our earlier request, that no link holds.
    async fn find_unclaimed_relationship(
        &self,
        link: &BankLink,
        requested_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<AchRelationship>, StepError> {
        let skew = ChronoDuration::from_std(self.settings.adoption_skew)
            .unwrap_or(ChronoDuration::minutes(5));
        let relationships = self.broker.list_ach_relationships(link.account_id).await?;
        for relationship in relationships {
            if relationship.status.is_active()
                && relationship.created_at >= requested_at - skew
                && self
                    .store
                    .find_link_by_relationship(relationship.id)
                    .await
                    .map_err(CoreError::from)?
                    .is_none()
            {
                return Ok(Some(relationship));
            }
        }
        Ok(None)
    }

    async fn save_relationship(
        &self,
        link: &BankLink,
        relationship: AchRelationship,
        source: &str,
    ) -> Result<(), StepError> {
        let status = match lifecycle::apply(
            &AchRelationshipStatus::Creating,
            relationship.status.clone(),
        ) {
            Ok(Transition::Moved { to, .. }) => to,
            _ => {
                tracing::error!(status = %relationship.status, "Alpaca created a relationship in a status the service does not know; keeping it QUEUED");
                AchRelationshipStatus::Queued
            }
        };
        let change = StatusChange {
            from: AchRelationshipStatus::Creating,
            to: status,
            reason: None,
            source: source.to_owned(),
            event_id: None,
            at: self.clock.now(),
        };
        self.store
            .save_relationship(
                link.id,
                relationship.id,
                &relationship.account_owner_name,
                change,
            )
            .await
            .map_err(CoreError::from)?;
        Ok(())
    }

    pub(super) async fn fail(
        &self,
        id: BankLinkId,
        error: &ProviderError,
    ) -> Result<(), CoreError> {
        tracing::warn!(provider = %error.provider, code = %error.code, "bank link failed: {}", error.message);
        let change = StatusChange {
            from: AchRelationshipStatus::Creating,
            to: AchRelationshipStatus::Failed,
            reason: Some(error.message.clone()),
            source: format!("{}:error", error.provider),
            event_id: None,
            at: self.clock.now(),
        };
        self.store
            .change_link_status(id, change, Some(failure::encode(error)))
            .await?;
        Ok(())
    }
}

/// Whether a provider's answer is a definite "no" to this link. Our own credentials being refused,
/// an unreadable answer or an outage are not: the link stays CREATING, to be continued.
fn refuses_the_link(error: &ProviderError) -> bool {
    use crate::ports::ProviderErrorKind::*;
    match error.kind {
        InvalidRequest | InvalidInput | NotFound | Conflict | Forbidden => true,
        Unauthorized | RateLimited | Unavailable | Transport | Decode => false,
    }
}

/// The error a FAILED link was created with, for a repeat of the same create.
fn replayed_failure(link: &BankLink) -> CoreError {
    let message = link.status_reason.clone().unwrap_or_default();
    match link
        .failure_code
        .as_deref()
        .and_then(|code| failure::decode(code, &message))
    {
        Some(error) => CoreError::Provider(error),
        None => CoreError::FailedPrecondition {
            reason: "BANK_LINK_FAILED",
            subject: format!("bank_links/{}", link.id),
            message: format!("the bank link failed: {message}"),
        },
    }
}

/// A step failed at a provider or elsewhere.
enum StepError {
    Provider(ProviderError),
    Core(CoreError),
}

impl From<ProviderError> for StepError {
    fn from(error: ProviderError) -> Self {
        Self::Provider(error)
    }
}

impl From<CoreError> for StepError {
    fn from(error: CoreError) -> Self {
        Self::Core(error)
    }
}
