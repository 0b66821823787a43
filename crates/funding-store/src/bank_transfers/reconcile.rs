//! The bank transfers the reconciler looks at: those Plaid knows (a Plaid id is stored) that are
//! PENDING there and have not moved since a given time, oldest change first.

use chrono::{DateTime, Utc};
use funding_core::model::BankTransfer;
use funding_core::ports::StoreError;
use funding_domain::PlaidBankTransferStatus;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::bank_transfer::{Column, Entity};
use crate::error::from_db;

pub(super) async fn bank_transfers_to_reconcile(
    store: &Store,
    cutoff: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankTransfer>, StoreError> {
    let rows = Entity::find()
        .filter(Column::Status.eq(PlaidBankTransferStatus::Pending.as_str()))
        .filter(Column::PlaidBankTransferId.is_not_null())
        .filter(Column::UpdatedAt.lt(db_time(cutoff)))
        .order_by_asc(Column::UpdatedAt)
        .order_by_asc(Column::Id)
        .limit(u64::from(limit))
        .all(&store.db)
        .await
        .map_err(from_db)?;
    super::read::records(store, rows)
}
