//! Sandbox mode's [`SandboxProvider`]: the emulator's in-process control, which can hand out a public
//! token together with the account ids Plaid Link would have shown, and move a relationship.

use async_trait::async_trait;
use funding_core::ports::{
    PlaidAccount, Provider, ProviderError, ProviderErrorKind, SandboxProvider,
};
use funding_domain::{AchRelationshipId, AlpacaTransferId, PlaidAccountId, PublicToken};
use funding_sandbox::SandboxControl;

pub struct EmulatorSandbox {
    control: SandboxControl,
}

impl EmulatorSandbox {
    pub fn new(control: SandboxControl) -> Self {
        Self { control }
    }
}

fn refused(provider: Provider, message: String) -> ProviderError {
    ProviderError::new(
        provider,
        ProviderErrorKind::InvalidInput,
        "SANDBOX_REFUSED",
        message,
    )
}

#[async_trait]
impl SandboxProvider for EmulatorSandbox {
    async fn create_public_token(
        &self,
        institution_id: &str,
    ) -> Result<(PublicToken, Vec<PlaidAccount>), ProviderError> {
        let link = self
            .control
            .create_public_token(institution_id)
            .map_err(|error| refused(Provider::Plaid, error.to_string()))?;
        let token = PublicToken::parse(&link.public_token).map_err(|_| {
            ProviderError::new(
                Provider::Plaid,
                ProviderErrorKind::Decode,
                "SANDBOX_TOKEN",
                "the emulator made a malformed token",
            )
        })?;
        let accounts = link
            .accounts
            .into_iter()
            .filter_map(|account| {
                Some(PlaidAccount {
                    account_id: PlaidAccountId::parse(&account.account_id).ok()?,
                    name: account.name,
                    mask: Some(account.mask),
                    account_type: "depository".into(),
                    subtype: Some(account.subtype),
                })
            })
            .collect();
        Ok((token, accounts))
    }

    async fn set_relationship_status(
        &self,
        relationship_id: AchRelationshipId,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.control
            .set_relationship_status(relationship_id.as_uuid(), status, reason.map(str::to_owned))
            .map_err(|error| refused(Provider::Alpaca, error.to_string()))
    }

    async fn set_transfer_status(
        &self,
        transfer_id: AlpacaTransferId,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.control
            .set_transfer_status(transfer_id.as_uuid(), status, reason.map(str::to_owned))
            .map_err(|error| refused(Provider::Alpaca, error.to_string()))
    }
}
