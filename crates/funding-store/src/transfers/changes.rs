//! The ordered log of transfer changes (`transfer_changes`), appended in the transaction of every
//! status a transfer takes, its creation included. Its sequence number comes from the counter row
//! `change_log_counters('transfers')`, incremented in the same transaction: the row stays locked
//! until the transaction ends, so numbers commit in order and the log has no gap a reader could
//! miss (on SQLite, writers take turns anyway).

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

/// In the caller's transaction: appends the transfer as it is now to the log.
pub(super) async fn append(
    db: &impl ConnectionTrait,
    id: TransferId,
    source: &str,
) -> Result<(), StoreError> {
    let now = transfer::Entity::find_by_id(id.as_uuid())
        .one(db)
        .await
        .map_err(from_db)?
        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
    append_many(db, &[(now, source)]).await
}

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
        for chunk in entries.chunks(200) {
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
    for (chunk_index, chunk) in entries.chunks(200).enumerate() {
        let base = first + i64::try_from(chunk_index * 200).unwrap_or(0);
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

/// PostgreSQL: the counter, the change-log rows and their outbox rows in one statement (data-
/// modifying CTEs). The counter row stays locked until the caller's transaction ends, and every
/// transfer write of every replica waits for it: written last and in one round trip, it is held
/// for that statement and the commit, not for three round trips to a busy client.
async fn append_in_one_statement(
    db: &impl ConnectionTrait,
    chunk: &[(transfer::Model, &str)],
) -> Result<(), StoreError> {
    let count = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    let mut values: Vec<Value> = Vec::with_capacity(2 + chunk.len() * 10);
    values.push(count.into());
    values.push(OutboxResource::Transfer.as_str().into());
    for (offset, (now, source)) in chunk.iter().enumerate() {
        // The log row with its number counted from the counter's old value, then the outbox status.
        values.extend(change_row(
            i64::try_from(offset).unwrap_or(0) + 1,
            now,
            source,
        ));
        values.push(now.status.to_ascii_lowercase().into());
    }
    let sql = format!(
        "WITH counter AS (UPDATE change_log_counters SET last = last + $1 \
         WHERE name = 'transfers' RETURNING last - $1 AS base), \
         v AS (SELECT counter.base + r.column1 AS seq, r.* FROM counter, (VALUES {}) AS r), \
         changes AS (INSERT INTO transfer_changes (seq, transfer_id, account_id, status, \
         status_reason, ach_return_code, provider_transfer_id, source, at) \
         SELECT seq, column2, column3, column4, column5, column6, column7, column8, column9 FROM v) \
         INSERT INTO outbox (id, resource, resource_id, status, created_at) \
         SELECT CAST(column2 AS TEXT) || ':' || CAST(seq AS TEXT), $2, column2, column10, column9 \
         FROM v ORDER BY seq",
        crate::sql::tuples_after(2, chunk.len(), 10)
    );
    let written = db
        .execute_raw(statement(DatabaseBackend::Postgres, &sql, values))
        .await
        .map_err(from_db)?
        .rows_affected();
    if written != chunk.len() as u64 {
        return Err(StoreError::Other(
            "the transfers change counter is missing".into(),
        ));
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
