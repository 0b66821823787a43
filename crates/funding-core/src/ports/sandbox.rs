//! What sandbox mode offers on top of the providers: test tokens and driving the emulator. Only wired
//! when the service runs against the built-in emulator.

use async_trait::async_trait;
use funding_domain::{AchRelationshipId, AlpacaTransferId, PublicToken};

use super::{PlaidAccount, ProviderError};

#[async_trait]
pub trait SandboxProvider: Send + Sync + 'static {
    /// A Plaid sandbox public token for a new test Item at `institution_id`, and the Item's accounts.
    async fn create_public_token(
        &self,
        institution_id: &str,
    ) -> Result<(PublicToken, Vec<PlaidAccount>), ProviderError>;

    /// Moves an ACH relationship at the emulator to `status` (e.g. `REJECTED`), with a reason; the
    /// emulator emits the funding event.
    async fn set_relationship_status(
        &self,
        relationship_id: AchRelationshipId,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), ProviderError>;

    /// Moves an Alpaca transfer at the emulator to `status` (REJECTED, CANCELED, RETURNED, …), with
    /// a reason (a return's carries its ACH return code); the emulator emits the funding event.
    async fn set_transfer_status(
        &self,
        transfer_id: AlpacaTransferId,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), ProviderError>;
}
