//! Leases on CREATING links: whoever drives a link through its provider steps takes it until a time,
//! with one conditional update (free, or the holder's lease ran out), so that two replicas never drive
//! the same link at once; the resumer finds the links whose lease ran out. A lease is valid for the
//! instants before its `until`; the store's clock says what "now" is.
//!
//! On SQLite timestamps are RFC 3339 text in UTC with 0, 3, 6 or 9 fraction digits; such strings sort
//! exactly as the instants they name ('+' sorts before '.' and the digits), so `<=` in SQL is correct.

use chrono::{DateTime, Utc};
use funding_core::model::BankLink;
use funding_core::ports::StoreError;
use funding_domain::{AchRelationshipStatus, BankLinkId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::bank_link::{Column, Entity};
use crate::error::from_db;

/// No lease, or one that ran out at or before `now`.
fn lease_free_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lte(now))
}

pub(super) async fn lease_link(
    store: &Store,
    id: BankLinkId,
    owner: &str,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = store.clock.now();
    let result = Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(owner))
        .col_expr(Column::LeaseUntil, Expr::value(db_time(until)))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(AchRelationshipStatus::Creating.as_str()))
        .filter(lease_free_at(now))
        .exec(&store.db)
        .await
        .map_err(from_db)?;
    Ok(result.rows_affected == 1)
}

pub(super) async fn release_link(
    store: &Store,
    id: BankLinkId,
    owner: &str,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::LeaseOwner.eq(owner))
        .exec(&store.db)
        .await
        .map_err(from_db)?;
    Ok(())
}

pub(super) async fn stale_creating_links(
    store: &Store,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankLink>, StoreError> {
    Entity::find()
        .filter(Column::Status.eq(AchRelationshipStatus::Creating.as_str()))
        .filter(lease_free_at(now))
        .order_by_asc(Column::Id)
        .limit(u64::from(limit))
        .all(&store.db)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(BankLink::try_from)
        .collect()
}
