//! Removing a link's Plaid Item (`/item/remove`) once the link has failed after its exchange or has
//! been deleted, so that no Item is left behind and billed. The removal is queued in the same
//! transaction as the link's move; once Plaid confirms (or says the Item is gone already) the
//! link's tokens are forgotten.

use async_trait::async_trait;
use funding_domain::BankLinkId;

use super::BankLinks;
use crate::engine::Stop;
use crate::engine::{Attempt, WorkHandler};
use crate::ports::{Claim, ClaimedWork, ProviderErrorKind};

/// The handler of Plaid Item removal work.
pub(crate) struct ItemRemoval(pub(crate) BankLinks);

impl BankLinks {
    async fn remove_item_steps(&self, claim: &Claim, id: BankLinkId) -> Result<Attempt, Stop> {
        let Some(access_token) = self.secrets.link_secrets(id).await?.access_token else {
            return Ok(Attempt::Done);
        };
        match self.plaid.remove_item(&access_token).await {
            Ok(()) => {
                tracing::info!(bank_link_id = %id, "removed the link's Plaid Item");
            }
            Err(error) if error.kind == ProviderErrorKind::InvalidInput => {
                tracing::info!(bank_link_id = %id, code = %error.code, "the link's Plaid Item is gone already");
            }
            Err(error) if error.is_retryable() || error.kind == ProviderErrorKind::Unauthorized => {
                return Ok(Attempt::retry(error));
            }
            Err(error) => return Ok(Attempt::Refused(error)),
        }
        self.secrets.forget_tokens(claim, id).await?;
        Ok(Attempt::Done)
    }
}

#[async_trait]
impl WorkHandler for ItemRemoval {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        match self
            .0
            .remove_item_steps(&work.claim, BankLinkId::from_uuid(work.subject_id))
            .await
        {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, _work: &ClaimedWork, _reason: &str) -> Attempt {
        Attempt::Done
    }
}
