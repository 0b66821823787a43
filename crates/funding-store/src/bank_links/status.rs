//! Status moves. Each is a conditional update (`… WHERE id = ? AND status = <from>`) and the history
//! row that records it, in one transaction: the move happens only if the stored status is still the
//! one the caller saw, and a provider event already in the link's history (UNIQUE(link_id, event_id))
//! rolls the whole move back, so a replayed event is a no-op rather than an error. The moves a link's
//! work makes are also under the work's fence, and a move that ends the link's use of its Plaid Item
//! queues the Item's removal in the same transaction.

use chrono::{DateTime, Utc};
use funding_core::ports::{
    Claim, LinkStatusChange, NewWork, OutboxResource, RelationshipSaved, SavedRelationship,
    StoreError, WorkKind,
};
use funding_domain::{AchRelationshipStatus, BankLinkId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, IntoActiveModel as _,
    QueryFilter as _, UpdateMany,
};

use crate::Store;
use crate::convert::{db_time, history_row};
use crate::entity::{bank_link, bank_link_status_history as history};
use crate::error::from_db;
use crate::work::{fence, insert_work};

/// Attempts at removing a Plaid Item before the removal is given up (and counted).
const ITEM_REMOVAL_ATTEMPTS: u32 = 10;

pub(super) async fn change_link_status(
    store: &Store,
    id: BankLinkId,
    change: LinkStatusChange,
    remove_item: bool,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    let moved = apply(&txn, id, moving(id, &change), &change).await?;
    finish(txn, id, &change.to, moved, remove_item).await
}

pub(super) async fn fail_link(
    store: &Store,
    claim: &Claim,
    id: BankLinkId,
    change: LinkStatusChange,
    failure_code: String,
    remove_item: bool,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let update = moving(id, &change)
        .col_expr(bank_link::Column::FailureCode, Expr::value(failure_code))
        .col_expr(
            bank_link::Column::PublicToken,
            Expr::value(Option::<Vec<u8>>::None),
        );
    let moved = apply(&txn, id, update, &change).await?;
    finish(txn, id, &change.to, moved, remove_item).await
}

pub(super) async fn save_relationship(
    store: &Store,
    claim: &Claim,
    id: BankLinkId,
    relationship: SavedRelationship,
    change: LinkStatusChange,
) -> Result<RelationshipSaved, StoreError> {
    if change.from != AchRelationshipStatus::Creating {
        return Err(StoreError::Other(format!(
            "a relationship is saved on a CREATING link, not from {}",
            change.from
        )));
    }
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let taken = bank_link::Entity::find()
        .filter(bank_link::Column::AchRelationshipId.eq(relationship.relationship_id.as_uuid()))
        .filter(bank_link::Column::Id.ne(id.as_uuid()))
        .one(&txn)
        .await
        .map_err(from_db)?
        .is_some();
    if taken {
        txn.rollback().await.map_err(from_db)?;
        return Ok(RelationshipSaved::HeldByAnother);
    }
    let update = moving(id, &change)
        .col_expr(
            bank_link::Column::AchRelationshipId,
            Expr::value(relationship.relationship_id.as_uuid()),
        )
        .col_expr(
            bank_link::Column::AccountOwnerName,
            Expr::value(relationship.account_owner_name),
        )
        .col_expr(
            bank_link::Column::BankAccountType,
            Expr::value(relationship.bank_account_type),
        )
        .col_expr(
            bank_link::Column::BankAccountMask,
            Expr::value(relationship.bank_account_mask),
        );
    // A concurrent adoption of the same relationship by another link loses on the unique index.
    let moved = match apply(&txn, id, update, &change).await {
        Ok(moved) => moved,
        Err(StoreError::Other(message)) if is_unique_violation(&message) => {
            return Ok(RelationshipSaved::HeldByAnother);
        }
        Err(error) => return Err(error),
    };
    if !moved {
        txn.rollback().await.map_err(from_db)?;
        return Ok(RelationshipSaved::NotCreating);
    }
    crate::inbox::unpark(&txn, &relationship.relationship_id.as_uuid().to_string()).await?;
    if let Some(old) = replaced_link_to_clear(&txn, id, &change.to).await? {
        queue_item_removal(&txn, old).await?;
    }
    txn.commit().await.map_err(from_db)?;
    Ok(RelationshipSaved::Saved)
}

fn is_unique_violation(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("unique") || message.contains("duplicate key")
}

pub(super) async fn mark_relationship_requested(
    store: &Store,
    claim: &Claim,
    id: BankLinkId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    super::secrets::update(
        store,
        claim,
        id,
        [(
            bank_link::Column::RelationshipRequestedAt,
            Expr::value(db_time(at)),
        )],
    )
    .await
}

pub(super) async fn note_creating_waiting(
    store: &Store,
    claim: &Claim,
    id: BankLinkId,
    reason: &str,
) -> Result<(), StoreError> {
    super::secrets::update(
        store,
        claim,
        id,
        [(bank_link::Column::StatusReason, Expr::value(reason))],
    )
    .await
}

/// Queues the Item's removal when asked and the link moved (and the replaced link's, when a
/// replacement is settled), and commits.
async fn finish(
    txn: DatabaseTransaction,
    id: BankLinkId,
    to: &AchRelationshipStatus,
    moved: bool,
    remove_item: bool,
) -> Result<bool, StoreError> {
    if moved {
        if remove_item || cancelled_for_good(&txn, id, to).await? {
            queue_item_removal(&txn, id.as_uuid()).await?;
        }
        if let Some(old) = replaced_link_to_clear(&txn, id, to).await? {
            queue_item_removal(&txn, old).await?;
        }
    }
    crate::sql::commit_if(txn, moved).await
}

async fn queue_item_removal(txn: &DatabaseTransaction, link: uuid::Uuid) -> Result<(), StoreError> {
    insert_work(
        txn,
        &NewWork {
            kind: WorkKind::PlaidItemRemove,
            subject_id: link,
            ordering_key: None,
            max_attempts: ITEM_REMOVAL_ATTEMPTS,
        },
    )
    .await
}

/// Whether a link that has just reached CANCELED needs its Item no longer: its relationship is gone
/// however it went (our delete, whose answer may have been lost, or Alpaca's own cancel), unless a
/// replacement still being created depends on it (that replacement clears it when it settles).
async fn cancelled_for_good(
    txn: &DatabaseTransaction,
    id: BankLinkId,
    to: &AchRelationshipStatus,
) -> Result<bool, StoreError> {
    if *to != AchRelationshipStatus::Canceled {
        return Ok(false);
    }
    let replacing = bank_link::Entity::find()
        .filter(bank_link::Column::ReplacesBankLinkId.eq(id.as_uuid()))
        .filter(bank_link::Column::Status.eq(AchRelationshipStatus::Creating.as_str()))
        .one(txn)
        .await
        .map_err(from_db)?;
    Ok(replacing.is_none())
}

/// The link `id` replaced, when `id` has just settled its replacement (APPROVED, or ended) and
/// the old link was cancelled for it: its Item is no longer needed.
async fn replaced_link_to_clear(
    txn: &DatabaseTransaction,
    id: BankLinkId,
    to: &AchRelationshipStatus,
) -> Result<Option<uuid::Uuid>, StoreError> {
    use AchRelationshipStatus::*;
    if !matches!(to, Approved | Rejected | Failed | Canceled) {
        return Ok(None);
    }
    let Some(old) = bank_link::Entity::find_by_id(id.as_uuid())
        .one(txn)
        .await
        .map_err(from_db)?
        .and_then(|row| row.replaces_bank_link_id)
    else {
        return Ok(None);
    };
    let cancelled = bank_link::Entity::find_by_id(old)
        .one(txn)
        .await
        .map_err(from_db)?
        .is_some_and(|row| {
            matches!(
                AchRelationshipStatus::from_stored(&row.status),
                CancelRequested | CancelSent | Canceled
            )
        });
    Ok(cancelled.then_some(old))
}

/// The conditional update of a move: the new status, reason and time, only from `change.from`.
fn moving(id: BankLinkId, change: &LinkStatusChange) -> UpdateMany<bank_link::Entity> {
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

/// Runs `update` and appends the history row in `txn`; whether the link moved (and the history
/// took the row: an event already recorded rolls the move back).
async fn apply(
    txn: &DatabaseTransaction,
    id: BankLinkId,
    update: UpdateMany<bank_link::Entity>,
    change: &LinkStatusChange,
) -> Result<bool, StoreError> {
    let moved = update.exec(txn).await.map_err(from_db)?.rows_affected;
    if moved == 0 {
        return Ok(false);
    }
    let row = history_row(id, change);
    let entry = row.id;
    let recorded = history::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([history::Column::LinkId, history::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(from_db)?;
    if recorded == 0 {
        tracing::debug!("the event is already in the link's history: nothing to do");
        return Ok(false);
    }
    crate::outbox::record(
        txn,
        entry.to_string(),
        OutboxResource::BankLink,
        id.as_uuid(),
        change.to.as_str(),
        change.at,
    )
    .await?;
    Ok(true)
}
