//! Health moves: every link of a Plaid Item whose health may move to the reported one moves, each
//! with a history entry (its status unchanged, the health change in words, the webhook's identity
//! as the event id: UNIQUE(link_id, event_id) makes a redelivered webhook a no-op) and an outbox row,
//! in one transaction.

use chrono::{DateTime, Utc};
use funding_core::ports::{OutboxResource, StoreError};
use funding_domain::{BankLinkHealth, BankLinkId, PlaidItemId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait as _, EntityTrait as _, IntoActiveModel as _, QueryFilter as _};
use uuid::Uuid;

use crate::Store;
use crate::convert::db_time;
use crate::entity::{bank_link, bank_link_status_history as history};
use crate::error::from_db;

/// Which links a health move is for.
pub(crate) enum HealthOf<'a> {
    /// Every link of a Plaid Item (its webhooks are about the Item).
    Item(&'a PlaidItemId),
    /// One link (an ACH return is about one bank account).
    Link(BankLinkId),
}

pub(super) async fn change_item_health(
    store: &Store,
    item_id: &PlaidItemId,
    to: BankLinkHealth,
    reason: &str,
    source: &str,
    event_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<BankLinkId>, StoreError> {
    change_health(
        store,
        HealthOf::Item(item_id),
        to,
        reason,
        source,
        event_id,
        at,
        None,
    )
    .await
}

/// Moves the health of the links `of` names that may become `to`, each with its history entry
/// (event id `event_id`: a second time is a no-op) and outbox row, and `audit` (once, when any
/// link moved), in one transaction; the links that moved.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn change_health(
    store: &Store,
    of: HealthOf<'_>,
    to: BankLinkHealth,
    reason: &str,
    source: &str,
    event_id: &str,
    at: DateTime<Utc>,
    audit: Option<&funding_core::ports::NewAuditEvent>,
) -> Result<Vec<BankLinkId>, StoreError> {
    let may_move: Vec<&str> = BankLinkHealth::ALL
        .iter()
        .filter(|from| from.can_become(to))
        .map(|from| from.as_str())
        .collect();
    let (_permit, txn) = store.begin_write().await?;
    let links = match of {
        HealthOf::Item(item_id) => {
            bank_link::Entity::find().filter(bank_link::Column::PlaidItemId.eq(item_id.as_str()))
        }
        HealthOf::Link(id) => {
            bank_link::Entity::find().filter(bank_link::Column::Id.eq(id.as_uuid()))
        }
    };
    let links = links
        .filter(bank_link::Column::Health.is_in(may_move.clone()))
        .all(&txn)
        .await
        .map_err(from_db)?;
    let mut moved = Vec::new();
    for link in links {
        let entry = history::Model {
            id: Uuid::now_v7(),
            link_id: link.id,
            from_status: link.status.clone(),
            to_status: link.status.clone(),
            reason: Some(format!("health {} -> {to}: {reason}", link.health)),
            source: source.to_owned(),
            event_id: Some(event_id.to_owned()),
            at: db_time(at),
        };
        let entry_id = entry.id;
        let recorded = history::Entity::insert(entry.into_active_model())
            .on_conflict(
                OnConflict::columns([history::Column::LinkId, history::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        if recorded == 0 {
            // This webhook was applied to this link before.
            continue;
        }
        let updated = bank_link::Entity::update_many()
            .col_expr(bank_link::Column::Health, Expr::value(to.as_str()))
            .col_expr(bank_link::Column::HealthReason, Expr::value(reason))
            .col_expr(bank_link::Column::UpdatedAt, Expr::value(db_time(at)))
            .filter(bank_link::Column::Id.eq(link.id))
            .filter(bank_link::Column::Health.is_in(may_move.clone()))
            .exec(&txn)
            .await
            .map_err(from_db)?
            .rows_affected;
        if updated == 0 {
            continue;
        }
        crate::outbox::record(
            &txn,
            entry_id.to_string(),
            OutboxResource::BankLink,
            link.id,
            &link.status,
            at,
        )
        .await?;
        moved.push(BankLinkId::from_uuid(link.id));
    }
    if let Some(audit) = audit.filter(|_| !moved.is_empty()) {
        crate::risk::append_audit(&txn, audit).await?;
    }
    txn.commit().await.map_err(from_db)?;
    Ok(moved)
}
