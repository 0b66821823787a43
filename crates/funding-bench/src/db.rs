//! Databases: a fresh SQLite file or PostgreSQL database per use, the storage ceiling (single-row
//! insert-and-commit through sea-orm with fundingd's pool settings and pragmas), bulk seeding of
//! stored transfers, and write counters.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

use crate::load::{self, Stats};

/// Which kind of database.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The server's URL (any database on it); the bench creates its own databases there.
    Postgres(String),
}

impl Backend {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A database made for one use, dropped (PostgreSQL) with [`Fresh::drop_now`].
pub struct Fresh {
    pub url: String,
    postgres: Option<(String, String)>,
}

/// The URL of database `name` on the server of `url`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

impl Fresh {
    pub async fn create(backend: &Backend, dir: &Path, name: &str) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Ok(Self {
                url: format!("sqlite:{}", dir.join(format!("{name}.db")).display()),
                postgres: None,
            }),
            Backend::Postgres(server) => {
                let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
                let db_name = format!("funding_bench_{name}_{stamp}_{}", std::process::id());
                let admin = Database::connect(with_database(server, "postgres"))
                    .await
                    .context("cannot reach PostgreSQL")?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
                    .await
                    .with_context(|| format!("cannot create database {db_name}"))?;
                let _ = admin.close().await;
                Ok(Self {
                    url: with_database(server, &db_name),
                    postgres: Some((server.clone(), db_name)),
                })
            }
        }
    }

    pub async fn drop_now(self) {
        if let Some((server, name)) = self.postgres
            && let Ok(admin) = Database::connect(with_database(&server, "postgres")).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// A pool opened the way `funding_store::Store::connect` opens one: SQLite with 4 connections,
/// WAL, `synchronous=FULL`, a 10 s busy timeout and foreign keys; PostgreSQL with 10; both with a
/// 5 s acquire timeout.
pub async fn connect_like_fundingd(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    if url.starts_with("sqlite:") {
        options.max_connections(4).map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(10);
    }
    options
        .acquire_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// The storage ceiling: `writers` callers, each committing one single-row insert after another
/// (`BEGIN IMMEDIATE` behind one write gate on SQLite, as fundingd's writes are).
pub async fn storage_ceiling(
    url: &str,
    name: &str,
    writers: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let db = connect_like_fundingd(url).await?;
    let backend = db.get_database_backend();
    let create = match backend {
        DatabaseBackend::Postgres => {
            "CREATE TABLE IF NOT EXISTS ceiling (id uuid PRIMARY KEY, caller text NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL)"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS ceiling (id uuid_text NOT NULL PRIMARY KEY, caller text NOT NULL, payload text NOT NULL, created_at timestamp_with_timezone_text NOT NULL)"
        }
    };
    db.execute_unprepared(create).await?;
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO ceiling (id, caller, payload, created_at) VALUES ($1, $2, $3, $4)"
        }
        _ => "INSERT INTO ceiling (id, caller, payload, created_at) VALUES (?, ?, ?, ?)",
    };
    let gate =
        (backend == DatabaseBackend::Sqlite).then(|| Arc::new(tokio::sync::Semaphore::new(1)));
    let db = Arc::new(db);
    let stats = load::closed_loop(name, writers, warmup, duration, {
        let db = db.clone();
        move |caller, _| {
            let db = db.clone();
            let gate = gate.clone();
            async move {
                let _permit = match &gate {
                    Some(gate) => Some(
                        gate.clone()
                            .acquire_owned()
                            .await
                            .map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                let txn = db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [
                        Value::from(uuid::Uuid::now_v7()),
                        Value::from(format!("writer-{caller}")),
                        Value::from("100.00".to_owned()),
                        Value::from(chrono::Utc::now()),
                    ],
                ))
                .await
                .map_err(|e| e.to_string())?;
                txn.commit().await.map_err(|e| e.to_string())
            }
        }
    })
    .await;
    if let Ok(db) = Arc::try_unwrap(db) {
        let _ = db.close().await;
    }
    Ok(stats)
}

/// What the growth scenario reads back: some seeded transfer ids, and an account that has
/// `PER_ACCOUNT` of them.
pub struct Seeded {
    pub sample_ids: Vec<uuid::Uuid>,
    pub account_id: uuid::Uuid,
}

/// Stored transfers per account in the seeded data.
pub const PER_ACCOUNT: u64 = 100;
const BATCH: u64 = 500;

/// Seeds one APPROVED bank link and stored transfers numbered `from..to` (COMPLETE, deposits,
/// `PER_ACCOUNT` per account, unique keys and provider ids, every NOT NULL column set), in one
/// transaction, after `fundingd migrate` made the schema. Returns some ids to read back.
pub async fn seed_transfers(
    url: &str,
    link: Option<(uuid::Uuid, uuid::Uuid)>,
    from: u64,
    to: u64,
) -> anyhow::Result<((uuid::Uuid, uuid::Uuid), Seeded)> {
    let db = connect_like_fundingd(url).await?;
    let backend = db.get_database_backend();
    let placeholder = |n: usize| match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let row = |width: usize, first: usize| {
        let cells: Vec<String> = (first..first + width).map(placeholder).collect();
        format!("({})", cells.join(", "))
    };
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let (link_id, first_account) = match link {
        Some(link) => link,
        None => {
            let link_id = uuid::Uuid::now_v7();
            let account = uuid::Uuid::new_v4();
            let sql = format!(
                "INSERT INTO bank_links (id, caller, idempotency_key, account_id, plaid_account_id, nickname, status, ach_relationship_id, account_owner_name, created_at, updated_at) VALUES {}",
                row(11, 1)
            );
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    Value::from(link_id),
                    Value::from("funding-bench".to_owned()),
                    Value::from("seed-link".to_owned()),
                    Value::from(account),
                    Value::from("seed-plaid-account".to_owned()),
                    Value::from("Seeded".to_owned()),
                    Value::from("APPROVED".to_owned()),
                    Value::from(uuid::Uuid::new_v4()),
                    Value::from("Seed Owner".to_owned()),
                    Value::from(now),
                    Value::from(now),
                ],
            ))
            .await?;
            (link_id, account)
        }
    };
    // Account k holds transfers k*PER_ACCOUNT .. (k+1)*PER_ACCOUNT; account 0 is the first one.
    let account_of = |n: u64| -> uuid::Uuid {
        if n / PER_ACCOUNT == 0 {
            first_account
        } else {
            uuid::Uuid::from_u64_pair(0x6265_6e63_6800_0000, n / PER_ACCOUNT)
        }
    };
    let columns = "id, caller, idempotency_key, account_id, bank_link_id, relationship_id, amount, direction, status, provider_transfer_id, created_at, updated_at";
    let width = 12;
    let mut sample_ids = Vec::new();
    let every = ((to - from) / 2000).max(1);
    let mut n = from;
    while n < to {
        let end = (n + BATCH).min(to);
        let rows: Vec<String> = (0..(end - n) as usize)
            .map(|i| row(width, i * width + 1))
            .collect();
        let sql = format!(
            "INSERT INTO transfers ({columns}) VALUES {}",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(rows.len() * width);
        for k in n..end {
            let id = uuid::Uuid::now_v7();
            if (k - from).is_multiple_of(every) {
                sample_ids.push(id);
            }
            values.extend([
                Value::from(id),
                Value::from("funding-bench".to_owned()),
                Value::from(format!("seed-{k}")),
                Value::from(account_of(k)),
                Value::from(link_id),
                Value::from(uuid::Uuid::from_u64_pair(0x7365_6564_0000_0000, 1)),
                Value::from("100.00".to_owned()),
                Value::from("deposit".to_owned()),
                Value::from("COMPLETE".to_owned()),
                Value::from(uuid::Uuid::new_v4()),
                Value::from(now),
                Value::from(now),
            ]);
        }
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        n = end;
    }
    txn.commit().await?;
    let _ = db.close().await;
    Ok((
        (link_id, first_account),
        Seeded {
            sample_ids,
            account_id: first_account,
        },
    ))
}

/// One number from a query that answers a column `n`.
pub async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let statement = Statement::from_string(db.get_database_backend(), sql.to_owned());
    let row = db
        .query_one_raw(statement)
        .await?
        .context("no row from a count")?;
    Ok(row.try_get("", "n")?)
}

/// Rows in each table that a transfer writes (for the writes-per-transfer count on SQLite).
pub const WRITTEN_TABLES: &[&str] = &[
    "transfers",
    "transfer_status_history",
    "transfer_changes",
    "idempotency_records",
    "work_items",
    "outbox",
    "inbox_events",
    "bank_transfers",
    "bank_transfer_status_history",
];

/// Row counts of [`WRITTEN_TABLES`] (a table that does not exist counts -1).
pub async fn table_rows(url: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let db = Database::connect(url).await?;
    let mut out = Vec::new();
    for table in WRITTEN_TABLES {
        let n = count(&db, &format!("SELECT COUNT(*) AS n FROM {table}"))
            .await
            .unwrap_or(-1);
        out.push(((*table).to_owned(), n));
    }
    let _ = db.close().await;
    Ok(out)
}

/// PostgreSQL's own counters of this database: (commits, rows inserted, updated, deleted).
pub async fn pg_counters(url: &str) -> anyhow::Result<[i64; 4]> {
    let db = Database::connect(url).await?;
    let statement = Statement::from_string(
        DatabaseBackend::Postgres,
        "SELECT xact_commit::bigint AS c, tup_inserted::bigint AS i, tup_updated::bigint AS u, tup_deleted::bigint AS d FROM pg_stat_database WHERE datname = current_database()",
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .context("no pg_stat_database row")?;
    let out = [
        row.try_get::<i64>("", "c")?,
        row.try_get::<i64>("", "i")?,
        row.try_get::<i64>("", "u")?,
        row.try_get::<i64>("", "d")?,
    ];
    let _ = db.close().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "x"
            ),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
    }
}

/// Write transactions committed so far, by the database's own count. PostgreSQL: the next
/// transaction id (only a transaction that writes is given one, and reading the snapshot takes
/// none; ids are the whole server's, so nothing else may write meanwhile). SQLite: the commit
/// frames in the write-ahead log (each commit appends its pages, the last one marked with the
/// database's size); a checkpoint that restarts the log makes the count go back, which the caller
/// discards.
pub enum WriteCommits {
    Postgres(DatabaseConnection),
    Sqlite(std::path::PathBuf),
}

impl WriteCommits {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        match url.strip_prefix("sqlite:") {
            Some(path) => {
                let path = path.split('?').next().unwrap_or(path);
                Ok(Self::Sqlite(std::path::PathBuf::from(format!(
                    "{path}-wal"
                ))))
            }
            None => Ok(Self::Postgres(Database::connect(url).await?)),
        }
    }

    pub async fn now(&self) -> anyhow::Result<i64> {
        match self {
            Self::Postgres(db) => {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DatabaseBackend::Postgres,
                        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x",
                    ))
                    .await?
                    .context("no snapshot")?;
                Ok(row.try_get::<i64>("", "x")?)
            }
            Self::Sqlite(wal) => Ok(wal_commit_frames(&std::fs::read(wal).unwrap_or_default())),
        }
    }
}

/// The commit frames of a SQLite write-ahead log (its valid frames: those carrying the header's
/// salts, up to the first that does not).
fn wal_commit_frames(wal: &[u8]) -> i64 {
    let be = |at: usize| -> Option<u32> {
        wal.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(page_size), Some(salt1), Some(salt2)) = (be(8), be(16), be(20)) else {
        return 0;
    };
    let frame = 24 + page_size as usize;
    let mut commits = 0;
    let mut at = 32;
    while at + frame <= wal.len() {
        if be(at + 8) != Some(salt1) || be(at + 12) != Some(salt2) {
            break;
        }
        if be(at + 4).is_some_and(|size| size != 0) {
            commits += 1;
        }
        at += frame;
    }
    commits
}

#[cfg(test)]
mod write_commits_tests {
    use super::*;

    /// The log's commit frames are the commits made: three transactions, three commits, however
    /// many pages each wrote; a read commits nothing.
    #[tokio::test]
    async fn the_wal_counts_one_commit_frame_per_write_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("c.db").display());
        let db = connect_like_fundingd(&url).await.unwrap();
        let run = |sql: &str| {
            db.execute_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                sql.to_owned(),
            ))
        };
        run("CREATE TABLE t (v TEXT)").await.unwrap();
        let counter = WriteCommits::open(&url).await.unwrap();
        let before = counter.now().await.unwrap();
        run("INSERT INTO t VALUES ('a')").await.unwrap();
        let txn = db.begin().await.unwrap();
        for _ in 0..500 {
            txn.execute_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                format!("INSERT INTO t VALUES ('{}')", "x".repeat(200)),
            ))
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        run("SELECT COUNT(*) FROM t").await.unwrap();
        run("DELETE FROM t WHERE v = 'a'").await.unwrap();
        assert_eq!(counter.now().await.unwrap() - before, 3);
    }
}
