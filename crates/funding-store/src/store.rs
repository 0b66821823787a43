//! The [`Store`]: one connection pool and the key that seals secrets, shared by every repository of
//! this crate. It opens the database the URL names — a SQLite file (created with its directory, in WAL
//! mode with `synchronous=FULL` so that a committed row survives a power cut, a busy timeout and
//! foreign keys on) or a PostgreSQL pool — runs the migrations (under an
//! advisory lock on PostgreSQL, so that replicas starting together do not race), and answers health
//! checks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use funding_core::ports::{Clock, DatabasePing, StoreError, SystemClock};
use funding_domain::returns::ReturnPolicy;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, SqliteTransactionMode, TransactionOptions, TransactionTrait as _,
};

use crate::cipher::Cipher;
use crate::database_url::{self, Target};
use crate::error::from_db;
use crate::sqlite_reads::{CallerThreadReads, SqliteReads};
use uuid::Uuid;

/// How long a SQLite writer waits for another to finish before giving up with `Unavailable`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per SQLite file: readers run side by side in WAL mode, writers take turns (one at a
/// time through the write gate). Each connection is a thread of sqlx's with its own page cache,
/// prepared statements and, in glibc, malloc arena: eight peaked at 81 MiB of fundingd's memory
/// while ingesting 40,000 events, four at 61 MiB, at the same ingestion rate (docs/BENCHMARKS.md).
/// Four is one writer and three readers on a two-core machine.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// How long a caller waits for a connection before the database counts as unavailable.
/// Prepared statements each SQLite connection keeps (sqlx's default is 100). The batch writers'
/// multi-row statements differ by their row count, and a prepared 200-row statement is large: with
/// the default, eight connections kept enough of them to add tens of MiB during event ingestion.
const SQLITE_STATEMENT_CACHE: usize = 24;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The PostgreSQL advisory lock held while migrating ("fundmigr").
const MIGRATION_LOCK_KEY: i64 = 0x6675_6e64_6d69_6772;

/// The funding service's storage on SQLite or PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) cipher: Cipher,
    pub(crate) clock: Arc<dyn Clock>,
    /// New work is left to the request's fast path for this long before workers may claim it.
    pub(crate) fast_path_grace: Duration,
    /// Which returns are work when they arrive: those whose consequence acts now.
    pub(crate) return_policy: Arc<ReturnPolicy>,
    /// On SQLite, the one writer at a time: SQLite takes writers one by one anyway, and a writer
    /// waiting on the database's lock holds a pooled connection, so without this gate a burst of
    /// writers can take every connection and starve the readers. `None` on PostgreSQL.
    pub(crate) write_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Where the reconciler's walk through COMPLETE transfers (still open to a return) stopped:
    /// the last (`updated_at`, id) it looked at, shared by every clone of this store.
    pub(crate) completed_walk: Arc<std::sync::Mutex<Option<WalkPosition>>>,
    /// On a SQLite file, reads by key on the caller's thread (see [`SqliteReads`]); `None` on
    /// PostgreSQL and in memory.
    pub(crate) reads: Option<Arc<SqliteReads>>,
    /// Whether reads by key use `reads` (on unless [`Store::without_caller_thread_reads`]).
    pub(crate) caller_thread_reads_on: bool,
}

/// A place in a walk through rows ordered by (`updated_at`, id).
pub(crate) type WalkPosition = (DateTime<Utc>, Uuid);

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.get_database_backend())
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database `database_url` names: `sqlite:PATH` (the file and its directory are created
    /// if missing), `sqlite::memory:`, or `postgres://…`. Does not migrate; see [`migrate`](Self::migrate).
    #[tracing::instrument(skip_all)]
    pub async fn connect(database_url: &str, cipher: Cipher) -> Result<Store, StoreError> {
        let target = database_url::parse(database_url)
            .map_err(|error| StoreError::Other(error.to_string()))?;
        let mut reads = None;
        let options = match target {
            Target::SqliteFile { path, url } => {
                reads = Some(Arc::new(SqliteReads::new(path.clone())));
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        StoreError::Unavailable(format!(
                            "cannot create the database directory {}: {error}",
                            parent.display()
                        ))
                    })?;
                }
                sqlite_options(url, SQLITE_MAX_CONNECTIONS)
            }
            // Every connection to `:memory:` is a database of its own: keep exactly one, forever.
            Target::SqliteMemory { url } => {
                let mut options = sqlite_options(url, 1);
                options
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .min_connections(1);
                options
            }
            Target::Postgres { url } => {
                let mut options = ConnectOptions::new(url);
                options.max_connections(POSTGRES_MAX_CONNECTIONS);
                options
            }
        };
        let db = Database::connect(common_options(options))
            .await
            .map_err(from_db)?;
        let write_gate = (db.get_database_backend() == DatabaseBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Semaphore::new(1)));
        Ok(Store {
            write_gate,
            db,
            cipher,
            clock: Arc::new(SystemClock),
            fast_path_grace: Duration::ZERO,
            return_policy: Arc::default(),
            completed_walk: Arc::default(),
            reads,
            caller_thread_reads_on: true,
        })
    }

    /// The same store, sealing and opening secrets with `cipher` (a key that could only be settled
    /// once the database was known, as sandbox mode's key file).
    pub fn with_cipher(mut self, cipher: Cipher) -> Store {
        self.cipher = cipher;
        self
    }

    /// The same store, leaving work that was never attempted to the request that wrote it (its
    /// fast path) for `grace` before a worker's `claim_due` may take it; a request that crashed
    /// before its attempt is continued after that.
    pub fn with_fast_path_grace(mut self, grace: Duration) -> Store {
        self.fast_path_grace = grace;
        self
    }

    /// The same store, writing the consequence work of a return only when `policy` gives its code a
    /// consequence that acts now (DESIGN §12): an insufficient-funds return is counted by the checks
    /// later, and needs no work of its own. (Default: NACHA's table, `ReturnPolicy::default()`.)
    pub fn with_return_policy(mut self, policy: ReturnPolicy) -> Store {
        self.return_policy = Arc::new(policy);
        self
    }

    /// The same store, reading by key only through its pool, as on PostgreSQL (to compare answers,
    /// and to measure what the caller's-thread reads save).
    pub fn without_caller_thread_reads(mut self) -> Store {
        self.caller_thread_reads_on = false;
        self
    }

    /// On a SQLite file, how its reads by key went: answered on the caller's thread or left to the
    /// pool, counted since it was opened (shared by its clones). `None` on PostgreSQL and in memory.
    pub fn caller_thread_reads(&self) -> Option<CallerThreadReads> {
        self.reads.as_ref().map(|reads| reads.counts())
    }

    /// The same store, reading "now" from `clock` (for lease expiry and update times).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// The same store, calling `observer` with the SQL of every statement it runs on its pool and
    /// how long it took (this store and its clones made from now on; not the store it was made
    /// from). For tests and diagnostics that count what an operation costs in statements.
    pub fn with_statement_observer(
        mut self,
        observer: impl Fn(&str, Duration) + Send + Sync + 'static,
    ) -> Store {
        self.db
            .set_metric_callback(move |info| observer(&info.statement.sql, info.elapsed));
        self
    }

    /// Applies the pending migrations; a no-op when there are none. On PostgreSQL the whole run holds
    /// an advisory lock in one transaction, so replicas that start together apply them once; on SQLite
    /// the run is one write transaction.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await
            .map_err(from_db)?;
        }
        Migrator::up(&txn, None).await.map_err(from_db)?;
        txn.commit().await.map_err(from_db)
    }

    /// Whether the database answers; `Unavailable` if it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .ping()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    /// Closes the pool: every clone of this store is unusable afterwards (shutdown).
    pub async fn close(&self) -> Result<(), StoreError> {
        if let Some(reads) = &self.reads {
            reads.close();
        }
        self.db.close_by_ref().await.map_err(from_db)
    }

    /// A transaction that will write, with the write gate's permit (keep it until the transaction
    /// ends). On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so that it never fails
    /// half-way when a read would have to become a write.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(WritePermit, DatabaseTransaction), StoreError> {
        let permit = self.write_permit().await;
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(from_db)?;
        Ok((permit, txn))
    }

    /// The write gate's permit, for a write outside [`begin_write`](Self::begin_write) (one
    /// statement); a no-op on PostgreSQL.
    pub(crate) async fn write_permit(&self) -> WritePermit {
        match &self.write_gate {
            Some(gate) => WritePermit {
                _permit: gate.clone().acquire_owned().await.ok(),
            },
            None => WritePermit { _permit: None },
        }
    }
}

#[async_trait::async_trait]
impl DatabasePing for Store {
    async fn ping(&self) -> Result<(), StoreError> {
        Store::ping(self).await
    }
}

/// Held while writing on SQLite (see [`Store::write_gate`]); empty on PostgreSQL.
pub(crate) struct WritePermit {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

fn sqlite_options(url: String, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
                .foreign_keys(true)
        });
    options
}

fn common_options(mut options: ConnectOptions) -> ConnectOptions {
    options
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(store: &Store, name: &str) -> sea_orm::QueryResult {
        store
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_sqlite_file_syncs_every_commit_to_disk_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("funding.db").display());
        let store = Store::connect(&url, Cipher::generate()).await.unwrap();
        // Every connection of the pool is opened with the same pragmas; ask several.
        for _ in 0..3 {
            let synchronous = pragma(&store, "synchronous").await;
            assert_eq!(
                synchronous.try_get_by_index::<i64>(0).unwrap(),
                2,
                "synchronous=FULL: a committed row survives a power cut"
            );
            let journal = pragma(&store, "journal_mode").await;
            assert_eq!(journal.try_get_by_index::<String>(0).unwrap(), "wal");
        }
    }
}
