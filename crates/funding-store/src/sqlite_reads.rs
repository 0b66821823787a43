//! Point reads on SQLite without sqlx's hand-offs. sqlx runs each SQLite connection on a thread of
//! its own: every statement is sent to that thread and every row sent back, two thread switches and
//! more per statement. A read by key here runs on the caller's thread instead, on a connection of a
//! small pool of plain SQLite connections to the same file: fundingd's CPU per GetTransfer went from
//! 0.188 to 0.115 ms, per replayed create from 0.271 to 0.158 (docs/BENCHMARKS.md).
//!
//! - **Only reads, only by key:** one row at most, found through an index (`Select::one`'s shape).
//!   A lookup of a page in the OS's cache takes microseconds, about what a serialization costs;
//!   nothing here waits on a lock (a busy database is left to sqlx, below).
//! - **No stale answers:** in WAL mode every statement is its own read transaction and sees every
//!   commit made before it began, whichever connection made it. Nothing is cached but the statements.
//! - **sqlx stays the authority:** whatever this path cannot answer exactly as sqlx would (a busy
//!   database, a value stored in a form sqlx would have to convert, a column type not mapped here)
//!   answers `None`, and the caller reads through sqlx as before.
//! - Values are bound and read back as sqlx binds and reads them: a UUID as its 16 bytes, a time as
//!   RFC 3339 text; the row becomes the entity's model through sea-orm's own checked conversion
//!   (`try_set` of each column, then `try_into_model`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use funding_core::ports::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::types::{Value as Sqlite, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseBackend, DatabaseTransaction, EntityTrait,
    IdenStatic as _, Iterable as _, QuerySelect as _, QueryTrait as _, Select, TryIntoModel,
};

use crate::Store;
use crate::error::from_db;

/// Idle connections kept: reads run on the runtime's worker threads, one at a time on each.
const IDLE: usize = 2;
/// Each connection's page cache (KiB): the upper levels of the indexes a point read walks; the
/// rest is the OS's cache.
const CACHE_KIB: i64 = 1024;

/// A few plain connections to one SQLite file, for reads by key.
pub(crate) struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    answered: AtomicU64,
    left_to_pool: AtomicU64,
    /// Set by [`SqliteReads::close`]: every read is left to the (closed) pool from then on.
    closed: AtomicBool,
}

/// How a store's reads by key went on a SQLite file since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerThreadReads {
    /// Answered on the caller's thread.
    pub answered: u64,
    /// Left to the pool: a busy database, or a row this path does not read as sqlx would.
    pub left_to_pool: u64,
}

impl std::fmt::Debug for SqliteReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteReads").finish_non_exhaustive()
    }
}

impl SqliteReads {
    pub(crate) fn new(path: PathBuf) -> SqliteReads {
        SqliteReads {
            path,
            idle: Mutex::new(Vec::new()),
            answered: AtomicU64::new(0),
            left_to_pool: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// The row `select` finds (its first), as sqlx would have read it: `Some(None)` when there is
    /// none; `None` when this path cannot answer (read through sqlx then).
    pub(crate) fn one<E>(&self, select: Select<E>) -> Option<Option<E::Model>>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let found = self.try_one(select);
        let counter = match found {
            Some(_) => &self.answered,
            None => &self.left_to_pool,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn try_one<E>(&self, select: Select<E>) -> Option<Option<E::Model>>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let statement = select.limit(1).build(DatabaseBackend::Sqlite);
        let params = statement
            .values
            .as_ref()
            .map(|values| values.0.iter().map(param).collect::<Option<Vec<_>>>())
            .unwrap_or_else(|| Some(Vec::new()))?;
        let connection = self.connection()?;
        let found = read_one::<E>(&connection, &statement.sql, params);
        if found.is_some() {
            self.put_back(connection);
        }
        found
    }

    pub(crate) fn counts(&self) -> CallerThreadReads {
        CallerThreadReads {
            answered: self.answered.load(Ordering::Relaxed),
            left_to_pool: self.left_to_pool.load(Ordering::Relaxed),
        }
    }

    /// Drops the idle connections and answers nothing more (the store is closed: its reads fail
    /// on the closed pool, as every other use of it).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    fn connection(&self) -> Option<Connection> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(connection) = self.idle.lock().ok()?.pop() {
            return Some(connection);
        }
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        // Plans that never depend on the values bound: otherwise `LIMIT ?` makes SQLite parse the
        // statement again at every run (as the build's SQLITE_ENABLE_QPSG does for every connection).
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .ok()?;
        // Reads only; a busy database (a checkpoint's moment, recovery) is sqlx's to wait for.
        connection
            .execute_batch(&format!(
                "PRAGMA query_only = ON; PRAGMA busy_timeout = 0; PRAGMA cache_size = -{CACHE_KIB};"
            ))
            .ok()?;
        Some(connection)
    }

    fn put_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
            && !self.closed.load(Ordering::SeqCst)
        {
            idle.push(connection);
        }
    }
}

/// Runs `sql` and converts its first row; `None` on any error (the connection is then dropped).
fn read_one<E>(connection: &Connection, sql: &str, params: Vec<Sqlite>) -> Option<Option<E::Model>>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let mut statement = connection.prepare_cached(sql).ok()?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.query(rusqlite::params_from_iter(params)).ok()?;
    let Some(row) = rows.next().ok()? else {
        return Some(None);
    };
    let mut model = E::ActiveModel::default();
    for column in E::Column::iter() {
        let index = names.iter().position(|found| found == column.as_str())?;
        let value = value(column.def().get_column_type(), row.get_ref(index).ok()?)?;
        model.try_set(column, value).ok()?;
    }
    model.try_into_model().ok().map(Some)
}

/// A bound value as sqlx binds it on SQLite; `None` for one this path does not bind.
fn param(value: &Value) -> Option<Sqlite> {
    Some(match value {
        Value::Bool(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::TinyInt(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::SmallInt(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::Int(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::BigInt(Some(value)) => Sqlite::Integer(*value),
        Value::TinyUnsigned(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::SmallUnsigned(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::Unsigned(Some(value)) => Sqlite::Integer(i64::from(*value)),
        Value::BigUnsigned(Some(value)) => Sqlite::Integer(i64::try_from(*value).ok()?),
        Value::String(Some(value)) => Sqlite::Text(value.clone()),
        Value::Bytes(Some(value)) => Sqlite::Blob(value.clone()),
        Value::Uuid(Some(value)) => Sqlite::Blob(value.as_bytes().to_vec()),
        Value::ChronoDateTimeUtc(Some(value)) => {
            Sqlite::Text(value.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }
        _ => return None,
    })
}

/// A stored value as the entity's column reads it through sqlx; `None` for one that sqlx would
/// have to convert (or refuse), or a column type not mapped here.
fn value(column_type: &ColumnType, stored: ValueRef<'_>) -> Option<Value> {
    use ColumnType as C;
    Some(match column_type {
        C::Uuid => Value::Uuid(match stored {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(uuid::Uuid::from_slice(bytes).ok()?),
            _ => return None,
        }),
        C::String(_) | C::Text | C::Char(_) => Value::String(match stored {
            ValueRef::Null => None,
            ValueRef::Text(text) => Some(std::str::from_utf8(text).ok()?.to_owned()),
            _ => return None,
        }),
        C::TimestampWithTimeZone => Value::ChronoDateTimeUtc(match stored {
            ValueRef::Null => None,
            ValueRef::Text(text) => Some(
                DateTime::parse_from_rfc3339(std::str::from_utf8(text).ok()?)
                    .ok()?
                    .with_timezone(&Utc),
            ),
            _ => return None,
        }),
        C::Blob | C::Binary(_) | C::VarBinary(_) => Value::Bytes(match stored {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => return None,
        }),
        C::BigInteger => Value::BigInt(match stored {
            ValueRef::Null => None,
            ValueRef::Integer(value) => Some(value),
            _ => return None,
        }),
        C::Integer => Value::Int(match stored {
            ValueRef::Null => None,
            ValueRef::Integer(value) => Some(i32::try_from(value).ok()?),
            _ => return None,
        }),
        C::Boolean => Value::Bool(match stored {
            ValueRef::Null => None,
            ValueRef::Integer(value) => Some(value != 0),
            _ => return None,
        }),
        _ => return None,
    })
}

/// A read of one row (`Select::one`), on a transaction, or on the store: there on the caller's
/// thread where it can be ([`SqliteReads`]), else on its pool.
#[async_trait::async_trait]
pub(crate) trait ReadOne: Sync {
    async fn read_one<E>(&self, select: Select<E>) -> Result<Option<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
        E::Model: Send;
}

#[async_trait::async_trait]
impl ReadOne for Store {
    async fn read_one<E>(&self, select: Select<E>) -> Result<Option<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
        E::Model: Send,
    {
        if let Some(reads) = self.reads.as_ref().filter(|_| self.caller_thread_reads_on)
            && let Some(found) = reads.one(select.clone())
        {
            return Ok(found);
        }
        select.one(&self.db).await.map_err(from_db)
    }
}

#[async_trait::async_trait]
impl ReadOne for DatabaseTransaction {
    async fn read_one<E>(&self, select: Select<E>) -> Result<Option<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
        E::Model: Send,
    {
        select.one(self).await.map_err(from_db)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;
    use sea_orm::{EntityTrait as _, QuerySelect as _, QueryTrait as _};

    use crate::entity::transfer;
    use crate::{Cipher, Store};

    /// A read by key is planned once per connection, whatever the key: with `LIMIT ?` and without
    /// the planner stability guarantee, SQLite parsed it again at every run.
    #[tokio::test]
    async fn a_read_by_key_is_not_parsed_again_for_each_key() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let url = format!("sqlite:{}", dir.path().join("funding.db").display());
        let store = Store::connect(&url, Cipher::generate())
            .await
            .map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let reads = store.reads.clone().ok_or("a SQLite file has them")?;
        for _ in 0..5 {
            let found = reads.one(transfer::Entity::find_by_id(uuid::Uuid::new_v4()));
            assert_eq!(found, Some(None), "answered here: none found");
        }
        let sql = transfer::Entity::find_by_id(uuid::Uuid::nil())
            .limit(1)
            .build(sea_orm::DatabaseBackend::Sqlite)
            .sql;
        let connection = reads.connection().ok_or("a connection")?;
        let statement = connection.prepare_cached(&sql).map_err(|e| e.to_string())?;
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
        assert!(
            statement.get_status(StatementStatus::Run) >= 5,
            "the cached statement is the one that ran"
        );
        Ok(())
    }
}
