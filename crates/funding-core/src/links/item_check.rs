//! The Item check: webhooks get lost, so the reconciler also reads, at Plaid (`/item/get`), the
//! Item of each approved link in turn (those read least recently first, `pass_size` a pass, within
//! Plaid's call budget), and moves the links' health as a webhook would
//! ([`BankLinkHealth::from_item_state`]): an Item whose login fails makes its links NEEDS_REAUTH
//! within one pass of it being due, and one that works again (the user went through Link's update
//! mode) makes them HEALTHY.

use std::collections::BTreeMap;

use funding_domain::{BankLinkHealth, PlaidItemId};

use super::BankLinks;
use crate::error::CoreError;
use crate::model::BankLink;
use crate::reconcile::{Pacer, ReconcileReport, ReconcileSettings, ago};

impl BankLinks {
    /// One pass of the Item check; `lookups` counts the `/item/get` calls (one per Item).
    pub async fn check_items(
        &self,
        settings: &ReconcileSettings,
        pacer: &Pacer,
    ) -> Result<ReconcileReport, CoreError> {
        let before = ago(self.clock.now(), settings.after);
        let links = self
            .store
            .items_to_check(before, settings.pass_size)
            .await?;
        let mut by_item: BTreeMap<String, Vec<BankLink>> = BTreeMap::new();
        for link in links {
            if let Some(item) = &link.plaid_item_id {
                by_item
                    .entry(item.as_str().to_owned())
                    .or_default()
                    .push(link);
            }
        }
        let mut report = ReconcileReport::default();
        for links in by_item.into_values() {
            let Some(first) = links.first() else { continue };
            let Some(item) = first.plaid_item_id.clone() else {
                continue;
            };
            let Some(access_token) = self.secrets.link_secrets(first.id).await?.access_token else {
                continue;
            };
            pacer.wait().await;
            report.lookups += 1;
            report.checked += links.len();
            let state = match self.plaid.get_item(&access_token).await {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(item_id = %item, code = %error.code, "cannot read the Item's health: {error}");
                    continue;
                }
            };
            for link in &links {
                let Some(to) = link
                    .health
                    .from_item_state(state.error_code.as_deref(), link.health_reason.as_deref())
                else {
                    continue;
                };
                report.moved += self.apply_item_state(&item, to, &state.error_code).await?;
                break; // one move covers every link of the Item
            }
        }
        Ok(report)
    }

    async fn apply_item_state(
        &self,
        item: &PlaidItemId,
        to: BankLinkHealth,
        error_code: &Option<String>,
    ) -> Result<usize, CoreError> {
        let reason = match error_code {
            Some(code) => format!("Plaid's /item/get shows the Item in error ({code})"),
            None => "Plaid's /item/get shows the Item working again".to_owned(),
        };
        let moved = self
            .statuses
            .change_item_health(
                item,
                to,
                &reason,
                "reconciler:item_get",
                &format!("plaid-item-get:{}", uuid::Uuid::now_v7()),
                self.clock.now(),
            )
            .await?;
        for id in &moved {
            tracing::warn!(bank_link_id = %id, health = %to, "bank link health changed: {reason}");
            metrics::counter!("funding_bank_link_health_changes_total", "to" => to.as_str())
                .increment(1);
        }
        Ok(moved.len())
    }
}
