//! The resumer: links left CREATING by a crashed or timed-out request are driven on once their lease
//! has run out, so a provider outage or a restart does not leave a link half made.

use super::BankLinks;
use crate::error::CoreError;

impl BankLinks {
    /// Drives every stale CREATING link once; returns how many were looked at.
    pub async fn resume_stale(&self, limit: u32) -> Result<usize, CoreError> {
        let stale = self
            .store
            .stale_creating_links(self.clock.now(), limit)
            .await?;
        let count = stale.len();
        for link in stale {
            let id = link.id;
            match self.drive(link, None).await {
                Ok(link) => {
                    tracing::info!(bank_link_id = %id, status = %link.status, "resumed bank link")
                }
                Err(error) => {
                    tracing::warn!(bank_link_id = %id, "resuming bank link failed: {error}")
                }
            }
        }
        Ok(count)
    }
}
