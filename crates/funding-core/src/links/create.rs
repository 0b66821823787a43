//! The create request: checked, written with its idempotency record and its work in one
//! transaction, then driven once on the fast path (see [`super::steps`] for what the work does).

use funding_domain::{
    AccountId, AchRelationshipStatus, BankLinkId, IdempotencyKey, Nickname, PlaidAccountId,
    PublicToken, ValidationErrors,
};

use super::BankLinks;
use crate::engine::Attempt;
use crate::error::CoreError;
use crate::failure;
use crate::fingerprint::Fingerprint;
use crate::model::BankLink;
use crate::ports::{IdempotencyClaim, NewBankLink, NewWork, WorkKind, alpaca_account_key};

const OPERATION: &str = "CreateBankLink";

/// The request as the caller sent it; empty strings are "not given".
#[derive(Clone, Default)]
pub struct CreateBankLinkInput {
    pub account_id: String,
    pub public_token: String,
    pub plaid_account_id: String,
    pub nickname: String,
    pub idempotency_key: String,
    /// Changing banks: the account's current link, which the new one replaces.
    pub replace_bank_link_id: String,
}

impl std::fmt::Debug for CreateBankLinkInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBankLinkInput")
            .field("account_id", &self.account_id)
            .field("public_token", &"[REDACTED]")
            .field("plaid_account_id", &self.plaid_account_id)
            .field("nickname", &self.nickname)
            .field("idempotency_key", &self.idempotency_key)
            .field("replace_bank_link_id", &self.replace_bank_link_id)
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
    replaces: Option<BankLinkId>,
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
        let replaces = if input.replace_bank_link_id.is_empty() {
            Some(None)
        } else {
            errors
                .check(
                    BankLinkId::parse(&input.replace_bank_link_id)
                        .map_err(|e| e.at("replace_bank_link_id")),
                )
                .map(Some)
        };
        match (
            account_id,
            public_token,
            plaid_account_id,
            nickname,
            idempotency_key,
            replaces,
        ) {
            (
                Some(account_id),
                Some(public_token),
                Some(plaid_account_id),
                Some(nickname),
                Some(idempotency_key),
                Some(replaces),
            ) => Ok(Self {
                account_id,
                public_token,
                plaid_account_id,
                nickname,
                idempotency_key,
                replaces,
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
            .field(
                "replace_bank_link_id",
                self.replaces.map(|id| id.to_string()).unwrap_or_default(),
            )
    }
}

impl BankLinks {
    /// Creates a bank link, or returns the one this caller already made with this idempotency key.
    /// The link, its idempotency record and its work are written in one transaction; then one attempt
    /// at the work is made here (the fast path), and whatever it could not finish a worker finishes.
    ///
    /// Errors: `InvalidArgument` listing every bad field (nothing written, nothing sent);
    /// `IdempotencyKeyReused` naming the differing field; `Provider` when Plaid or Alpaca refused
    /// (the link is then FAILED, and a repeat answers the same) or could not be reached (the link stays
    /// CREATING and the engine continues it); `Store`.
    #[tracing::instrument(skip_all, fields(caller = %caller, account_id = %input.account_id, idempotency_key = %input.idempotency_key, bank_link_id))]
    pub async fn create(
        &self,
        caller: &str,
        input: CreateBankLinkInput,
    ) -> Result<BankLink, CoreError> {
        let request = CreateBankLink::parse(&input)?;
        if let Some(old) = request.replaces {
            self.check_replaceable(caller, &request, old).await?;
        }
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
            exchange_requested_at: None,
            bank_account_type: None,
            bank_account_mask: None,
            health: funding_domain::BankLinkHealth::Healthy,
            health_reason: None,
            replaces: request.replaces,
            created_at: now,
            updated_at: now,
        };
        let claim = IdempotencyClaim {
            caller: caller.to_owned(),
            operation: OPERATION,
            key: request.idempotency_key.as_str().to_owned(),
            fingerprint: fingerprint.encode(),
        };
        let work = NewWork {
            kind: WorkKind::LinkCreate,
            subject_id: link.id.as_uuid(),
            ordering_key: Some(alpaca_account_key(request.account_id)),
            max_attempts: self.settings.max_attempts,
        };
        let new = NewBankLink {
            link,
            public_token: request.public_token,
            work,
        };
        let begun = match self.store.begin_link(claim, new).await {
            Ok(begun) => begun,
            // Another request replacing the same link won the race (a unique index holds one
            // replacement per link).
            Err(error) => {
                if let Some(old) = request.replaces
                    && let Some(other) = self.store.find_replacement(old).await?
                {
                    return Err(replaced_already(old, other.id));
                }
                return Err(error.into());
            }
        };
        let link = fingerprint.resolve(OPERATION, begun)?;
        tracing::Span::current().record("bank_link_id", tracing::field::display(link.id));
        if !link.is_creating() {
            return answer(link);
        }
        let id = link.id;
        let (attempt, link) = self
            .engine
            .drive_or_wait(
                WorkKind::LinkCreate,
                id.as_uuid(),
                || self.load(id),
                |link: &BankLink| !link.is_creating(),
            )
            .await?;
        match attempt {
            Some(Attempt::Retry {
                error: Some(error), ..
            }) if link.is_creating() => Err(CoreError::Provider(error)),
            // The refusal as the provider gave it (with its request id); a repeat replays it.
            Some(Attempt::Refused(error)) if link.status == AchRelationshipStatus::Failed => {
                Err(CoreError::Provider(error))
            }
            _ => answer(link),
        }
    }
}

impl BankLinks {
    /// Whether `old` may be replaced by this request: a link of the same account that Alpaca
    /// holds (not CREATING, not ended), and not replaced by another request already. A repeat of
    /// the request that replaces it passes, to be answered from its idempotency record.
    async fn check_replaceable(
        &self,
        caller: &str,
        request: &CreateBankLink,
        old: BankLinkId,
    ) -> Result<(), CoreError> {
        let invalid = |message: String| {
            CoreError::InvalidArgument(ValidationErrors::from(
                funding_domain::ValidationError::new("replace_bank_link_id", message),
            ))
        };
        let Some(link) = self.store.get_link(old).await? else {
            return Err(invalid(format!("no bank link {old}")));
        };
        if link.account_id != request.account_id {
            return Err(invalid(format!(
                "bank link {old} belongs to another account"
            )));
        }
        if let Some(replacement) = self.store.find_replacement(old).await? {
            if replacement.caller == caller
                && replacement.idempotency_key == request.idempotency_key
            {
                return Ok(());
            }
            return Err(replaced_already(old, replacement.id));
        }
        use AchRelationshipStatus::*;
        match link.status {
            Queued | Approved | Pending | SentToClearing => Ok(()),
            Creating => Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_CREATING",
                subject: format!("bank_links/{old}"),
                message: format!(
                    "bank link {old} is still being created; replace it once Alpaca has its relationship"
                ),
            }),
            status => Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_NOT_ACTIVE",
                subject: format!("bank_links/{old}"),
                message: format!(
                    "bank link {old} is {status}: there is nothing to replace; create the new link without replace_bank_link_id"
                ),
            }),
        }
    }
}

/// The answer when another link already replaces `old`.
pub(crate) fn replaced_already(old: BankLinkId, by: BankLinkId) -> CoreError {
    CoreError::FailedPrecondition {
        reason: "BANK_LINK_ALREADY_REPLACED",
        subject: format!("bank_links/{old}"),
        message: format!("bank link {old} is already being replaced by bank link {by}"),
    }
}

/// The answer for a link as it stands: a FAILED link answers the error it failed with.
fn answer(link: BankLink) -> Result<BankLink, CoreError> {
    if link.status == AchRelationshipStatus::Failed {
        return Err(replayed_failure(&link));
    }
    Ok(link)
}

/// The error a FAILED link was created with, for a repeat of the same create.
fn replayed_failure(link: &BankLink) -> CoreError {
    let message = link.status_reason.clone().unwrap_or_default();
    if let Some(code) = link
        .failure_code
        .as_deref()
        .and_then(|code| code.strip_prefix(crate::risk::RISK_FAILURE_PREFIX))
    {
        return CoreError::FailedPrecondition {
            reason: crate::risk::reason_code(code),
            subject: format!("bank_links/{}", link.id),
            message: format!("the bank link failed: {message}"),
        };
    }
    if link.failure_code.as_deref() == Some(failure::PUBLIC_TOKEN_NEEDED) {
        return CoreError::FailedPrecondition {
            reason: "PUBLIC_TOKEN_NEEDED",
            subject: format!("bank_links/{}", link.id),
            message: format!("the bank link failed: {message}"),
        };
    }
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
