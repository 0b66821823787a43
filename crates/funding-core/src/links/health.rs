//! A link's health from Plaid's `ITEM` webhooks (DESIGN §5): `ITEM_LOGIN_REQUIRED`,
//! `PENDING_EXPIRATION`, `PENDING_DISCONNECT` → NEEDS_REAUTH; `LOGIN_REPAIRED` → HEALTHY;
//! `USER_PERMISSION_REVOKED`, `USER_ACCOUNT_REVOKED` → REVOKED (for good). The webhook has been
//! verified by the listener; it is applied by its identity, so a redelivery changes nothing.

use funding_domain::{BankLinkHealth, PlaidItemId};

use super::BankLinks;
use crate::error::CoreError;

impl BankLinks {
    /// Applies a verified `ITEM` webhook to the links of its Item; how many links moved. Its
    /// identity is the SHA-256 of its `body`: Plaid's redelivery of one webhook is the same bytes.
    #[tracing::instrument(skip_all, fields(item_id = %item_id, webhook_code = %webhook_code))]
    pub async fn apply_item_webhook(
        &self,
        item_id: &str,
        webhook_code: &str,
        error_code: Option<&str>,
        body: &[u8],
    ) -> Result<usize, CoreError> {
        use sha2::Digest as _;
        let identity = hex::encode(sha2::Sha256::digest(body));
        let Some(health) = BankLinkHealth::from_item_webhook(webhook_code, error_code) else {
            tracing::info!("an ITEM webhook that says nothing of the links' health");
            return Ok(0);
        };
        let Ok(item) = PlaidItemId::parse(item_id) else {
            tracing::warn!("an ITEM webhook with an unreadable item_id; ignored");
            return Ok(0);
        };
        let reason = match error_code {
            Some(code) => format!("Plaid's {webhook_code} webhook ({code})"),
            None => format!("Plaid's {webhook_code} webhook"),
        };
        let moved = self
            .statuses
            .change_item_health(
                &item,
                health,
                &reason,
                "plaid:item_webhook",
                &format!("plaid-item-webhook:{identity}"),
                self.clock.now(),
            )
            .await?;
        for id in &moved {
            tracing::warn!(bank_link_id = %id, %health, "bank link health changed: {reason}");
            metrics::counter!("funding_bank_link_health_changes_total", "to" => health.as_str())
                .increment(1);
        }
        Ok(moved.len())
    }
}
