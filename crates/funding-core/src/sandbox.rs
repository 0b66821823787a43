//! The sandbox use cases behind `SandboxService`: a public token to start the link flow with, and
//! driving a link's ACH relationship at the emulator.

use std::sync::Arc;

use funding_domain::{
    AchRelationshipStatus, AchReturnCode, AlpacaTransferStatus, BankLinkId, PublicToken,
    TransferId, ValidationError, ValidationErrors,
};

use crate::error::CoreError;
use crate::ports::{
    BankLinkStore, BankTransferFailure, BankTransferSandbox, BankTransferStore, PlaidAccount,
    SandboxProvider, SimulatedBankTransferEvent, TransferStore,
};

/// The institution Plaid's examples use: First Platypus Bank.
pub const DEFAULT_INSTITUTION: &str = "ins_109508";

/// The Plaid processor rail's sandbox calls and the store its transfers are in.
type BankTransferRail = (Arc<dyn BankTransferSandbox>, Arc<dyn BankTransferStore>);

#[derive(Clone)]
pub struct Sandbox {
    provider: Arc<dyn SandboxProvider>,
    store: Arc<dyn BankLinkStore>,
    transfers: Arc<dyn TransferStore>,
    bank_transfers: Option<BankTransferRail>,
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
            bank_transfers: None,
        }
    }

    /// Serves the Plaid processor rail's sandbox calls too.
    #[must_use]
    pub fn with_bank_transfers(
        mut self,
        plaid: Arc<dyn BankTransferSandbox>,
        store: Arc<dyn BankTransferStore>,
    ) -> Self {
        self.bank_transfers = Some((plaid, store));
        self
    }

    fn bank_transfer_sandbox(&self) -> Result<&BankTransferRail, CoreError> {
        self.bank_transfers.as_ref().ok_or(CoreError::Unimplemented(
            "the Plaid processor rail is not configured",
        ))
    }

    /// A Plaid sandbox processor token for a new test Item at `institution_id` (default First
    /// Platypus Bank), for `CreateBankTransfer`.
    pub async fn create_processor_token(
        &self,
        institution_id: &str,
    ) -> Result<funding_domain::ProcessorToken, CoreError> {
        let (plaid, _) = self.bank_transfer_sandbox()?;
        let institution = if institution_id.is_empty() {
            DEFAULT_INSTITUTION
        } else {
            institution_id
        };
        Ok(plaid.create_processor_token(institution, None).await?)
    }

    /// Plaid's `/sandbox/bank_transfer/simulate` on one of this service's bank transfers:
    /// `posted` or `failed` (from pending), `reversed` (from posted, with an ACH return code).
    pub async fn simulate_bank_transfer(
        &self,
        bank_transfer_id: &str,
        event_type: &str,
        ach_return_code: &str,
        failure_description: &str,
    ) -> Result<(), CoreError> {
        let (plaid, store) = self.bank_transfer_sandbox()?;
        let mut errors = ValidationErrors::new();
        let id = errors.check(
            funding_domain::BankTransferId::parse(bank_transfer_id)
                .map_err(|e| e.at("bank_transfer_id")),
        );
        let event = match event_type {
            "posted" => Some(SimulatedBankTransferEvent::Posted),
            "failed" => Some(SimulatedBankTransferEvent::Failed),
            "reversed" => Some(SimulatedBankTransferEvent::Reversed),
            _ => {
                errors.push(ValidationError::new(
                    "event_type",
                    "must be posted, failed or reversed",
                ));
                None
            }
        };
        let code = (!ach_return_code.is_empty()).then(|| AchReturnCode::parse(ach_return_code));
        if let Some(AchReturnCode::Unknown(_)) = &code {
            errors.push(ValidationError::new(
                "ach_return_code",
                "must be an ACH return code R01 to R85",
            ));
        }
        errors.into_result()?;
        let (Some(id), Some(event)) = (id, event) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let transfer = store
            .get_bank_transfer(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "bank transfer",
                id: id.to_string(),
            })?;
        let Some(plaid_id) = transfer.provider_id() else {
            return Err(CoreError::FailedPrecondition {
                reason: "BANK_TRANSFER_SUBMITTING",
                subject: format!("bank_transfers/{id}"),
                message: "the bank transfer is not at Plaid yet".to_owned(),
            });
        };
        let failure =
            (code.is_some() || !failure_description.is_empty()).then(|| BankTransferFailure {
                description: (!failure_description.is_empty())
                    .then(|| failure_description.to_owned())
                    .or_else(|| {
                        code.as_ref()
                            .and_then(AchReturnCode::description)
                            .map(str::to_owned)
                    }),
                ach_return_code: code,
            });
        Ok(plaid
            .simulate_bank_transfer(plaid_id, event, failure.as_ref())
            .await?)
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
