//! Reading transfers: by id, by Alpaca's id, and an account's transfers page by page in id order
//! (ids are UUIDv7, so id order is creation order), optionally of one status and one direction.

use funding_core::model::Transfer;
use funding_core::ports::TransferDirection;
use funding_core::ports::{StoreError, TransferFilter};
use funding_domain::{AccountId, AlpacaTransferId, AlpacaTransferStatus, Amount, TransferId};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use uuid::Uuid;

use crate::Store;
use crate::convert::direction_str;
use crate::entity::transfer::{Column, Entity};
use crate::error::from_db;
use crate::sqlite_reads::ReadOne as _;

/// The largest page served, whatever is asked.
pub(super) const MAX_PAGE_SIZE: u32 = 500;

pub(super) async fn get_transfer(
    store: &Store,
    id: TransferId,
) -> Result<Option<Transfer>, StoreError> {
    store
        .read_one(Entity::find_by_id(id.as_uuid()))
        .await?
        .map(Transfer::try_from)
        .transpose()
}

pub(super) async fn find_transfer_by_provider_id(
    store: &Store,
    id: AlpacaTransferId,
) -> Result<Option<Transfer>, StoreError> {
    store
        .read_one(Entity::find().filter(Column::ProviderTransferId.eq(id.as_uuid())))
        .await?
        .map(Transfer::try_from)
        .transpose()
}

pub(super) async fn withdrawals_in_flight(
    store: &Store,
    account_id: AccountId,
    except: TransferId,
) -> Result<Vec<Amount>, StoreError> {
    let in_flight = AlpacaTransferStatus::ALL
        .iter()
        .filter(|status| **status == AlpacaTransferStatus::Submitting || status.is_in_flight())
        .map(|status| status.as_str());
    let rows: Vec<(Uuid, String)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Amount)
        .filter(Column::AccountId.eq(account_id.as_uuid()))
        .filter(Column::Direction.eq(direction_str(TransferDirection::Withdrawal)))
        .filter(Column::Status.is_in(in_flight))
        .filter(
            sea_orm::Condition::any()
                .add(Column::SubmitRequestedAt.is_not_null())
                .add(Column::ProviderTransferId.is_not_null()),
        )
        .filter(Column::Id.ne(except.as_uuid()))
        .into_tuple()
        .all(&store.db)
        .await
        .map_err(from_db)?;
    rows.into_iter()
        .map(|(id, amount)| {
            Amount::parse(&amount).map_err(|_| crate::error::corrupt("transfers", id, "amount"))
        })
        .collect()
}

pub(super) async fn find_transfers_by_provider_ids(
    store: &Store,
    ids: &[AlpacaTransferId],
) -> Result<Vec<Transfer>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
    for chunk in ids.chunks(500) {
        let rows = Entity::find()
            .filter(Column::ProviderTransferId.is_in(chunk.iter().map(|id| id.as_uuid())))
            .all(&store.db)
            .await
            .map_err(from_db)?;
        for row in rows {
            found.push(Transfer::try_from(row)?);
        }
    }
    Ok(found)
}

pub(super) async fn list_transfers(
    store: &Store,
    account_id: AccountId,
    filter: TransferFilter,
    size: u32,
    after: Option<TransferId>,
) -> Result<(Vec<Transfer>, Option<TransferId>), StoreError> {
    let size = size.clamp(1, MAX_PAGE_SIZE) as usize;
    let mut query = Entity::find()
        .filter(Column::AccountId.eq(account_id.as_uuid()))
        .order_by_asc(Column::Id)
        .limit(size as u64 + 1);
    if let Some(status) = &filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(direction) = filter.direction {
        query = query.filter(Column::Direction.eq(direction_str(direction)));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.as_uuid()));
    }
    let mut rows = query.all(&store.db).await.map_err(from_db)?;
    let more = rows.len() > size;
    rows.truncate(size);
    let items = rows
        .into_iter()
        .map(Transfer::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_after = if more {
        items.last().map(|transfer| transfer.id)
    } else {
        None
    };
    Ok((items, next_after))
}
