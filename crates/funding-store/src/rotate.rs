//! Key rotation: [`Store::rotate_key`] re-encrypts every sealed column of every table (a link's
//! access, processor and public tokens, a bank transfer's processor token) from whatever key it is
//! under to a new one.
//!
//! It walks each table in primary-key order, a batch of rows per write transaction. A value already
//! under the new key is skipped, so a rotation that was interrupted (or that runs again) only does
//! what is left: it is idempotent and resumable. Every value is written back conditionally on the
//! ciphertext it read, so a concurrent writer (a running replica saving a new token) is never
//! overwritten; such a value is counted as changed meanwhile and picked up by a later run. A value
//! that no held key opens stops the rotation with `Corrupt`, naming the row, the column and, when
//! it names one, the key id — never the value.
//!
//! The operator's steps: rotate with the old key current (or listed in `old_encryption_keys`) and
//! the new key given to `fundingd rotate-key`; then make the new key current and the old one an old
//! key; run `rotate-key` once more to catch values written meanwhile; then drop the old key.

use std::ops::ControlFlow;

use funding_core::ports::StoreError;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use uuid::Uuid;

use crate::Store;
use crate::cipher::{Cipher, Slot, open_failure};
use crate::error::from_db;

/// Every sealed column of every table, by table. The slot of a value is (table, column, row id).
const SEALED: &[(&str, &[&str])] = &[
    (
        "bank_links",
        &["access_token", "processor_token", "public_token"],
    ),
    ("bank_transfers", &["processor_token"]),
];

/// Rows per transaction, unless told otherwise.
pub const DEFAULT_ROTATION_BATCH: usize = 200;

/// What one batch did; given to the progress callback after it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationProgress {
    pub table: &'static str,
    /// Batches committed so far, over all tables.
    pub batch: u64,
    /// Rows this batch looked at.
    pub rows: usize,
    /// Values this batch re-encrypted under the new key.
    pub rotated: u64,
    /// Values this batch found under the new key already.
    pub already_current: u64,
    /// Values a concurrent writer changed between the read and the update (left as written).
    pub changed_meanwhile: u64,
}

/// What a rotation did in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub batches: u64,
    pub rotated: u64,
    pub already_current: u64,
    pub changed_meanwhile: u64,
    /// Every table was walked to its end (not stopped by the progress callback).
    pub complete: bool,
}

impl Store {
    /// Re-encrypts every sealed value under `new`'s current key, `batch_size` rows per transaction.
    /// Values open with this store's keys (current and old) or `new`'s. After each committed batch
    /// `progress` is called; `ControlFlow::Break` stops the rotation there (a later call resumes).
    pub async fn rotate_key(
        &self,
        new: &Cipher,
        batch_size: usize,
        mut progress: impl FnMut(&RotationProgress) -> ControlFlow<()>,
    ) -> Result<RotationReport, StoreError> {
        let batch_size = batch_size.max(1);
        let opener = self.cipher.clone().with_old_key(new);
        let mut report = RotationReport::default();
        for &(table, columns) in SEALED {
            let mut after: Option<Uuid> = None;
            loop {
                let batch = self
                    .rotate_batch_patiently(&opener, new, table, columns, after, batch_size)
                    .await?;
                if batch.rows == 0 {
                    break;
                }
                after = batch.last;
                report.batches += 1;
                report.rotated += batch.rotated;
                report.already_current += batch.already_current;
                report.changed_meanwhile += batch.changed_meanwhile;
                let step = RotationProgress {
                    table,
                    batch: report.batches,
                    rows: batch.rows,
                    rotated: batch.rotated,
                    already_current: batch.already_current,
                    changed_meanwhile: batch.changed_meanwhile,
                };
                if progress(&step).is_break() {
                    return Ok(report);
                }
                if batch.rows < batch_size {
                    break;
                }
            }
        }
        report.complete = true;
        Ok(report)
    }

    /// [`rotate_batch`](Self::rotate_batch), again after a pause when SQLite answers that the
    /// database is locked (the running service holds the write lock longer than the busy timeout,
    /// on a loaded machine): a batch rolls back whole, so sending it again is safe.
    async fn rotate_batch_patiently(
        &self,
        opener: &Cipher,
        new: &Cipher,
        table: &'static str,
        columns: &'static [&'static str],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        const TRIES: u32 = 5;
        let mut tries = 0;
        loop {
            match self
                .rotate_batch(opener, new, table, columns, after, limit)
                .await
            {
                Err(StoreError::Unavailable(message))
                    if message.contains("database is locked") && tries + 1 < TRIES =>
                {
                    tries += 1;
                    tracing::warn!(
                        table,
                        tries,
                        "the database is locked; the batch is tried again"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(tries)))
                        .await;
                }
                other => return other,
            }
        }
    }

    /// One transaction: up to `limit` rows of `table` after `after`, each stale value re-sealed.
    async fn rotate_batch(
        &self,
        opener: &Cipher,
        new: &Cipher,
        table: &'static str,
        columns: &'static [&'static str],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let mut select = Query::select();
        select
            .column("id")
            .columns(columns.iter().copied())
            .from(table)
            .order_by("id", Order::Asc)
            .limit(u64::try_from(limit).unwrap_or(u64::MAX));
        if let Some(after) = after {
            select.and_where(Expr::col("id").gt(after));
        }
        let (_permit, txn) = self.begin_write().await?;
        let rows = txn.query_all(&select).await.map_err(from_db)?;
        let mut batch = Batch {
            rows: rows.len(),
            ..Batch::default()
        };
        for row in rows {
            let id: Uuid = row.try_get("", "id").map_err(from_db)?;
            batch.last = Some(id);
            for &column in columns {
                let Some(stored) = row
                    .try_get::<Option<Vec<u8>>>("", column)
                    .map_err(from_db)?
                else {
                    continue;
                };
                if Cipher::sealed_key_id(&stored).as_deref() == Some(new.key_id()) {
                    batch.already_current += 1;
                    continue;
                }
                let slot = Slot {
                    table,
                    column,
                    row_id: id.as_bytes(),
                };
                let plaintext = opener
                    .open(slot, &stored)
                    .map_err(|error| open_failure(table, id, column, &error))?;
                let resealed = new.seal(slot, &plaintext).map_err(|_| {
                    StoreError::Other(format!("{column} of {table} row {id} cannot be encrypted"))
                })?;
                let update = Query::update()
                    .table(table)
                    .value(column, resealed)
                    .and_where(Expr::col("id").eq(id))
                    .and_where(Expr::col(column).eq(stored))
                    .to_owned();
                let result = txn.execute(&update).await.map_err(from_db)?;
                if result.rows_affected() == 1 {
                    batch.rotated += 1;
                } else {
                    batch.changed_meanwhile += 1;
                }
            }
        }
        txn.commit().await.map_err(from_db)?;
        Ok(batch)
    }
}

#[derive(Debug, Default)]
struct Batch {
    rows: usize,
    last: Option<Uuid>,
    rotated: u64,
    already_current: u64,
    changed_meanwhile: u64,
}
