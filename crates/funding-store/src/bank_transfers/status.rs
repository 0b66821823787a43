//! Status moves. Each is a conditional update (`… WHERE id = ? AND status = <from>`) that also sets
//! `cancellable` and the failure columns (the truth after every move), and the history row that
//! records it, in one transaction: the move happens only if the stored status is still the one the
//! caller saw, and a Plaid event already in the transfer's history
//! (UNIQUE(bank_transfer_id, event_id)) rolls the whole move back, so a replayed event is a no-op
//! rather than an error. The writes a transfer's submit work makes are also under the work's fence;
//! storing Plaid's id is guarded by UNIQUE(plaid_bank_transfer_id) and makes the Plaid events parked
//! for that transfer pending again, in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use funding_core::model::RiskDecision;
use funding_core::ports::{
    BankTransferChange, Claim, InboxMark, OutboxResource, PLAID_BANK_TRANSFER_STREAM,
    PlaidAnswerSaved, PlaidBankTransfer, StoreError,
};
use funding_domain::{BankTransferId, PlaidBankTransferStatus};
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, IntoActiveModel as _,
    QueryFilter as _, UpdateMany,
};

use crate::Store;
use crate::convert::{
    bank_transfer_history_row, db_time, failure_columns, plaid_json, stored_direction,
};
use crate::entity::bank_transfer::{Column, Entity};
use crate::entity::bank_transfer_status_history as history;
use crate::error::{from_db, is_unique_violation};
use crate::work::fence;

pub(super) async fn mark_bank_transfer_submit_requested(
    store: &Store,
    claim: &Claim,
    id: BankTransferId,
    at: DateTime<Utc>,
    decision: Option<&RiskDecision>,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let at = db_time(at);
    // The first send's time is kept: a resend after an unknown outcome is the same create.
    let first = Func::coalesce([Expr::col(Column::SubmitRequestedAt), Expr::value(at)]);
    let mut update = Entity::update_many();
    if let Some(decision) = decision {
        update = update.col_expr(Column::RiskDecision, Expr::value(decision.encode()));
    }
    let updated = update
        .col_expr(Column::SubmitRequestedAt, first.into())
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(PlaidBankTransferStatus::Submitting.as_str()))
        .exec(&txn)
        .await
        .map_err(from_db)?
        .rows_affected;
    crate::sql::commit_if(txn, updated == 1).await
}

pub(super) async fn save_plaid_answer(
    store: &Store,
    claim: &Claim,
    id: BankTransferId,
    plaid: PlaidBankTransfer,
    change: BankTransferChange,
    finish: bool,
) -> Result<PlaidAnswerSaved, StoreError> {
    from_submitting(&change, "Plaid's answer is saved")?;
    let plaid_id = plaid.id.as_str().to_owned();
    let json = plaid_json(&plaid)?;
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let taken = Entity::find()
        .filter(Column::PlaidBankTransferId.eq(plaid_id.as_str()))
        .filter(Column::Id.ne(id.as_uuid()))
        .one(&txn)
        .await
        .map_err(from_db)?
        .is_some();
    if taken {
        txn.rollback().await.map_err(from_db)?;
        return Ok(PlaidAnswerSaved::HeldByAnother);
    }
    let mut update = moving(id, &change)
        .col_expr(Column::PlaidBankTransferId, Expr::value(plaid_id.clone()))
        .col_expr(Column::Plaid, Expr::value(json))
        .col_expr(Column::Direction, Expr::value(stored_direction(&plaid)));
    if let Some(origination) = &plaid.origination_account_id {
        // The request's origination account stays; Plaid's fills in when the request had none.
        let kept = Func::coalesce([
            Expr::col(Column::OriginationAccountId),
            Expr::value(origination.clone()),
        ]);
        update = update.col_expr(Column::OriginationAccountId, kept.into());
    }
    // A concurrent save of the same Plaid transfer by another of ours loses on the unique index
    // (the transaction is rolled back when it is dropped).
    let moved = match apply(&txn, id, update, &change).await {
        Ok(moved) => moved,
        Err(StoreError::Other(message)) if is_unique_violation(&message) => {
            return Ok(PlaidAnswerSaved::HeldByAnother);
        }
        Err(error) => return Err(error),
    };
    if !moved {
        txn.rollback().await.map_err(from_db)?;
        return Ok(PlaidAnswerSaved::NotSubmitting);
    }
    crate::inbox::unpark_in(&txn, PLAID_BANK_TRANSFER_STREAM, &plaid_id).await?;
    if finish {
        crate::work::finish_in(&txn, claim).await?;
    }
    txn.commit().await.map_err(from_db)?;
    Ok(PlaidAnswerSaved::Saved)
}

pub(super) async fn refuse_bank_transfer(
    store: &Store,
    claim: &Claim,
    id: BankTransferId,
    change: BankTransferChange,
) -> Result<bool, StoreError> {
    from_submitting(&change, "a bank transfer is refused")?;
    if change.to != PlaidBankTransferStatus::Refused {
        return Err(StoreError::Other(format!(
            "a refused bank transfer ends REFUSED, not {}",
            change.to
        )));
    }
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let moved = apply(&txn, id, moving(id, &change), &change).await?;
    crate::sql::commit_if(txn, moved).await
}

/// One conditional update (SUBMITTING and never sent) against
/// [`mark_bank_transfer_submit_requested`]'s (still SUBMITTING): whichever runs first, the other
/// finds the row changed, so a transfer is never both cancelled locally and sent.
pub(super) async fn cancel_unsent_bank_transfer(
    store: &Store,
    id: BankTransferId,
    change: BankTransferChange,
) -> Result<bool, StoreError> {
    from_submitting(&change, "a bank transfer is cancelled unsent")?;
    if change.to != PlaidBankTransferStatus::Cancelled {
        return Err(StoreError::Other(format!(
            "an unsent bank transfer is cancelled to CANCELLED, not {}",
            change.to
        )));
    }
    let (_permit, txn) = store.begin_write().await?;
    let update = moving(id, &change).filter(Column::SubmitRequestedAt.is_null());
    let moved = apply(&txn, id, update, &change).await?;
    crate::sql::commit_if(txn, moved).await
}

pub(super) async fn change_bank_transfer_status(
    store: &Store,
    id: BankTransferId,
    change: BankTransferChange,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    let moved = apply(&txn, id, moving(id, &change), &change).await?;
    crate::sql::commit_if(txn, moved).await
}

/// The advisory lock a batch of Plaid event moves holds (PostgreSQL).
const BATCH_LOCK: &str = "funding:apply:plaid_bank_transfer_events";

/// Event moves and their inbox marks in one transaction; nothing at all unless every move applies.
///
/// The Alpaca rail's batch (`transfers::status::apply_events`) does the same with one more step,
/// and this is why the two differ: each Alpaca move also writes a change-log entry holding the whole
/// transfer as that move leaves it (what `WatchTransfers` replays), so that batch reads its
/// transfers first and follows the moves on the rows in memory. The Plaid rail keeps no change log,
/// so here the moves are chained from the events alone (each must start where the one before it
/// left its transfer) and the conditional UPDATE checks the first move's `from` against the row.
pub(super) async fn apply_events(
    store: &Store,
    moves: Vec<(BankTransferId, BankTransferChange)>,
    marks: Vec<InboxMark>,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    // Batches run one at a time, on every replica: two batches of overlapping pages would take the
    // same rows in different orders and deadlock.
    crate::sql::lock_for_transaction(&txn, BATCH_LOCK).await?;
    // The same rows as `apply` writes for each move, in a few statements: each transfer is written
    // once, by a conditional update from its first move's status to its last move's row (each move
    // must start where the one before it left its transfer), then the history and outbox rows of
    // the whole batch many at a time.
    let mut order: HashMap<uuid::Uuid, usize> = HashMap::with_capacity(moves.len());
    // Per transfer: its first move's `from`, its last move, and the last failure code a move set.
    let mut written: Vec<(uuid::Uuid, &str, &BankTransferChange, Option<String>)> = Vec::new();
    for (id, change) in &moves {
        let id = id.as_uuid();
        match order.get(&id) {
            Some(&at) => {
                let (_, _, last, code) = &mut written[at];
                if last.to != change.from {
                    txn.rollback().await.map_err(from_db)?;
                    return Ok(false);
                }
                *last = change;
                if change.failure_code.is_some() {
                    code.clone_from(&change.failure_code);
                }
            }
            None => {
                order.insert(id, written.len());
                written.push((
                    id,
                    change.from.as_str(),
                    change,
                    change.failure_code.clone(),
                ));
            }
        }
    }
    let updates = written
        .iter()
        .map(|(id, from, last, failure_code)| {
            let (ach_return_code, description) = failure_columns(last.failure.as_ref());
            [
                (*id).into(),
                (*from).into(),
                last.to.as_str().into(),
                last.cancellable.into(),
                ach_return_code.into(),
                description.into(),
                last.reason.clone().into(),
                db_time(last.at).into(),
                failure_code.clone().into(),
            ]
        })
        .collect();
    let sql = "UPDATE bank_transfers SET status = v.column3, cancellable = v.column4, \
               ach_return_code = v.column5, failure_description = v.column6, \
               status_reason = v.column7, updated_at = v.column8, \
               failure_code = COALESCE(v.column9, bank_transfers.failure_code) \
               FROM (VALUES {values}) AS v \
               WHERE bank_transfers.id = v.column1 AND bank_transfers.status = v.column2";
    if !crate::sql::update_from_values(&txn, sql, updates).await? {
        txn.rollback().await.map_err(from_db)?;
        return Ok(false);
    }
    let mut outbox = Vec::with_capacity(moves.len());
    for chunk in moves.chunks(200) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(id, change)| bank_transfer_history_row(*id, change))
            .collect();
        for ((id, change), row) in chunk.iter().zip(&rows) {
            outbox.push((
                row.id.to_string(),
                OutboxResource::BankTransfer,
                id.as_uuid(),
                change.to.as_str(),
                change.at,
            ));
        }
        let recorded =
            history::Entity::insert_many(rows.into_iter().map(|row| row.into_active_model()))
                .on_conflict(
                    OnConflict::columns([
                        history::Column::BankTransferId,
                        history::Column::EventId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(from_db)?;
        if recorded != chunk.len() as u64 {
            // An event already in a transfer's history: the one-by-one path sorts it out.
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
    }
    crate::outbox::record_many(&txn, outbox).await?;
    crate::inbox::mark_all(&txn, &marks).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(true)
}

pub(super) async fn set_bank_transfer_cancellable(
    store: &Store,
    id: BankTransferId,
    cancellable: bool,
) -> Result<bool, StoreError> {
    let _permit = store.write_permit().await;
    let updated = Entity::update_many()
        .col_expr(Column::Cancellable, Expr::value(cancellable))
        .col_expr(Column::UpdatedAt, Expr::value(db_time(store.clock.now())))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Cancellable.ne(cancellable))
        .exec(&store.db)
        .await
        .map_err(from_db)?
        .rows_affected;
    Ok(updated == 1)
}

/// Refuses a change that does not start at SUBMITTING, where `what` happens.
pub(crate) fn from_submitting(change: &BankTransferChange, what: &str) -> Result<(), StoreError> {
    if change.from == PlaidBankTransferStatus::Submitting {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "{what} on a SUBMITTING bank transfer, not from {}",
            change.from
        )))
    }
}

/// The conditional update of a move, only from `change.from`: the new status, `cancellable`, the
/// failure (cleared when the change has none), the reason and the time; and the failure code when
/// the change carries one.
pub(crate) fn moving(id: BankTransferId, change: &BankTransferChange) -> UpdateMany<Entity> {
    let (ach_return_code, description) = failure_columns(change.failure.as_ref());
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(change.to.as_str()))
        .col_expr(Column::Cancellable, Expr::value(change.cancellable))
        .col_expr(Column::AchReturnCode, Expr::value(ach_return_code))
        .col_expr(Column::FailureDescription, Expr::value(description))
        .col_expr(Column::StatusReason, Expr::value(change.reason.clone()))
        .col_expr(Column::UpdatedAt, Expr::value(db_time(change.at)))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(change.from.as_str()));
    if let Some(code) = &change.failure_code {
        update = update.col_expr(Column::FailureCode, Expr::value(code.clone()));
    }
    update
}

/// Runs `update` and appends the history row in `txn`; whether the transfer moved (and the history
/// took the row: an event already recorded means the move must be rolled back).
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    id: BankTransferId,
    update: UpdateMany<Entity>,
    change: &BankTransferChange,
) -> Result<bool, StoreError> {
    let moved = update.exec(txn).await.map_err(from_db)?.rows_affected;
    if moved == 0 {
        return Ok(false);
    }
    let row = bank_transfer_history_row(id, change);
    let entry = row.id;
    let recorded = history::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([history::Column::BankTransferId, history::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(from_db)?;
    if recorded == 0 {
        tracing::debug!("the event is already in the bank transfer's history: nothing to do");
        return Ok(false);
    }
    crate::outbox::record(
        txn,
        entry.to_string(),
        OutboxResource::BankTransfer,
        id.as_uuid(),
        change.to.as_str(),
        change.at,
    )
    .await?;
    Ok(true)
}
