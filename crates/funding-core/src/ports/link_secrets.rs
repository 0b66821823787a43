//! A link's Plaid tokens (public, access, processor), sealed at rest and read back decrypted by the
//! link use cases only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_domain::{AccessToken, BankLinkId, PlaidItemId, ProcessorToken, PublicToken};

use super::{Claim, StoreError};

/// A link's secrets, decrypted. Only the link use case reads them.
#[derive(Debug, Clone, Default)]
pub struct LinkSecrets {
    /// Until it is exchanged.
    pub public_token: Option<PublicToken>,
    pub access_token: Option<AccessToken>,
    pub processor_token: Option<ProcessorToken>,
}

/// A link's Plaid tokens, sealed at rest. The writes a link's work makes take its [`Claim`] and are
/// refused with [`StoreError::Fenced`] once the claim is no longer held.
#[async_trait]
pub trait LinkSecretStore: Send + Sync + 'static {
    /// The link's tokens, decrypted. `Corrupt` if they cannot be decrypted with the configured key.
    async fn link_secrets(&self, id: BankLinkId) -> Result<LinkSecrets, StoreError>;

    /// Records that the public token exchange is about to be sent (fenced). A later attempt that
    /// finds it set and no access token knows the outcome of that exchange is unknown.
    async fn mark_exchange_requested(
        &self,
        fence: &Claim,
        id: BankLinkId,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Stores the access token (sealed) and Item id from the exchange, and forgets the public token
    /// (fenced).
    async fn save_exchange(
        &self,
        fence: &Claim,
        id: BankLinkId,
        access_token: &AccessToken,
        item_id: &PlaidItemId,
    ) -> Result<(), StoreError>;

    /// Stores the processor token (sealed) (fenced).
    async fn save_processor_token(
        &self,
        fence: &Claim,
        id: BankLinkId,
        processor_token: &ProcessorToken,
    ) -> Result<(), StoreError>;

    /// Forgets the link's access and processor tokens once its Item is removed (fenced).
    async fn forget_tokens(&self, fence: &Claim, id: BankLinkId) -> Result<(), StoreError>;
}
