//! What the tests share: a fresh database per test on either backend ([`TestDb`]), the
//! [`on_both_backends!`] macro that turns one test body into a SQLite test and a PostgreSQL test,
//! fixtures for links and status moves, a clock the tests move by hand, and raw SQL helpers that go
//! around the store to look at (or tamper with) what it wrote. The fixtures of the other resources
//! live beside: [`bank_transfers`], [`transfers`] and [`work`].
//!
//! PostgreSQL is never skipped: if it cannot be reached the test fails and says how to start it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};
use funding_core::model::BankLink;
use funding_core::ports::{
    Claim, Clock, IdempotencyClaim, InboxStore as _, LinkStatusChange, NewBankLink, NewWork,
    SavedRelationship, WorkKind, WorkQueue as _,
};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, BankLinkId, IdempotencyKey, Nickname,
    PlaidAccountId, PublicToken,
};
use funding_store::{Cipher, Store};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait as _, Func, Query, SimpleExpr};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection};
use uuid::Uuid;

pub mod bank_transfers;
pub mod transfers;
pub mod work;

/// Turns each named `async fn name(db: &TestDb)` into a module `name` with two tests, `sqlite` and
/// `postgres`, each running the body on a fresh database of its backend.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = $crate::support::TestDb::postgres().await;
                    super::$name(&db).await;
                }
            }
        )+
    };
}

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("FUNDING_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

async fn admin_connection(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await.unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is not reachable at {url} ({error}). These tests need it: start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point \
             FUNDING_TEST_POSTGRES_URL at a server where the user may create databases."
        )
    })
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test, removed when the test ends (pass or fail).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    key: String,
    sqlite_dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A directory that does not exist yet: connecting creates it.
        let path = dir.path().join("var").join("funding.db");
        TestDb {
            backend: Backend::Sqlite,
            url: format!("sqlite:{}", path.display()),
            key: fresh_key(),
            sqlite_dir: Some(dir),
            postgres_name: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let name = format!("funding_test_{}", Uuid::new_v4().simple());
        let connection = admin_connection(&admin).await;
        connection
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|error| panic!("cannot create the test database {name}: {error}"));
        let _ = connection.close().await;
        TestDb {
            backend: Backend::Postgres,
            url: with_database(&admin, &name),
            key: fresh_key(),
            sqlite_dir: None,
            postgres_name: Some(name),
        }
    }

    /// The test's key, for a store that must read what another store of this test wrote.
    pub fn cipher(&self) -> Cipher {
        Cipher::from_base64(&self.key).expect("test key")
    }

    /// A store on this database, migrated, with the test's key.
    pub async fn store(&self) -> Store {
        self.store_with(self.cipher()).await
    }

    /// A store on this database, migrated, with `cipher`.
    pub async fn store_with(&self, cipher: Cipher) -> Store {
        let store = self.unmigrated_store(cipher).await;
        store.migrate().await.expect("migrations apply");
        store
    }

    pub async fn unmigrated_store(&self, cipher: Cipher) -> Store {
        Store::connect(&self.url, cipher)
            .await
            .unwrap_or_else(|error| {
                panic!("connect to the {:?} test database: {error}", self.backend)
            })
    }

    /// A connection of its own, for SQL that goes around the store.
    pub async fn raw(&self) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url.clone());
        options.max_connections(1).sqlx_logging(false);
        Database::connect(options).await.expect("raw connection")
    }

    /// The SQLite database file and its write-ahead log, when this is SQLite.
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.sqlite_dir else {
            return Vec::new();
        };
        let db = dir.path().join("var").join("funding.db");
        vec![db.clone(), PathBuf::from(format!("{}-wal", db.display()))]
    }

    /// Makes the database go away under `store`: PostgreSQL's is dropped (its connections killed);
    /// SQLite's pool is closed.
    pub async fn take_away(&self, store: &Store) {
        match (&self.postgres_name, self.backend) {
            (Some(name), Backend::Postgres) => {
                let connection = admin_connection(&admin_url()).await;
                connection
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .expect("drop the test database");
                let _ = connection.close().await;
            }
            _ => store.close().await.expect("close the pool"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: drop the database from a
        // thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let connection = admin_connection(&admin_url()).await;
                connection
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map(|_| ())
                    .map_err(|error| format!("drop {name}: {error}"))
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("warning: {error}");
        }
    }
}

fn fresh_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(Uuid::new_v4().as_bytes().repeat(2))
}

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(now: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(now)))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock") = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// A fixed instant with a sub-microsecond part, so that precision handling is exercised.
pub fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600, 123_456_789)
        .single()
        .expect("instant")
}

pub fn seconds(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(n)
}

pub const CALLER: &str = "portfolio-service";
pub const OPERATION: &str = "CreateBankLink";

/// A new CREATING link of `account` under `key`, with the claim that goes with it.
pub fn new_link(account: AccountId, key: &str) -> (IdempotencyClaim, NewBankLink) {
    let link = BankLink {
        id: BankLinkId::generate(),
        caller: CALLER.to_owned(),
        idempotency_key: IdempotencyKey::parse(key).expect("key"),
        account_id: account,
        plaid_account_id: PlaidAccountId::parse("vzeNDwK7KQIm4yEog683uElbp9GRLEFXGK98D")
            .expect("plaid account"),
        plaid_item_id: None,
        nickname: Some(Nickname::parse("Everyday checking").expect("nickname")),
        status: AchRelationshipStatus::Creating,
        status_reason: None,
        failure_code: None,
        ach_relationship_id: None,
        account_owner_name: None,
        relationship_requested_at: None,
        exchange_requested_at: None,
        bank_account_type: None,
        bank_account_mask: None,
        health: funding_domain::BankLinkHealth::Healthy,
        health_reason: None,
        replaces: None,
        created_at: t0(),
        updated_at: t0(),
    };
    let claim = IdempotencyClaim {
        caller: CALLER.to_owned(),
        operation: OPERATION,
        key: key.to_owned(),
        fingerprint: format!("fingerprint-of-{key}"),
    };
    let work = NewWork {
        kind: WorkKind::LinkCreate,
        subject_id: link.id.as_uuid(),
        // No ordering key: tests that make several links of one account claim each one's work
        // without finishing the others' (work.rs tests ordering keys on their own).
        ordering_key: None,
        max_attempts: 5,
    };
    (
        claim,
        NewBankLink {
            link,
            public_token: PublicToken::parse(PUBLIC_TOKEN).expect("public token"),
            work,
        },
    )
}

pub const PUBLIC_TOKEN: &str = "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d";

/// A lease long enough for any test that does not wait it out.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Claims the `link_create` work `begin_link` wrote for `link`, as `owner`: the fence of its writes.
pub async fn claim_link(store: &Store, link: BankLinkId) -> Claim {
    claim_link_as(store, link, "owner").await
}

pub async fn claim_link_as(store: &Store, link: BankLinkId, owner: &str) -> Claim {
    store
        .claim(WorkKind::LinkCreate, link.as_uuid(), owner, LEASE)
        .await
        .expect("claim")
        .expect("the link's work is claimable")
        .claim
}

/// A claim of fresh work for `subject` (a link that may not exist).
pub async fn claim_for(store: &Store, subject: Uuid) -> Claim {
    store
        .enqueue(NewWork {
            kind: WorkKind::LinkCreate,
            subject_id: subject,
            ordering_key: None,
            max_attempts: 5,
        })
        .await
        .expect("enqueue");
    store
        .claim(WorkKind::LinkCreate, subject, "owner", LEASE)
        .await
        .expect("claim")
        .expect("claimable")
        .claim
}

/// The relationship Alpaca made, as the link work stores it.
pub fn saved(relationship: AchRelationshipId, owner: &str) -> SavedRelationship {
    SavedRelationship {
        relationship_id: relationship,
        account_owner_name: owner.to_owned(),
        bank_account_type: Some("CHECKING".to_owned()),
        bank_account_mask: Some("6789".to_owned()),
    }
}

pub fn account() -> AccountId {
    AccountId::from_uuid(Uuid::new_v4())
}

/// A status move reported by `event` (if any), from the API.
pub fn change(
    from: AchRelationshipStatus,
    to: AchRelationshipStatus,
    event: Option<&str>,
) -> LinkStatusChange {
    LinkStatusChange {
        from,
        to,
        reason: None,
        source: "alpaca:event".to_owned(),
        event_id: event.map(str::to_owned),
        at: t0() + seconds(5),
    }
}

/// Creates a link through the store and returns it.
pub async fn created_link(store: &Store, account: AccountId, key: &str) -> BankLink {
    use funding_core::ports::{BankLinkStore as _, Begin};
    let (claim, link) = new_link(account, key);
    match store.begin_link(claim, link).await.expect("begin_link") {
        Begin::Created(link) => link,
        Begin::Existing { .. } => panic!("{key} was used before"),
    }
}

/// `SELECT COUNT(*) FROM table WHERE condition`.
pub async fn count(db: &DatabaseConnection, table: &'static str, condition: SimpleExpr) -> i64 {
    let query = Query::select()
        .expr(Func::count(Expr::col(Asterisk)))
        .from(table)
        .and_where(condition)
        .to_owned();
    let row = db.query_one(&query).await.expect("count").expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// The history rows of `link`.
pub async fn history_count(db: &DatabaseConnection, link: BankLinkId) -> i64 {
    count(
        db,
        "bank_link_status_history",
        Expr::col("link_id").eq(link.as_uuid()),
    )
    .await
}

/// The raw bytes of a link's column.
pub async fn raw_bytes(
    db: &DatabaseConnection,
    link: BankLinkId,
    column: &'static str,
) -> Option<Vec<u8>> {
    let query = Query::select()
        .column(column)
        .from("bank_links")
        .and_where(Expr::col("id").eq(link.as_uuid()))
        .to_owned();
    let row = db
        .query_one(&query)
        .await
        .expect("select")
        .expect("the link");
    row.try_get::<Option<Vec<u8>>>("", column).expect("bytes")
}

/// The `plaid_item_remove` work of `link`, if any (of any state).
pub async fn item_removals(db: &TestDb, link: BankLinkId) -> i64 {
    count(
        &db.raw().await,
        "work_items",
        Expr::col("kind")
            .eq(WorkKind::PlaidItemRemove.as_str())
            .and(Expr::col("subject_id").eq(link.as_uuid())),
    )
    .await
}

/// `claim` as it was before a newer claim of its work: its generation is no longer the work's.
pub fn stale(claim: &Claim) -> Claim {
    Claim {
        generation: claim.generation + 1,
        ..claim.clone()
    }
}

/// Whether `needle` stands anywhere in `haystack` (a search of stored bytes for a secret).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Runs `sql` on a connection of its own.
pub async fn execute(db: &TestDb, sql: &str) {
    db.raw()
        .await
        .execute_unprepared(sql)
        .await
        .expect("raw statement");
}

/// The inbox's events counted by state, sorted by state.
pub async fn inbox_stats(store: &Store) -> Vec<(&'static str, u64)> {
    let mut by_state: Vec<_> = store
        .inbox_stats()
        .await
        .unwrap()
        .by_state
        .into_iter()
        .map(|(state, n)| (state.as_str(), n))
        .collect();
    by_state.sort_unstable();
    by_state
}
