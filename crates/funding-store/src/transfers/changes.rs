//! The ordered log of transfer changes (`transfer_changes`), appended in the transaction of every
//! status a transfer takes, its creation included. Its sequence numbers come from the counter row
//! `change_log_counters('transfers')` and appear in order with no gap: a reader that has seen
//! number N has seen every number below it.
//!
//! - SQLite: the writer increments the counter with the change; writers take turns anyway.
//! - PostgreSQL: the writer inserts its changes under negative placeholders and takes no lock;
//!   whoever is about to read numbers first numbers what has committed ([`number_committed`]; the
//!   reasoning is in migration `m20261207_000020`). A change's outbox row, whose id carries its
//!   number, is inserted when it is numbered.

use std::collections::HashMap;

use funding_core::model::Transfer;
use funding_core::ports::{OutboxResource, StoreError, TransferEvent};
use funding_domain::{AccountId, AlpacaTransferId, AlpacaTransferStatus, TransferId};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait as _,
    QueryFilter as _, TransactionTrait as _, Value,
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
/// change's source) to the log, in order; a few statements for the lot. On SQLite each is numbered
/// here and gets its outbox row here; on PostgreSQL both come later, from [`number_committed`].
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

/// PostgreSQL: the change-log rows under placeholders, in one statement, without a lock: they
/// are numbered after their transaction commits, by [`number_committed`].
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

/// The advisory lock numbering runs hold (PostgreSQL), so that they run one at a time.
const NUMBERING_LOCK: &str = "funding:number_transfer_changes";

/// Placeholders numbered per transaction at most.
const NUMBERING_BATCH: u64 = 1000;

/// PostgreSQL: gives every committed change still under a placeholder the next numbers, in the order
/// the changes were written, and inserts their outbox rows; a transaction per
/// [`NUMBERING_BATCH`] changes, one numbering at a time across replicas. What has not committed
/// yet is invisible here and is numbered by a later run, above every number given now. How many
/// were numbered; nothing on SQLite, whose writers number their own changes.
pub(crate) async fn number_committed(db: &DatabaseConnection) -> Result<u64, StoreError> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(0);
    }
    let mut numbered = 0;
    loop {
        let waiting = db
            .query_one_raw(statement(
                DatabaseBackend::Postgres,
                "SELECT 1 AS waiting FROM transfer_changes WHERE seq < 0 LIMIT 1",
                [],
            ))
            .await
            .map_err(from_db)?;
        if waiting.is_none() {
            return Ok(numbered);
        }
        let txn = db.begin().await.map_err(from_db)?;
        crate::sql::lock_for_transaction(&txn, NUMBERING_LOCK).await?;
        // A statement of its own after the lock, so that it sees what the previous run committed.
        let sql = format!(
            "WITH pending AS (SELECT seq AS placeholder FROM transfer_changes WHERE seq < 0 \
             ORDER BY seq DESC LIMIT {NUMBERING_BATCH}), \
             counter AS (UPDATE change_log_counters \
             SET last = last + (SELECT count(*) FROM pending) WHERE name = 'transfers' \
             RETURNING last - (SELECT count(*) FROM pending) AS base), \
             numbered AS (SELECT p.placeholder, \
             counter.base + row_number() OVER (ORDER BY p.placeholder DESC) AS seq \
             FROM pending AS p, counter), \
             moved AS (UPDATE transfer_changes AS c SET seq = n.seq FROM numbered AS n \
             WHERE c.seq = n.placeholder RETURNING c.seq, c.transfer_id, c.status, c.at) \
             INSERT INTO outbox (id, resource, resource_id, status, created_at) \
             SELECT CAST(transfer_id AS TEXT) || ':' || CAST(seq AS TEXT), $1, transfer_id, \
             lower(status), at FROM moved ORDER BY seq"
        );
        let run = txn
            .execute_raw(statement(
                DatabaseBackend::Postgres,
                &sql,
                [OutboxResource::Transfer.as_str().into()],
            ))
            .await
            .map_err(from_db)?
            .rows_affected();
        txn.commit().await.map_err(from_db)?;
        numbered += run;
        if run < NUMBERING_BATCH {
            return Ok(numbered);
        }
    }
}

pub(super) async fn transfer_events(
    store: &Store,
    account_id: AccountId,
    transfer_id: Option<TransferId>,
    after: i64,
    limit: u32,
) -> Result<Vec<TransferEvent>, StoreError> {
    number_committed(&store.db).await?;
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
    number_committed(&store.db).await?;
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
