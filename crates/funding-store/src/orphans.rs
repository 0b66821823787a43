//! [`OrphanStore`] on a [`Store`]: the accounts the orphan sweep rotates through (those with a
//! relationship through one of our links, or a relationship create sent), and the report of
//! provider resources nothing of ours holds, replaced account by account in one transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use funding_core::ports::{
    OrphanKind, OrphanStore, ProviderOrphan, StoreError, SweptAccount, TransferDirection,
};
use funding_domain::{AccountId, AchRelationshipId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use uuid::Uuid;

use crate::Store;
use crate::convert::{db_time, direction_str};
use crate::entity::{bank_link, provider_orphan};
use crate::error::{corrupt, from_db};

#[async_trait]
impl OrphanStore for Store {
    async fn accounts_to_sweep(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<SweptAccount>, StoreError> {
        let mut query = bank_link::Entity::find()
            .select_only()
            .column(bank_link::Column::AccountId)
            .distinct()
            .filter(
                Condition::any()
                    .add(bank_link::Column::AchRelationshipId.is_not_null())
                    .add(bank_link::Column::RelationshipRequestedAt.is_not_null()),
            )
            .order_by_asc(bank_link::Column::AccountId)
            .limit(u64::from(limit.max(1)));
        if let Some(after) = after {
            query = query.filter(bank_link::Column::AccountId.gt(after.as_uuid()));
        }
        let accounts: Vec<Uuid> = query.into_tuple().all(&self.db).await.map_err(from_db)?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Uuid, Option<Uuid>)> = bank_link::Entity::find()
            .select_only()
            .column(bank_link::Column::AccountId)
            .column(bank_link::Column::AchRelationshipId)
            .filter(bank_link::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(bank_link::Column::AchRelationshipId.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(from_db)?;
        let mut swept: BTreeMap<Uuid, Vec<AchRelationshipId>> =
            accounts.iter().map(|id| (*id, Vec::new())).collect();
        for (account, relationship) in rows {
            if let (Some(list), Some(relationship)) = (swept.get_mut(&account), relationship) {
                list.push(AchRelationshipId::from_uuid(relationship));
            }
        }
        Ok(swept
            .into_iter()
            .map(|(account, relationships)| SweptAccount {
                account_id: AccountId::from_uuid(account),
                relationships,
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(account_id = %account_id, found = found.len()))]
    async fn record_orphans(
        &self,
        account_id: AccountId,
        found: Vec<ProviderOrphan>,
    ) -> Result<(), StoreError> {
        // Most sweeps find what the last one found: then nothing is written (no write lock taken
        // on SQLite), but for a `last_seen_at` older than a minute.
        let recorded: BTreeMap<Uuid, provider_orphan::Model> = provider_orphan::Entity::find()
            .filter(provider_orphan::Column::AccountId.eq(account_id.as_uuid()))
            .all(&self.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(|row| (row.provider_id, row))
            .collect();
        let ids: Vec<Uuid> = found.iter().map(|orphan| orphan.provider_id).collect();
        let gone = recorded.keys().any(|id| !ids.contains(id));
        let found: Vec<ProviderOrphan> = found
            .into_iter()
            .filter(|orphan| {
                recorded.get(&orphan.provider_id).is_none_or(|row| {
                    row.status != orphan.status
                        || orphan.last_seen_at - row.last_seen_at > chrono::Duration::minutes(1)
                })
            })
            .collect();
        if !gone && found.is_empty() {
            return Ok(());
        }
        let (_permit, txn) = self.begin_write().await?;
        provider_orphan::Entity::delete_many()
            .filter(provider_orphan::Column::AccountId.eq(account_id.as_uuid()))
            .filter(provider_orphan::Column::ProviderId.is_not_in(ids))
            .exec(&txn)
            .await
            .map_err(from_db)?;
        for orphan in found {
            let row = provider_orphan::ActiveModel {
                provider_id: Set(orphan.provider_id),
                kind: Set(orphan.kind.as_str().to_owned()),
                account_id: Set(orphan.account_id.as_uuid()),
                relationship_id: Set(orphan.relationship_id.map(|id| id.as_uuid())),
                amount: Set(orphan.amount.map(|amount| amount.to_string())),
                direction: Set(orphan.direction.map(|d| direction_str(d).to_owned())),
                status: Set(orphan.status),
                provider_created_at: Set(db_time(orphan.provider_created_at)),
                first_seen_at: Set(db_time(orphan.first_seen_at)),
                last_seen_at: Set(db_time(orphan.last_seen_at)),
            };
            provider_orphan::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(provider_orphan::Column::ProviderId)
                        .update_columns([
                            provider_orphan::Column::Status,
                            provider_orphan::Column::LastSeenAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(from_db)?;
        }
        txn.commit().await.map_err(from_db)
    }

    async fn list_orphans(
        &self,
        account_id: Option<AccountId>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ProviderOrphan>, StoreError> {
        let mut query = provider_orphan::Entity::find()
            .order_by_asc(provider_orphan::Column::ProviderId)
            .limit(u64::from(limit.max(1)));
        if let Some(account_id) = account_id {
            query = query.filter(provider_orphan::Column::AccountId.eq(account_id.as_uuid()));
        }
        if let Some(after) = after {
            query = query.filter(provider_orphan::Column::ProviderId.gt(after));
        }
        query
            .all(&self.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(orphan_from_row)
            .collect()
    }

    async fn count_orphans(&self) -> Result<Vec<(OrphanKind, u64)>, StoreError> {
        let mut counts = Vec::new();
        for kind in [OrphanKind::Transfer, OrphanKind::Relationship] {
            let n = provider_orphan::Entity::find()
                .filter(provider_orphan::Column::Kind.eq(kind.as_str()))
                .count(&self.db)
                .await
                .map_err(from_db)?;
            counts.push((kind, n));
        }
        Ok(counts)
    }
}

fn orphan_from_row(row: provider_orphan::Model) -> Result<ProviderOrphan, StoreError> {
    let id = row.provider_id;
    let kind =
        OrphanKind::parse(&row.kind).ok_or_else(|| corrupt("provider_orphans", id, "kind"))?;
    let amount = row
        .amount
        .as_deref()
        .map(|text| {
            text.parse::<rust_decimal::Decimal>()
                .map_err(|_| corrupt("provider_orphans", id, "amount"))
        })
        .transpose()?;
    let direction = match row.direction.as_deref() {
        None => None,
        Some("deposit") => Some(TransferDirection::Deposit),
        Some("withdrawal") => Some(TransferDirection::Withdrawal),
        Some(_) => return Err(corrupt("provider_orphans", id, "direction")),
    };
    Ok(ProviderOrphan {
        kind,
        provider_id: id,
        account_id: AccountId::from_uuid(row.account_id),
        relationship_id: row.relationship_id.map(AchRelationshipId::from_uuid),
        amount,
        direction,
        status: row.status,
        provider_created_at: row.provider_created_at,
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
    })
}
