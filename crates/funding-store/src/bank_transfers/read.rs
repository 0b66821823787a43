//! Reading bank transfers: by our id, by Plaid's id, a caller's transfers page by page in id order
//! (ids are UUIDv7, so id order is creation order) with the filters of Plaid's
//! `/bank_transfer/list`, and a transfer's history. A row becomes a record with its processor
//! token opened and its request checked again by the domain.

use funding_core::model::BankTransfer;
use funding_core::ports::{BankTransferFilter, BankTransferHistoryEntry, StoreError};
use funding_domain::{BankTransferId, PlaidBankTransferId};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::convert::{bank_transfer_from_row, db_time};
use crate::entity::bank_transfer::{self, Column, Entity};
use crate::entity::bank_transfer_status_history as history;
use crate::error::from_db;
use crate::sqlite_reads::ReadOne as _;

/// The largest page served, whatever is asked.
pub(super) const MAX_PAGE_SIZE: u32 = 500;

/// The record a row keeps, its processor token opened.
pub(super) fn record(store: &Store, row: bank_transfer::Model) -> Result<BankTransfer, StoreError> {
    let token = super::secrets::open(store, &row.id, &row.processor_token)?;
    bank_transfer_from_row(row, &token)
}

pub(super) fn records(
    store: &Store,
    rows: Vec<bank_transfer::Model>,
) -> Result<Vec<BankTransfer>, StoreError> {
    rows.into_iter().map(|row| record(store, row)).collect()
}

pub(super) async fn get_bank_transfer(
    store: &Store,
    id: BankTransferId,
) -> Result<Option<BankTransfer>, StoreError> {
    store
        .read_one(Entity::find_by_id(id.as_uuid()))
        .await?
        .map(|row| record(store, row))
        .transpose()
}

pub(super) async fn find_bank_transfer_by_plaid_id(
    store: &Store,
    id: &PlaidBankTransferId,
) -> Result<Option<BankTransfer>, StoreError> {
    store
        .read_one(Entity::find().filter(Column::PlaidBankTransferId.eq(id.as_str())))
        .await?
        .map(|row| record(store, row))
        .transpose()
}

pub(super) async fn find_bank_transfers_by_plaid_ids(
    store: &Store,
    ids: &[PlaidBankTransferId],
) -> Result<Vec<BankTransfer>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
    for chunk in ids.chunks(500) {
        let rows = Entity::find()
            .filter(Column::PlaidBankTransferId.is_in(chunk.iter().map(|id| id.as_str())))
            .all(&store.db)
            .await
            .map_err(from_db)?;
        found.extend(records(store, rows)?);
    }
    Ok(found)
}

pub(super) async fn list_bank_transfers(
    store: &Store,
    caller: &str,
    filter: BankTransferFilter,
    size: u32,
    after: Option<BankTransferId>,
) -> Result<(Vec<BankTransfer>, Option<BankTransferId>), StoreError> {
    let size = size.clamp(1, MAX_PAGE_SIZE) as usize;
    let mut query = Entity::find()
        .filter(Column::Caller.eq(caller))
        .order_by_asc(Column::Id)
        .limit(size as u64 + 1);
    if let Some(start) = filter.start {
        query = query.filter(Column::CreatedAt.gte(db_time(start)));
    }
    if let Some(end) = filter.end {
        query = query.filter(Column::CreatedAt.lt(db_time(end)));
    }
    if let Some(origination) = filter.origination_account_id {
        query = query.filter(Column::OriginationAccountId.eq(origination));
    }
    if let Some(direction) = filter.direction {
        query = query.filter(Column::Direction.eq(direction.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.as_uuid()));
    }
    let mut rows = query.all(&store.db).await.map_err(from_db)?;
    let more = rows.len() > size;
    rows.truncate(size);
    let items = records(store, rows)?;
    let next_after = if more {
        items.last().map(|transfer| transfer.id)
    } else {
        None
    };
    Ok((items, next_after))
}

/// Oldest first: history ids are UUIDv7, drawn when the move is stored.
pub(super) async fn bank_transfer_history(
    store: &Store,
    id: BankTransferId,
) -> Result<Vec<BankTransferHistoryEntry>, StoreError> {
    history::Entity::find()
        .filter(history::Column::BankTransferId.eq(id.as_uuid()))
        .order_by_asc(history::Column::Id)
        .all(&store.db)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(BankTransferHistoryEntry::try_from)
        .collect()
}
