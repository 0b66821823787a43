//! Status moves. Each is a conditional update (`… WHERE id = ? AND status = <from>`) and the history
//! row that records it, in one transaction: the move happens only if the stored status is still the
//! one the caller saw, and a provider event already in the link's history (UNIQUE(link_id, event_id))
//! rolls the whole move back, so a replayed event is a no-op rather than an error.

use chrono::{DateTime, Utc};
use funding_core::ports::{StatusChange, StoreError};
use funding_domain::{AchRelationshipId, AchRelationshipStatus, BankLinkId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, IntoActiveModel as _, QueryFilter as _, UpdateMany,
};

use crate::Store;
use crate::convert::{db_time, history_row};
use crate::entity::{bank_link, bank_link_status_history as history};
use crate::error::from_db;

pub(super) async fn change_link_status(
    store: &Store,
    id: BankLinkId,
    change: StatusChange,
    failure_code: Option<String>,
) -> Result<bool, StoreError> {
    let mut update = moving(id, &change);
    if let Some(code) = failure_code {
        update = update.col_expr(bank_link::Column::FailureCode, Expr::value(code));
    }
    apply(store, id, update, &change).await
}

pub(super) async fn save_relationship(
    store: &Store,
    id: BankLinkId,
    relationship_id: AchRelationshipId,
    account_owner_name: &str,
    change: StatusChange,
) -> Result<bool, StoreError> {
    if change.from != AchRelationshipStatus::Creating {
        return Err(StoreError::Other(format!(
            "a relationship is saved on a CREATING link, not from {}",
            change.from
        )));
    }
    let update = moving(id, &change)
        .col_expr(
            bank_link::Column::AchRelationshipId,
            Expr::value(relationship_id.as_uuid()),
        )
        .col_expr(
            bank_link::Column::AccountOwnerName,
            Expr::value(account_owner_name),
        );
    apply(store, id, update, &change).await
}

pub(super) async fn mark_relationship_requested(
    store: &Store,
    id: BankLinkId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = db_time(at);
    let result = bank_link::Entity::update_many()
        .col_expr(bank_link::Column::RelationshipRequestedAt, Expr::value(at))
        .col_expr(bank_link::Column::UpdatedAt, Expr::value(at))
        .filter(bank_link::Column::Id.eq(id.as_uuid()))
        .exec(&store.db)
        .await
        .map_err(from_db)?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound(format!("bank link {id}")));
    }
    Ok(())
}

/// The conditional update of a move: the new status, reason and time, only from `change.from`.
fn moving(id: BankLinkId, change: &StatusChange) -> UpdateMany<bank_link::Entity> {
    bank_link::Entity::update_many()
        .col_expr(bank_link::Column::Status, Expr::value(change.to.as_str()))
        .col_expr(
            bank_link::Column::StatusReason,
            Expr::value(change.reason.clone()),
        )
        .col_expr(
            bank_link::Column::UpdatedAt,
            Expr::value(db_time(change.at)),
        )
        .filter(bank_link::Column::Id.eq(id.as_uuid()))
        .filter(bank_link::Column::Status.eq(change.from.as_str()))
}

/// Runs `update` and appends the history row in one transaction; whether the link moved.
async fn apply(
    store: &Store,
    id: BankLinkId,
    update: UpdateMany<bank_link::Entity>,
    change: &StatusChange,
) -> Result<bool, StoreError> {
    let txn = store.begin_write().await?;
    let moved = update.exec(&txn).await.map_err(from_db)?.rows_affected;
    if moved == 0 {
        txn.rollback().await.map_err(from_db)?;
        return Ok(false);
    }
    let recorded = history::Entity::insert(history_row(id, change).into_active_model())
        .on_conflict(
            OnConflict::columns([history::Column::LinkId, history::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(from_db)?;
    if recorded == 0 {
        tracing::debug!("the event is already in the link's history: nothing to do");
        txn.rollback().await.map_err(from_db)?;
        return Ok(false);
    }
    txn.commit().await.map_err(from_db)?;
    Ok(true)
}
