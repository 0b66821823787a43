//! The links the reconciler looks at: those waiting on Alpaca (QUEUED, PENDING, SENT_TO_CLEARING,
//! CANCEL_REQUESTED, CANCEL_SENT) that have not moved since a given time, oldest change first.

use chrono::{DateTime, Utc};
use funding_core::model::BankLink;
use funding_core::ports::StoreError;
use funding_domain::AchRelationshipStatus;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::bank_link::{Column, Entity};
use crate::error::from_db;

pub(super) async fn links_to_reconcile(
    store: &Store,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankLink>, StoreError> {
    use AchRelationshipStatus::*;
    let waiting = [Queued, Pending, SentToClearing, CancelRequested, CancelSent]
        .map(|status| status.as_str().to_owned());
    Entity::find()
        .filter(Column::Status.is_in(waiting))
        .filter(Column::UpdatedAt.lte(db_time(before)))
        .order_by_asc(Column::UpdatedAt)
        .limit(u64::from(limit))
        .all(&store.db)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(BankLink::try_from)
        .collect()
}
