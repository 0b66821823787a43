//! The orphan sweep (DESIGN §4.2, §9): provider resources on our relationships that nothing of ours
//! holds. A create that Alpaca committed after its caller gave up (a slow write behind a timed-out
//! load balancer), or a transfer somebody made at Alpaca directly, would otherwise be silent. Each
//! pass looks at a few accounts, rotating through every account we link, lists their Alpaca
//! transfers and relationships, and:
//! - leaves alone what one of ours holds;
//! - leaves to its own work what an unresolved request of ours may still adopt (a SUBMITTING
//!   transfer or a CREATING link whose create was sent and whose lookup will take it);
//! - records the rest as orphans, counted by a gauge and logged, listed by `ListProviderOrphans`
//!   and `fundingctl orphans`. A recorded orphan that is later adopted drops out on the next pass.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use funding_domain::{AccountId, AchRelationshipStatus, AlpacaTransferStatus};

use crate::error::CoreError;
use crate::model::{BankLink, Transfer};
use crate::ports::{
    AchRelationship, AlpacaTransfer, BankLinkStore, Broker, Clock, LinkPageRequest, OrphanKind,
    OrphanStore, ProviderOrphan, SweptAccount, TransferFilter, TransferStore,
};

/// What one pass saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    pub accounts: usize,
    /// Orphans recorded for the accounts looked at.
    pub orphans: usize,
    /// Resources not held yet that an unresolved request of ours is expected to adopt.
    pub awaiting_adoption: usize,
}

/// The sweep, over its ports.
#[derive(Clone)]
pub struct OrphanSweep {
    broker: Arc<dyn Broker>,
    orphans: Arc<dyn OrphanStore>,
    transfers: Arc<dyn TransferStore>,
    links: Arc<dyn BankLinkStore>,
    clock: Arc<dyn Clock>,
    /// How far before our request a resource may have been created and still be ours.
    adoption_skew: Duration,
}

impl OrphanSweep {
    pub fn new(
        broker: Arc<dyn Broker>,
        orphans: Arc<dyn OrphanStore>,
        transfers: Arc<dyn TransferStore>,
        links: Arc<dyn BankLinkStore>,
        clock: Arc<dyn Clock>,
        adoption_skew: Duration,
    ) -> Self {
        Self {
            broker,
            orphans,
            transfers,
            links,
            clock,
            adoption_skew,
        }
    }

    /// Looks at up to `accounts` accounts after `cursor`, and moves the cursor on (back to the
    /// start after the last account).
    pub async fn sweep(
        &self,
        cursor: &mut Option<AccountId>,
        accounts: u32,
    ) -> Result<OrphanReport, CoreError> {
        let batch = self.orphans.accounts_to_sweep(*cursor, accounts).await?;
        *cursor = if batch.len() < accounts as usize {
            None
        } else {
            batch.last().map(|account| account.account_id)
        };
        let mut report = OrphanReport::default();
        for account in batch {
            match self.sweep_account(&account).await {
                Ok((orphans, awaiting)) => {
                    report.accounts += 1;
                    report.orphans += orphans;
                    report.awaiting_adoption += awaiting;
                }
                Err(error) => {
                    tracing::warn!(account_id = %account.account_id, "cannot look for orphans: {error}");
                }
            }
        }
        for (kind, count) in self.orphans.count_orphans().await? {
            metrics::gauge!("funding_provider_orphans", "kind" => kind.as_str()).set(count as f64);
        }
        Ok(report)
    }

    async fn sweep_account(&self, account: &SweptAccount) -> Result<(usize, usize), CoreError> {
        let id = account.account_id;
        let ours: HashSet<_> = account.relationships.iter().copied().collect();
        let links = self.account_links(id).await?;
        let waiting_transfers = self
            .transfers
            .list_transfers(
                id,
                TransferFilter {
                    status: Some(AlpacaTransferStatus::Submitting),
                    direction: None,
                },
                500,
                None,
            )
            .await?
            .0;
        let now = self.clock.now();
        let mut found = Vec::new();
        let mut awaiting = 0;

        let alpaca_transfers: Vec<AlpacaTransfer> = self
            .broker
            .list_transfers(id, None)
            .await?
            .into_iter()
            .filter(|t| t.relationship_id.is_some_and(|r| ours.contains(&r)))
            .collect();
        let ids: Vec<_> = alpaca_transfers.iter().map(|t| t.id).collect();
        let held: HashSet<_> = self
            .transfers
            .find_transfers_by_provider_ids(&ids)
            .await?
            .into_iter()
            .filter_map(|t| t.provider_transfer_id)
            .collect();
        for transfer in alpaca_transfers
            .into_iter()
            .filter(|t| !held.contains(&t.id))
        {
            if waiting_transfers
                .iter()
                .any(|w| self.may_adopt_transfer(w, &transfer))
            {
                awaiting += 1;
                continue;
            }
            tracing::error!(account_id = %id, provider_transfer_id = %transfer.id, status = %transfer.status, "an Alpaca transfer on our relationship that no transfer of ours holds");
            found.push(ProviderOrphan {
                kind: OrphanKind::Transfer,
                provider_id: transfer.id.as_uuid(),
                account_id: id,
                relationship_id: transfer.relationship_id,
                amount: Some(transfer.requested()),
                direction: Some(transfer.direction),
                status: transfer.status.as_str().to_owned(),
                provider_created_at: transfer.created_at,
                first_seen_at: now,
                last_seen_at: now,
            });
        }

        for relationship in self.broker.list_ach_relationships(id).await? {
            if ours.contains(&relationship.id) || !relationship.status.is_active() {
                continue;
            }
            if self
                .links
                .find_link_by_relationship(relationship.id)
                .await?
                .is_some()
            {
                continue;
            }
            if links
                .iter()
                .any(|l| self.may_adopt_relationship(l, &relationship))
            {
                awaiting += 1;
                continue;
            }
            tracing::error!(account_id = %id, ach_relationship_id = %relationship.id, status = %relationship.status, "an Alpaca relationship on our account that no link of ours holds");
            found.push(ProviderOrphan {
                kind: OrphanKind::Relationship,
                provider_id: relationship.id.as_uuid(),
                account_id: id,
                relationship_id: Some(relationship.id),
                amount: None,
                direction: None,
                status: relationship.status.as_str().to_owned(),
                provider_created_at: relationship.created_at,
                first_seen_at: now,
                last_seen_at: now,
            });
        }
        let count = found.len();
        self.orphans.record_orphans(id, found).await?;
        Ok((count, awaiting))
    }

    async fn account_links(&self, account_id: AccountId) -> Result<Vec<BankLink>, CoreError> {
        let mut links = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .links
                .list_links(account_id, LinkPageRequest { size: 500, after })
                .await?;
            links.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(links),
            }
        }
    }

    fn skew(&self) -> ChronoDuration {
        ChronoDuration::from_std(self.adoption_skew).unwrap_or(ChronoDuration::seconds(5))
    }

    /// Whether a SUBMITTING transfer of ours that sent its create may still adopt `found`.
    fn may_adopt_transfer(&self, waiting: &Transfer, found: &AlpacaTransfer) -> bool {
        waiting.submit_requested_at.is_some_and(|sent| {
            found.relationship_id == Some(waiting.relationship_id)
                && found.direction == waiting.direction
                && found.requested() == waiting.amount.as_decimal()
                && found.created_at >= sent - self.skew()
        })
    }

    /// Whether a CREATING link of ours that sent its create may still adopt `found`.
    fn may_adopt_relationship(&self, link: &BankLink, found: &AchRelationship) -> bool {
        link.status == AchRelationshipStatus::Creating
            && link
                .relationship_requested_at
                .is_some_and(|sent| found.created_at >= sent - self.skew())
    }
}

/// One page of recorded orphans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanPage {
    pub orphans: Vec<ProviderOrphan>,
    /// Give it back as `page_token` for the next page; empty when this was the last.
    pub next_page_token: String,
}

impl OrphanSweep {
    /// The recorded orphans, of one account (`account_id` non-empty) or all, in provider id order.
    /// `page_size` 0 means 50; at most 500. Errors: `InvalidArgument` naming each bad field.
    pub async fn list(
        &self,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<OrphanPage, CoreError> {
        let mut errors = funding_domain::ValidationErrors::new();
        let account = if account_id.is_empty() {
            Some(None)
        } else {
            errors.check(AccountId::parse(account_id)).map(Some)
        };
        let (size, after) = crate::paging::read_page(
            &mut errors,
            page_size,
            page_token,
            crate::paging::PageLimits {
                default: 50,
                max: 500,
            },
            |text| {
                uuid::Uuid::parse_str(text).map_err(|_| {
                    funding_domain::ValidationError::new("page_token", "is not a provider id")
                })
            },
        );
        errors.into_result()?;
        let (Some(account), Some(size), Some(after)) = (account, size, after) else {
            return Err(CoreError::InvalidArgument(
                funding_domain::ValidationErrors::new(),
            ));
        };
        let mut orphans = self.orphans.list_orphans(account, after, size + 1).await?;
        let next_page_token = if orphans.len() > size as usize {
            orphans.truncate(size as usize);
            orphans
                .last()
                .map(|orphan| orphan.provider_id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(OrphanPage {
            orphans,
            next_page_token,
        })
    }
}
