//! The transfers the reconciler looks at: those Alpaca knows (a provider id is stored) that are in
//! flight there (QUEUED, APPROVAL_PENDING, PENDING, SENT_TO_CLEARING, APPROVED) and have not moved
//! since a given time, oldest change first.

use chrono::{DateTime, Utc};
use funding_core::model::Transfer;
use funding_core::ports::StoreError;
use funding_domain::AlpacaTransferStatus;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::transfer::{Column, Entity};
use crate::error::from_db;

pub(super) async fn transfers_to_reconcile(
    store: &Store,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Transfer>, StoreError> {
    use AlpacaTransferStatus::*;
    let in_flight = [Queued, ApprovalPending, Pending, SentToClearing, Approved]
        .map(|status| status.as_str().to_owned());
    Entity::find()
        .filter(Column::Status.is_in(in_flight))
        .filter(Column::ProviderTransferId.is_not_null())
        .filter(Column::UpdatedAt.lte(db_time(before)))
        .order_by_asc(Column::UpdatedAt)
        .order_by_asc(Column::Id)
        .limit(u64::from(limit))
        .all(&store.db)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(Transfer::try_from)
        .collect()
}
