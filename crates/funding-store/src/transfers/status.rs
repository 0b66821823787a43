//! Status moves. Each is a conditional update (`… WHERE id = ? AND status = <from>`) and the history
//! row that records it, in one transaction: the move happens only if the stored status is still the
//! one the caller saw, and a provider event already in the transfer's history
//! (UNIQUE(transfer_id, event_id)) rolls the whole move back, so a replayed event is a no-op rather
//! than an error. The writes a transfer's submit work makes are also under the work's fence; storing
//! Alpaca's id is guarded by UNIQUE(provider_transfer_id) and makes the events parked for that Alpaca
//! transfer pending again, in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use funding_core::model::RiskDecision;
use funding_core::ports::{
    Claim, InboxMark, NewAuditEvent, NewWork, StoreError, TransferChange, TransferSaved, WorkKind,
};
use funding_domain::returns::ReturnPolicy;
use funding_domain::{
    AccountId, AchReturnCode, AlpacaTransferId, AlpacaTransferStatus, TransferId,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, EntityTrait as _,
    FromQueryResult as _, IntoActiveModel as _, QueryFilter as _, QueryTrait as _, UpdateMany,
};

use crate::Store;
use crate::convert::{db_time, transfer_history_row};
use crate::entity::{transfer, transfer_status_history as history};
use crate::error::{from_db, is_unique_violation};
use crate::work::fence;

pub(super) async fn mark_submit_requested(
    store: &Store,
    claim: &Claim,
    id: TransferId,
    at: DateTime<Utc>,
    decision: Option<&RiskDecision>,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let at = db_time(at);
    let mut update = transfer::Entity::update_many();
    if let Some(decision) = decision {
        update = update.col_expr(
            transfer::Column::RiskDecision,
            Expr::value(decision.encode()),
        );
    }
    let updated = update
        .col_expr(transfer::Column::SubmitRequestedAt, Expr::value(at))
        .col_expr(transfer::Column::UpdatedAt, Expr::value(at))
        .filter(transfer::Column::Id.eq(id.as_uuid()))
        .filter(transfer::Column::Status.eq(AlpacaTransferStatus::Submitting.as_str()))
        .exec(&txn)
        .await
        .map_err(from_db)?
        .rows_affected;
    crate::sql::commit_if(txn, updated == 1).await
}

pub(super) async fn restore_submit_requested(
    store: &Store,
    claim: &Claim,
    id: TransferId,
    previous: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    transfer::Entity::update_many()
        .col_expr(
            transfer::Column::SubmitRequestedAt,
            Expr::value(previous.map(db_time)),
        )
        .filter(transfer::Column::Id.eq(id.as_uuid()))
        .filter(transfer::Column::Status.eq(AlpacaTransferStatus::Submitting.as_str()))
        .exec(&txn)
        .await
        .map_err(from_db)?;
    txn.commit().await.map_err(from_db)
}

pub(super) async fn note_submit_waiting(
    store: &Store,
    claim: &Claim,
    id: TransferId,
    reason: &str,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let updated = transfer::Entity::update_many()
        .col_expr(transfer::Column::StatusReason, Expr::value(reason))
        .filter(transfer::Column::Id.eq(id.as_uuid()))
        .filter(transfer::Column::Status.eq(AlpacaTransferStatus::Submitting.as_str()))
        .exec(&txn)
        .await
        .map_err(from_db)?
        .rows_affected;
    crate::sql::commit_if(txn, updated == 1).await
}

pub(super) async fn save_submitted(
    store: &Store,
    claim: &Claim,
    id: TransferId,
    provider_id: AlpacaTransferId,
    change: TransferChange,
    finish: bool,
) -> Result<TransferSaved, StoreError> {
    from_submitting(&change, "Alpaca's id is saved")?;
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let update = moving(id, &change).col_expr(
        transfer::Column::ProviderTransferId,
        Expr::value(provider_id.as_uuid()),
    );
    // An Alpaca transfer another of ours holds (saved before, or concurrently) is refused by the
    // unique index, without a read first (the transaction is rolled back when it is dropped).
    let moved = match apply(&txn, id, update, &change, &store.return_policy).await {
        Ok(moved) => moved,
        Err(StoreError::Other(message)) if is_unique_violation(&message) => {
            return Ok(TransferSaved::HeldByAnother);
        }
        Err(error) => return Err(error),
    };
    if !moved {
        txn.rollback().await.map_err(from_db)?;
        return Ok(TransferSaved::NotSubmitting);
    }
    crate::inbox::unpark(&txn, &provider_id.as_uuid().to_string()).await?;
    if finish {
        crate::work::finish_in(&txn, claim).await?;
    }
    txn.commit().await.map_err(from_db)?;
    Ok(TransferSaved::Saved)
}

pub(super) async fn end_unsubmitted(
    store: &Store,
    claim: &Claim,
    id: TransferId,
    change: TransferChange,
    failure_code: Option<String>,
) -> Result<bool, StoreError> {
    from_submitting(&change, "an unsubmitted transfer is ended")?;
    if !matches!(
        change.to,
        AlpacaTransferStatus::Failed | AlpacaTransferStatus::Canceled
    ) {
        return Err(StoreError::Other(format!(
            "an unsubmitted transfer ends FAILED or CANCELED, not {}",
            change.to
        )));
    }
    let (_permit, txn) = store.begin_write().await?;
    fence(&txn, claim).await?;
    let mut update = moving(id, &change);
    if let Some(code) = failure_code {
        update = update.col_expr(transfer::Column::FailureCode, Expr::value(code));
    }
    let moved = apply(&txn, id, update, &change, &store.return_policy).await?;
    crate::sql::commit_if(txn, moved).await
}

/// One conditional update (SUBMITTING and never sent) against
/// [`mark_submit_requested`]'s (still SUBMITTING): whichever runs first, the other finds the row
/// changed, so a transfer is never both cancelled locally and sent.
pub(super) async fn cancel_unsent(
    store: &Store,
    id: TransferId,
    change: TransferChange,
) -> Result<bool, StoreError> {
    from_submitting(&change, "a transfer is cancelled unsent")?;
    if change.to != AlpacaTransferStatus::Canceled {
        return Err(StoreError::Other(format!(
            "an unsent transfer is cancelled to CANCELED, not {}",
            change.to
        )));
    }
    let (_permit, txn) = store.begin_write().await?;
    let update = moving(id, &change).filter(transfer::Column::SubmitRequestedAt.is_null());
    let moved = apply(&txn, id, update, &change, &store.return_policy).await?;
    crate::sql::commit_if(txn, moved).await
}

pub(super) async fn change_transfer_status(
    store: &Store,
    id: TransferId,
    change: TransferChange,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    let moved = apply(&txn, id, moving(id, &change), &change, &store.return_policy).await?;
    crate::sql::commit_if(txn, moved).await
}

/// The advisory lock a batch of Alpaca event moves holds (PostgreSQL).
const BATCH_LOCK: &str = "funding:apply:alpaca_transfer_events";

/// Event moves and their inbox marks in one transaction; nothing at all unless every move applies.
///
/// The same rows as [`apply`] writes for each move, in a few statements per batch: the transfers
/// are read once, the moves followed in memory (each change-log entry is the row as its move
/// leaves it, what [`apply`]'s re-read would see), each transfer written once by a conditional
/// update from the status it was read in, and the history, change-log and outbox rows inserted
/// many at a time. (The Plaid rail's batch reads no rows: it has no change log to write; see
/// `bank_transfers::status::apply_events`.)
pub(super) async fn apply_events(
    store: &Store,
    moves: Vec<(TransferId, TransferChange)>,
    marks: Vec<InboxMark>,
) -> Result<bool, StoreError> {
    let (_permit, txn) = store.begin_write().await?;
    // Batches run one at a time, on every replica (a follower whose lease ran out may still be
    // writing its last one): two batches of overlapping pages would take the same rows in
    // different orders and deadlock.
    crate::sql::lock_for_transaction(&txn, BATCH_LOCK).await?;
    let mut ids: Vec<uuid::Uuid> = moves.iter().map(|(id, _)| id.as_uuid()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut rows: HashMap<uuid::Uuid, transfer::Model> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for row in transfer::Entity::find()
            .filter(transfer::Column::Id.is_in(chunk.iter().copied()))
            .all(&txn)
            .await
            .map_err(from_db)?
        {
            rows.insert(row.id, row);
        }
    }
    // The moves are followed in memory from the rows just read: each must start where the one
    // before it left its transfer. Each transfer is then written once, from its first move's
    // status to its last move's row, by one conditional UPDATE per 200 transfers.
    // Each transfer's status as read: what its conditional UPDATE expects to find.
    let read: Vec<(uuid::Uuid, String)> = rows
        .values()
        .map(|row| (row.id, row.status.clone()))
        .collect();
    let mut entries = Vec::with_capacity(moves.len());
    for (id, change) in &moves {
        let Some(row) = rows.get_mut(&id.as_uuid()) else {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        };
        if row.status != change.from.as_str() {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        row.status = change.to.as_str().to_owned();
        row.status_reason.clone_from(&change.reason);
        row.updated_at = db_time(change.at);
        if let Some(code) = &change.ach_return_code {
            row.ach_return_code = Some(code.clone());
        }
        entries.push((row.clone(), change.source.as_str()));
    }
    let updates = read
        .into_iter()
        .map(|(id, from)| {
            let row = &rows[&id];
            [
                id.into(),
                from.into(),
                row.status.clone().into(),
                row.status_reason.clone().into(),
                row.updated_at.into(),
                row.ach_return_code.clone().into(),
            ]
        })
        .collect();
    let sql = "UPDATE transfers SET status = v.column3, status_reason = v.column4, \
               updated_at = v.column5, ach_return_code = v.column6 \
               FROM (VALUES {values}) AS v \
               WHERE transfers.id = v.column1 AND transfers.status = v.column2";
    if !crate::sql::update_from_values(&txn, sql, updates).await? {
        // A transfer moved since it was read (another writer on PostgreSQL).
        txn.rollback().await.map_err(from_db)?;
        return Ok(false);
    }
    for chunk in moves.chunks(200) {
        let recorded = history::Entity::insert_many(
            chunk
                .iter()
                .map(|(id, change)| transfer_history_row(*id, change).into_active_model()),
        )
        .on_conflict(
            OnConflict::columns([history::Column::TransferId, history::Column::EventId])
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
    super::changes::append_many(&txn, &entries).await?;
    let (audits, works): (Vec<_>, Vec<_>) = moves
        .iter()
        .filter_map(|(id, change)| {
            let account = AccountId::from_uuid(rows[&id.as_uuid()].account_id);
            return_consequence(*id, Some(account), change, &store.return_policy)
        })
        .unzip();
    crate::risk::append_audits(&txn, &audits).await?;
    let works: Vec<NewWork> = works.into_iter().flatten().collect();
    crate::work::insert_works(&txn, &works).await?;
    crate::inbox::mark_all(&txn, &marks).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(true)
}

/// Refuses a change that does not start at SUBMITTING, where `what` happens.
pub(crate) fn from_submitting(change: &TransferChange, what: &str) -> Result<(), StoreError> {
    if change.from == AlpacaTransferStatus::Submitting {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "{what} on a SUBMITTING transfer, not from {}",
            change.from
        )))
    }
}

/// The conditional update of a move: the new status, reason and time (and the ACH return code when
/// the change carries one), only from `change.from`.
pub(crate) fn moving(id: TransferId, change: &TransferChange) -> UpdateMany<transfer::Entity> {
    let mut update = transfer::Entity::update_many()
        .col_expr(transfer::Column::Status, Expr::value(change.to.as_str()))
        .col_expr(
            transfer::Column::StatusReason,
            Expr::value(change.reason.clone()),
        )
        .col_expr(transfer::Column::UpdatedAt, Expr::value(db_time(change.at)))
        .filter(transfer::Column::Id.eq(id.as_uuid()))
        .filter(transfer::Column::Status.eq(change.from.as_str()));
    if let Some(code) = &change.ach_return_code {
        update = update.col_expr(transfer::Column::AchReturnCode, Expr::value(code.clone()));
    }
    update
}

/// Runs `update` and appends the history row in `txn`; whether the transfer moved (and the history
/// took the row: an event already recorded means the move must be rolled back).
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    id: TransferId,
    update: UpdateMany<transfer::Entity>,
    change: &TransferChange,
    policy: &ReturnPolicy,
) -> Result<bool, StoreError> {
    let Some(now) = update_returning(txn, update).await? else {
        return Ok(false);
    };
    let recorded = history::Entity::insert(transfer_history_row(id, change).into_active_model())
        .on_conflict(
            OnConflict::columns([history::Column::TransferId, history::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(from_db)?;
    if recorded == 0 {
        tracing::debug!("the event is already in the transfer's history: nothing to do");
        return Ok(false);
    }
    let account = AccountId::from_uuid(now.account_id);
    super::changes::append_many(txn, &[(now, change.source.as_str())]).await?;
    returned(txn, id, account, change, policy).await?;
    Ok(true)
}

/// Runs a conditional update of one transfer; the row as it left it (`RETURNING`, so that the
/// change log needs no second read), or `None` when the condition kept it from moving.
async fn update_returning(
    txn: &DatabaseTransaction,
    update: UpdateMany<transfer::Entity>,
) -> Result<Option<transfer::Model>, StoreError> {
    let mut statement = update.into_query();
    statement.returning_all();
    let mut rows = txn.query_all(&statement).await.map_err(from_db)?;
    if rows.len() > 1 {
        return Err(StoreError::Other(format!(
            "a move of one transfer changed {} rows",
            rows.len()
        )));
    }
    rows.pop()
        .map(|row| transfer::Model::from_query_result(&row, ""))
        .transpose()
        .map_err(from_db)
}

/// What an ACH return does to the link and the account (DESIGN §12) is work, written with the
/// move to RETURNED: it happens once per returned transfer however often the return is reported
/// (a repeated event moves nothing), and after a crash it is still there to do.
async fn returned(
    txn: &DatabaseTransaction,
    id: TransferId,
    account: AccountId,
    change: &TransferChange,
    policy: &ReturnPolicy,
) -> Result<(), StoreError> {
    if let Some((audit, work)) = return_consequence(id, Some(account), change, policy) {
        crate::risk::append_audit(txn, &audit).await?;
        if let Some(work) = work {
            crate::work::insert_work(txn, &work).await?;
        }
    }
    Ok(())
}

/// For a move to RETURNED: the return's audit event (by the service, with what it said) and, when
/// `policy` gives its code a consequence that acts now, the work of that consequence; `None` for
/// any other move. (An insufficient-funds return needs no work: the checks count it later.)
fn return_consequence(
    id: TransferId,
    account_id: Option<AccountId>,
    change: &TransferChange,
    policy: &ReturnPolicy,
) -> Option<(NewAuditEvent, Option<NewWork>)> {
    if change.to != AlpacaTransferStatus::Returned {
        return None;
    }
    let acts = change
        .ach_return_code
        .as_deref()
        .is_some_and(|code| policy.consequence(&AchReturnCode::parse(code)).acts_now());
    let audit = NewAuditEvent {
        actor: "service".to_owned(),
        action: "transfer.returned".to_owned(),
        resource: format!("transfers/{id}"),
        account_id,
        reason: change.reason.clone().unwrap_or_default(),
        details: serde_json::json!({
            "account_id": account_id.map(|id| id.to_string()),
            "transfer_id": id.to_string(),
            "ach_return_code": change.ach_return_code,
            "source": change.source,
        }),
        at: change.at,
    };
    let work = acts.then(|| NewWork {
        kind: WorkKind::TransferReturned,
        subject_id: id.as_uuid(),
        ordering_key: None,
        max_attempts: 20,
    });
    Some((audit, work))
}
