//! The sandbox use cases behind `SandboxService`: a public token to start the link flow with, and
//! driving a link's ACH relationship at the emulator.

use std::sync::Arc;

use funding_domain::{
    AchRelationshipStatus, AchReturnCode, AlpacaTransferStatus, BankLinkId, PublicToken,
    TransferId, ValidationError, ValidationErrors,
};

use crate::error::CoreError;
use crate::ports::{BankLinkStore, PlaidAccount, SandboxProvider, TransferStore};

/// The institution Plaid's examples use: First Platypus Bank.
pub const DEFAULT_INSTITUTION: &str = "ins_109508";

#[derive(Clone)]
pub struct Sandbox {
    provider: Arc<dyn SandboxProvider>,
    store: Arc<dyn BankLinkStore>,
    transfers: Arc<dyn TransferStore>,
}

impl Sandbox {
    pub fn new(
        provider: Arc<dyn SandboxProvider>,
        store: Arc<dyn BankLinkStore>,
        transfers: Arc<dyn TransferStore>,
    ) -> Self {
        Self {
            provider,
            store,
            transfers,
        }
    }

    /// Drives one of this service's transfers at the emulator to `status` (REJECTED, CANCELED,
    /// RETURNED, …). For RETURNED, `ach_return_code` (R01…R85) is carried in Alpaca's reason,
    /// which is where Alpaca reports it.
    pub async fn simulate_transfer_status(
        &self,
        transfer_id: &str,
        status: &str,
        reason: &str,
        ach_return_code: &str,
    ) -> Result<(), CoreError> {
        let mut errors = ValidationErrors::new();
        let id = errors.check(TransferId::parse(transfer_id).map_err(|e| e.at("transfer_id")));
        if matches!(
            AlpacaTransferStatus::from_provider(status),
            AlpacaTransferStatus::Unknown(_)
                | AlpacaTransferStatus::Submitting
                | AlpacaTransferStatus::Failed
        ) {
            errors.push(ValidationError::new(
                "status",
                "must be an Alpaca transfer status such as COMPLETE, REJECTED or RETURNED",
            ));
        }
        let code = (!ach_return_code.is_empty()).then(|| AchReturnCode::parse(ach_return_code));
        match &code {
            Some(AchReturnCode::Unknown(_)) => errors.push(ValidationError::new(
                "ach_return_code",
                "must be an ACH return code R01 to R85",
            )),
            Some(_) if status != "RETURNED" => errors.push(ValidationError::new(
                "ach_return_code",
                "is only for status RETURNED",
            )),
            _ => {}
        }
        errors.into_result()?;
        let Some(id) = id else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let transfer =
            self.transfers
                .get_transfer(id)
                .await?
                .ok_or_else(|| CoreError::NotFound {
                    resource: "transfer",
                    id: id.to_string(),
                })?;
        let Some(provider_id) = transfer.provider_transfer_id else {
            return Err(CoreError::FailedPrecondition {
                reason: "TRANSFER_SUBMITTING",
                subject: format!("transfers/{id}"),
                message: "Alpaca does not have the transfer yet".into(),
            });
        };
        let reason = match (&code, reason.is_empty()) {
            (Some(code), true) => Some(format!(
                "{} {}",
                code.code(),
                code.description().unwrap_or_default()
            )),
            (Some(code), false) => Some(format!("{} {reason}", code.code())),
            (None, true) => None,
            (None, false) => Some(reason.to_owned()),
        };
        Ok(self
            .provider
            .set_transfer_status(provider_id, status, reason.as_deref())
            .await?)
    }

    /// A public token and the accounts behind it. `institution_id` empty means [`DEFAULT_INSTITUTION`].
    pub async fn create_public_token(
        &self,
        institution_id: &str,
    ) -> Result<(PublicToken, Vec<PlaidAccount>), CoreError> {
        let institution = if institution_id.is_empty() {
            DEFAULT_INSTITUTION
        } else {
            institution_id
        };
        if institution.len() > 64
            || !institution
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ValidationErrors::from(ValidationError::new(
                "institution_id",
                "must be a Plaid institution id such as ins_109508",
            ))
            .into());
        }
        Ok(self.provider.create_public_token(institution).await?)
    }

    /// Drives the ACH relationship of a bank link to `status` at the emulator.
    pub async fn simulate_link_status(
        &self,
        bank_link_id: &str,
        status: &str,
        reason: &str,
    ) -> Result<(), CoreError> {
        let mut errors = ValidationErrors::new();
        let id = errors.check(BankLinkId::parse(bank_link_id));
        let known = AchRelationshipStatus::from_provider(status);
        if matches!(known, AchRelationshipStatus::Unknown(_)) {
            errors.push(ValidationError::new(
                "status",
                "must be an ACH relationship status such as APPROVED or REJECTED",
            ));
        }
        errors.into_result()?;
        let Some(id) = id else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let link = self
            .store
            .get_link(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "bank link",
                id: id.to_string(),
            })?;
        let Some(relationship_id) = link.ach_relationship_id else {
            return Err(CoreError::FailedPrecondition {
                reason: "BANK_LINK_CREATING",
                subject: format!("bank_links/{id}"),
                message: "the bank link has no ACH relationship yet".into(),
            });
        };
        let reason = (!reason.is_empty()).then_some(reason);
        Ok(self
            .provider
            .set_relationship_status(relationship_id, status, reason)
            .await?)
    }
}
