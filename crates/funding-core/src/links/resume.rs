//! The resumer: links left CREATING by a crashed or timed-out request are driven on once their lease
//! has run out, so a provider outage or a restart does not leave a link half made.

use chrono::Duration as ChronoDuration;

use super::BankLinks;
use crate::error::CoreError;
use crate::ports::{Provider, ProviderError, ProviderErrorKind};

/// How long a public token lives at Plaid: a link stopped before its exchange cannot finish after it.
const PUBLIC_TOKEN_LIFETIME: ChronoDuration = ChronoDuration::minutes(30);

impl BankLinks {
    /// Drives every stale CREATING link once; returns how many were driven. A link is stale when
    /// nobody holds it and it has not changed for a whole lease, so a request that has just stored its
    /// link is never overtaken. A link that stopped before its public token was exchanged is failed
    /// once that token has expired at Plaid.
    pub async fn resume_stale(&self, limit: u32) -> Result<usize, CoreError> {
        let now = self.clock.now();
        let lease =
            ChronoDuration::from_std(self.settings.lease).unwrap_or(ChronoDuration::seconds(30));
        let stale = self.store.stale_creating_links(now, limit).await?;
        let mut count = 0;
        for link in stale
            .into_iter()
            .filter(|link| link.updated_at + lease <= now)
        {
            count += 1;
            let (id, created_at) = (link.id, link.created_at);
            match self.drive(link, None).await {
                Ok(link) => {
                    tracing::info!(bank_link_id = %id, status = %link.status, "resumed bank link")
                }
                Err(CoreError::FailedPrecondition {
                    reason: "PUBLIC_TOKEN_NEEDED",
                    ..
                }) if created_at + PUBLIC_TOKEN_LIFETIME <= now => {
                    let expired = ProviderError::new(
                        Provider::Plaid,
                        ProviderErrorKind::InvalidInput,
                        "INVALID_PUBLIC_TOKEN",
                        "the link stopped before its public token was exchanged, and the token has expired; link again with a new public token",
                    );
                    self.fail(id, &expired).await?;
                    tracing::warn!(bank_link_id = %id, "failed a bank link whose public token expired before it was exchanged");
                }
                Err(error) => {
                    tracing::warn!(bank_link_id = %id, "resuming bank link failed: {error}")
                }
            }
        }
        Ok(count)
    }
}
