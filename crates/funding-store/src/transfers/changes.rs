//! The ordered log of transfer changes (`transfer_changes`), appended in the transaction of every
//! status a transfer takes, its creation included. Its sequence number comes from the counter row
//! `change_log_counters('transfers')`, incremented in the same transaction: the row stays locked
//! until the transaction ends, so numbers commit in order and the log has no gap a reader could
//! miss. On SQLite the writer increments it with the change (writers take turns anyway); on
//! PostgreSQL a trigger does at COMMIT, so that the lock is held for the commit alone.

use std::collections::HashMap;

use funding_core::model::Transfer;
use funding_core::ports::{OutboxResource, StoreError, TransferEvent};
use funding_domain::{AccountId, AlpacaTransferId, AlpacaTransferStatus, TransferId};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseBackend, EntityTrait as _, QueryFilter as _, Value,
};
use uuid::Uuid;

use crate::Store;
use crate::convert::db_time;
use crate::entity::transfer;
use crate::error::{corrupt, from_db};
use crate::sql::statement;

/// Change-log rows per statement.
const CHUNK: usize = 200;

/// In the caller's transaction: appends each row (the transfer as a change left it, with that
/// change's source) to the log, in order, with its outbox row; a few statements for the lot.
pub(super) async fn append_many(
    db: &impl ConnectionTrait,
    entries: &[(transfer::Model, &str)],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        for chunk in entries.chunks(CHUNK) {
            append_in_one_statement(db, chunk).await?;
        }
        return Ok(());
    }
    let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let row = db
        .query_one_raw(statement(
            backend,
            "UPDATE change_log_counters SET last = last + $1 WHERE name = 'transfers' RETURNING last",
            [count.into()],
        ))
        .await
        .map_err(from_db)?
        .ok_or_else(|| StoreError::Other("the transfers change counter is missing".into()))?;
    let last: i64 = row.try_get("", "last").map_err(from_db)?;
    let first = last - count + 1;
    let mut outbox = Vec::with_capacity(entries.len());
    for (chunk_index, chunk) in entries.chunks(CHUNK).enumerate() {
        let base = first + i64::try_from(chunk_index * CHUNK).unwrap_or(0);
        let mut changes = Vec::with_capacity(chunk.len() * 9);
        for (offset, (now, source)) in chunk.iter().enumerate() {
            let seq = base + i64::try_from(offset).unwrap_or(0);
            changes.extend(change_row(seq, now, source));
            outbox.push((
                format!("{}:{seq}", now.id),
                OutboxResource::Transfer,
                now.id,
                now.status.as_str(),
                now.updated_at,
            ));
        }
        db.execute_raw(statement(
            backend,
            &format!(
                "INSERT INTO transfer_changes (seq, transfer_id, account_id, status, status_reason, \
                 ach_return_code, provider_transfer_id, source, at) VALUES {}",
                crate::sql::tuples(chunk.len(), 9)
            ),
            changes,
        ))
        .await
        .map_err(from_db)?;
    }
    crate::outbox::record_many(db, outbox).await
}

/// A change-log row's values, in `transfer_changes`' column order from `seq`.
fn change_row(seq: i64, now: &transfer::Model, source: &str) -> [Value; 9] {
    [
        seq.into(),
        now.id.into(),
        now.account_id.into(),
        now.status.clone().into(),
        now.status_reason.clone().into(),
        now.ach_return_code.clone().into(),
        now.provider_transfer_id.into(),
        source.into(),
        db_time(now.updated_at).into(),
    ]
}

/// PostgreSQL: the change-log rows under placeholders, in one statement. Their numbers and their
/// outbox rows come at COMMIT from the trigger `transfer_changes_numbered` (migration
/// `m20261207_000020`), which holds the counter row for that and the commit's flush only: not across
/// the caller's later statements and round trips, where every transfer write of every replica
/// would wait for it.
///
/// The statement takes one value of `transfer_changes_placeholders` and numbers its rows down from
/// it, so that the transaction's placeholders sort (descending) in the order the rows were written.
async fn append_in_one_statement(
    db: &impl ConnectionTrait,
    chunk: &[(transfer::Model, &str)],
) -> Result<(), StoreError> {
    /// Rows per placeholder value: more than a chunk holds.
    const ROWS_PER_PLACEHOLDER: i64 = 1000;
    const _: () = assert!((CHUNK as i64) < ROWS_PER_PLACEHOLDER);
    let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
    for (offset, (now, source)) in chunk.iter().enumerate() {
        values.extend(change_row(i64::try_from(offset).unwrap_or(0), now, source));
    }
    let sql = format!(
        "WITH p AS (SELECT nextval('transfer_changes_placeholders') * {ROWS_PER_PLACEHOLDER} AS base) \
         INSERT INTO transfer_changes (seq, transfer_id, account_id, status, status_reason, \
         ach_return_code, provider_transfer_id, source, at) \
         SELECT -(p.base + r.column1), column2, column3, column4, column5, column6, column7, \
         column8, column9 FROM p, (VALUES {}) AS r",
        crate::sql::tuples(chunk.len(), 9)
    );
    let written = db
        .execute_raw(statement(DatabaseBackend::Postgres, &sql, values))
        .await
        .map_err(from_db)?
        .rows_affected();
    if written != chunk.len() as u64 {
        return Err(StoreError::Other(format!(
            "{written} of {} transfer changes were written",
            chunk.len()
        )));
    }
    Ok(())
}

pub(super) async fn transfer_events(
    store: &Store,
    account_id: AccountId,
    transfer_id: Option<TransferId>,
    after: i64,
    limit: u32,
) -> Result<Vec<TransferEvent>, StoreError> {
    let backend = store.db.get_database_backend();
    let limit = i64::from(limit.clamp(1, 1000));
    let (sql, values): (&str, Vec<Value>) = match transfer_id {
        Some(id) => (
            "SELECT seq, transfer_id, status, status_reason, ach_return_code, provider_transfer_id, at \
             FROM transfer_changes WHERE account_id = $1 AND transfer_id = $2 AND seq > $3 \
             ORDER BY seq LIMIT $4",
            vec![
                account_id.as_uuid().into(),
                id.as_uuid().into(),
                after.into(),
                limit.into(),
            ],
        ),
        None => (
            "SELECT seq, transfer_id, status, status_reason, ach_return_code, provider_transfer_id, at \
             FROM transfer_changes WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            vec![account_id.as_uuid().into(), after.into(), limit.into()],
        ),
    };
    let rows = store
        .db
        .query_all_raw(statement(backend, sql, values))
        .await
        .map_err(from_db)?;
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.try_get::<Uuid>("", "transfer_id").map_err(from_db))
        .collect::<Result<_, _>>()?;
    let mut transfers: HashMap<Uuid, Transfer> = HashMap::new();
    for model in transfer::Entity::find()
        .filter(transfer::Column::Id.is_in(ids))
        .all(&store.db)
        .await
        .map_err(from_db)?
    {
        let id = model.id;
        transfers.insert(id, Transfer::try_from(model)?);
    }
    rows.into_iter()
        .map(|row| {
            let seq: i64 = row.try_get("", "seq").map_err(from_db)?;
            let transfer_id: Uuid = row.try_get("", "transfer_id").map_err(from_db)?;
            let status: String = row.try_get("", "status").map_err(from_db)?;
            let mut transfer = transfers
                .get(&transfer_id)
                .cloned()
                .ok_or_else(|| corrupt("transfer_changes", seq, "its transfer is missing"))?;
            transfer.status = match AlpacaTransferStatus::from_stored(&status) {
                AlpacaTransferStatus::Unknown(_) => {
                    return Err(corrupt("transfer_changes", seq, "unknown status"));
                }
                known => known,
            };
            transfer.status_reason = row.try_get("", "status_reason").map_err(from_db)?;
            transfer.ach_return_code = row.try_get("", "ach_return_code").map_err(from_db)?;
            transfer.provider_transfer_id = row
                .try_get::<Option<Uuid>>("", "provider_transfer_id")
                .map_err(from_db)?
                .map(AlpacaTransferId::from_uuid);
            transfer.updated_at = row.try_get("", "at").map_err(from_db)?;
            Ok(TransferEvent { seq, transfer })
        })
        .collect()
}

pub(super) async fn latest_transfer_event(store: &Store) -> Result<i64, StoreError> {
    let row = store
        .db
        .query_one_raw(statement(
            store.db.get_database_backend(),
            "SELECT last FROM change_log_counters WHERE name = 'transfers'",
            [],
        ))
        .await
        .map_err(from_db)?;
    match row {
        Some(row) => row.try_get("", "last").map_err(from_db),
        None => Ok(0),
    }
}
