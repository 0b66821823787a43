//! The inbox of provider events (DESIGN §9: "an event that cannot be applied is parked with its
//! error; the stream goes on"):
//!
//! - the inbox sweep runs apart from Alpaca's stream reader: while a sweep over 10,000 parked
//!   foreign events is held in the middle, the reader goes on storing and applying what the stream
//!   sends, and keeps its lease (the follower and the sweeper wired as `fundingd` wires them, on
//!   the real store and the emulator's real event stream);
//! - one unreadable Plaid event between good ones in a `/bank_transfer/event/sync` page: the good
//!   ones are applied, the bad one is kept raw under its `event_id`, the cursor moves past it, and
//!   an `event_type` Plaid added later is kept as it came (end to end, over gRPC).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use funding_client::v1::BankTransferStatus;
use funding_core::ports::{
    Broker, CursorStore, FundingEvent, InboxEvent, InboxState, InboxStats, InboxStore,
    IncomingEvent, PlaidGateway, StoreError, SystemClock,
};
use funding_core::{
    BankLinks, Engine, EngineSettings, FollowerSettings, FundingEventFollower, InboxSweepSettings,
    InboxSweeper, LinkSettings, LinkStores, TransferSettings, Transfers,
};
use funding_sandbox::{Fault, Host, SandboxConfig, SandboxHandle};
use funding_store::{Cipher, Store};
use funding_tests::{AppOptions, Backend, TestApp};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const STREAM: &str = "alpaca:funding_status";
const HOUR_MS: i64 = 3_600_000;
/// Bounded waits: a test fails rather than hangs; nothing here is a claim about speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// A database of the test's own: a SQLite file, or a PostgreSQL database dropped afterwards.
struct Db {
    url: String,
    postgres: Option<String>,
    _dir: tempfile::TempDir,
}

impl Db {
    async fn new(backend: Backend) -> Db {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Db {
                url: format!("sqlite:{}", dir.path().join("funding.db").display()),
                postgres: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let (name, url) = funding_tests::create_postgres_database("funding_inbox").await;
                Db {
                    url,
                    postgres: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    async fn store(&self) -> Store {
        let store = Store::connect(
            &self.url,
            Cipher::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap(),
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn raw(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.unwrap()
    }

    async fn drop(self) {
        if let Some(name) = self.postgres {
            funding_tests::drop_postgres_database(&name).await;
        }
    }
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn text(db: &DatabaseConnection, sql: &str) -> Option<String> {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .map(|row| row.try_get_by_index::<String>(0).unwrap())
}

/// Waits (bounded) until `sql` counts `expected`.
async fn until_count(db: &DatabaseConnection, sql: &str, expected: i64) {
    let start = Instant::now();
    loop {
        let now = scalar(db, sql).await;
        if now == expected {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never {expected} (last {now}): {sql}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The store, except that the sweep's step that classes events foreign waits, once entered, until
/// the test lets it go: a sweep held in its middle, as a slow one would be.
struct HeldSweep {
    store: Store,
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
}

#[async_trait]
impl InboxStore for HeldSweep {
    async fn store_events(
        &self,
        stream: &str,
        events: Vec<IncomingEvent>,
        cursor: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.store.store_events(stream, events, cursor).await
    }
    async fn pending_events(
        &self,
        stream: &str,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.store.pending_events(stream, limit).await
    }
    async fn mark_event(
        &self,
        stream: &str,
        event_id: &str,
        state: InboxState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store.mark_event(stream, event_id, state, error).await
    }
    async fn unpark_known_subjects(&self) -> Result<u64, StoreError> {
        self.store.unpark_known_subjects().await
    }
    async fn class_foreign(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError> {
        self.entered.notify_one();
        let _held = self.release.acquire().await;
        self.store.class_foreign(older_than, limit).await
    }
    async fn prune_applied(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError> {
        self.store.prune_applied(older_than, limit).await
    }
    async fn inbox_stats(&self) -> Result<InboxStats, StoreError> {
        self.store.inbox_stats().await
    }
}

/// Alpaca's stream follower wired as `fundingd` wires it: the real store, the Alpaca adapter on
/// the emulator, the link and transfer use cases that apply the events.
fn follower(
    store: &Store,
    inbox: Arc<dyn InboxStore>,
    sandbox: &SandboxHandle,
    owner: &str,
    lease: Duration,
) -> FundingEventFollower {
    let broker: Arc<dyn Broker> = Arc::new(
        funding_alpaca::AlpacaClient::new(funding_alpaca::AlpacaConfig::new(
            sandbox.alpaca_url(),
            "sandbox-key-id",
            SecretString::from("sandbox-secret"),
        ))
        .unwrap(),
    );
    let plaid: Arc<dyn PlaidGateway> = Arc::new(
        funding_plaid::PlaidClient::new(funding_plaid::PlaidConfig::new(
            sandbox.plaid_url(),
            "sandbox-client-id",
            SecretString::from("sandbox-secret"),
        ))
        .unwrap(),
    );
    let engine = Engine::new(
        Arc::new(store.clone()),
        EngineSettings {
            owner: owner.to_owned(),
            ..EngineSettings::default()
        },
    );
    let risk = funding_core::Risk::new(
        funding_core::RiskPorts {
            store: Arc::new(store.clone()),
            links: Arc::new(store.clone()),
            secrets: Arc::new(store.clone()),
            plaid: plaid.clone(),
            clock: Arc::new(SystemClock),
        },
        engine.clone(),
        funding_core::RiskSettings::default(),
    );
    let links = BankLinks::new(
        plaid,
        broker.clone(),
        LinkStores::on(store.clone()),
        Arc::new(SystemClock),
        engine.clone(),
        None,
        LinkSettings::default(),
    );
    let transfers = Transfers::new(
        broker.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        engine,
        risk,
        TransferSettings::default(),
    );
    FundingEventFollower::new(
        broker,
        links,
        Some(transfers),
        inbox,
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        FollowerSettings {
            owner: owner.to_owned(),
            lease,
            apply_interval: Duration::from_millis(50),
        },
    )
}

/// A readable Alpaca funding event about a relationship nobody here holds.
fn foreign_event() -> (String, String) {
    let event_id = ulid::Ulid::new().to_string();
    let raw = format!(
        r#"{{"account_id":"{}","at":"2026-12-01T00:00:00Z","entity_id":"{}","entity_type":"BankRelationship","event_id":"{event_id}","status_from":"QUEUED","status_to":"APPROVED"}}"#,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    (event_id, raw)
}

/// An event about a relationship nobody here holds, as the reader reads one.
fn about_a_stranger(event_id: &str) -> FundingEvent {
    FundingEvent {
        event_id: event_id.to_owned(),
        at: chrono::Utc::now(),
        account_id: funding_domain::AccountId::from_uuid(uuid::Uuid::new_v4()),
        entity: funding_core::ports::FundingEntity::BankRelationship,
        entity_id: uuid::Uuid::new_v4(),
        status_from: None,
        status_to: "APPROVED".to_owned(),
        reason: None,
    }
}

/// Parks `count` events about subjects nobody here holds, received two hours ago (past the grace).
async fn park_foreign(store: &Store, raw: &DatabaseConnection, count: usize) {
    let events: Vec<IncomingEvent> = (0..count)
        .map(|i| {
            let event = about_a_stranger(&format!("old-{i:06}"));
            IncomingEvent {
                event_id: event.event_id.clone(),
                raw: "{}".to_owned(),
                event: Ok(event),
            }
        })
        .collect();
    for chunk in events.chunks(1_000) {
        store
            .store_events(STREAM, chunk.to_vec(), None)
            .await
            .unwrap();
    }
    raw.execute_unprepared(&format!(
        "UPDATE inbox_events SET state = 'parked_no_subject', \
         received_at_ms = received_at_ms - {} WHERE stream = '{STREAM}'",
        2 * HOUR_MS
    ))
    .await
    .unwrap();
}

async fn the_stream_is_read_and_applied_while_a_sweep_of_ten_thousand_foreign_events_is_held(
    backend: Backend,
) {
    const FOREIGN: i64 = 10_000;
    let db = Db::new(backend).await;
    let store = db.store().await;
    let raw = db.raw().await;
    park_foreign(&store, &raw, FOREIGN as usize).await;
    let sandbox = funding_sandbox::spawn(SandboxConfig::ephemeral())
        .await
        .unwrap();
    let held = Arc::new(HeldSweep {
        store: store.clone(),
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
    });
    let stop = CancellationToken::new();
    let lease = Duration::from_secs(15);

    let reader = follower(&store, held.clone(), &sandbox, "reader", lease);
    let reading = tokio::spawn(reader.run(stop.clone().cancelled_owned()));
    // The reader holds the stream and reads it.
    until_count(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM stream_leases WHERE stream = '{STREAM}' AND owner = 'reader'"
        ),
        1,
    )
    .await;
    let (first, event) = foreign_event();
    sandbox.control().emit_raw_funding_event(&event);
    until_count(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM inbox_events WHERE event_id = '{first}' \
             AND state = 'parked_no_subject'"
        ),
        1,
    )
    .await;

    let cursors: Arc<dyn CursorStore> = Arc::new(store.clone());
    let sweeper = InboxSweeper::new(
        held.clone(),
        cursors,
        InboxSweepSettings {
            owner: "sweeper".into(),
            lease: Duration::from_secs(60),
            interval: Duration::from_millis(50),
            foreign_grace: Duration::from_secs(3600),
            retention: Duration::from_secs(30 * 86_400),
        },
    );
    let sweeping = tokio::spawn(sweeper.run(stop.clone().cancelled_owned()));
    // A sweep is under way, and held in its middle.
    tokio::time::timeout(PATIENCE, held.entered.notified())
        .await
        .expect("a sweep starts");

    // Meanwhile the reader goes round its loop: an event left pending in the inbox (by an earlier
    // holder) is applied by its periodic look for pending events.
    let left = ulid::Ulid::new().to_string();
    store
        .store_events(
            STREAM,
            vec![IncomingEvent {
                event_id: left.clone(),
                raw: "{}".to_owned(),
                event: Ok(about_a_stranger(&left)),
            }],
            None,
        )
        .await
        .unwrap();
    until_count(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM inbox_events WHERE event_id = '{left}' \
             AND state = 'parked_no_subject'"
        ),
        1,
    )
    .await;

    // And Alpaca sends events: each is stored and applied (parked: nobody here holds its
    // relationship), cursor and all.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (event_id, event) = foreign_event();
        sandbox.control().emit_raw_funding_event(&event);
        ids.push(format!("'{event_id}'"));
    }
    until_count(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM inbox_events WHERE stream = '{STREAM}' \
             AND state = 'parked_no_subject' AND event_id IN ({})",
            ids.join(", ")
        ),
        5,
    )
    .await;
    let last = ids.last().unwrap().trim_matches('\'').to_owned();
    assert_eq!(
        text(
            &raw,
            &format!("SELECT cursor FROM stream_cursors WHERE stream = '{STREAM}'")
        )
        .await
        .as_deref(),
        Some(last.as_str()),
        "the cursor moved with them"
    );
    assert_eq!(
        scalar(
            &raw,
            "SELECT COUNT(*) FROM inbox_events WHERE state = 'foreign'"
        )
        .await,
        0,
        "all that while the sweep was still held"
    );
    assert!(!sweeping.is_finished() && !reading.is_finished());

    // The sweep goes on and classes the 10,000 foreign (the new events are within the grace).
    held.release.add_permits(1_000);
    until_count(
        &raw,
        "SELECT COUNT(*) FROM inbox_events WHERE state = 'foreign'",
        FOREIGN,
    )
    .await;
    assert_eq!(
        text(
            &raw,
            &format!("SELECT owner FROM stream_leases WHERE stream = '{STREAM}'")
        )
        .await
        .as_deref(),
        Some("reader"),
        "the reader never lost the stream"
    );

    stop.cancel();
    reading.await.unwrap();
    sweeping.await.unwrap();
    store.close().await.unwrap();
    db.drop().await;
}

/// A Plaid event as the emulator writes them, for `bank_transfer_id`, with `event_type`.
fn plaid_event(bank_transfer_id: &str, event_type: &str) -> serde_json::Value {
    serde_json::json!({
        "account_id": "emulated-account",
        "bank_transfer_amount": "25.00",
        "bank_transfer_id": bank_transfer_id,
        "bank_transfer_iso_currency_code": "USD",
        "bank_transfer_type": "debit",
        "direction": "outbound",
        "event_type": event_type,
        "failure_reason": null,
        "origination_account_id": null,
        "receiver_details": {"available_balance": null},
        "timestamp": "2026-12-01T00:00:00Z"
    })
}

async fn a_malformed_plaid_event_between_good_ones_is_kept_raw_and_the_sync_moves_past_it(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        // Only the events move the transfer: the reconciler does not read it back meanwhile.
        reconcile_after_ms: 600_000,
        ..AppOptions::default()
    })
    .await;
    let plaid_stream = funding_core::ports::PLAID_BANK_TRANSFER_STREAM;
    // No sync succeeds until every event is in Plaid's log: they come in one page.
    app.sandbox
        .inject_fault(Fault::new(Host::Plaid, "/bank_transfer/event/sync", 400).times(1_000_000));
    let token = app.processor_token().await;
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "25.00"))
        .await
        .expect("CreateBankTransfer");
    assert_eq!(created.status(), BankTransferStatus::Pending);
    let plaid_id = created.provider_bank_transfer_id.clone();
    assert!(!plaid_id.is_empty());
    // Plaid's log: 1 pending (good), 2 malformed, 3 of a type added later, 4 posted (good).
    let mut malformed = plaid_event(&plaid_id, "posted");
    malformed["bank_transfer_amount"] = serde_json::json!({"not": "a decimal"});
    let malformed_id = app.sandbox.emit_raw_bank_transfer_event(malformed);
    let settled_id = app
        .sandbox
        .emit_raw_bank_transfer_event(plaid_event(&plaid_id, "settled"));
    app.simulate_bank_transfer(&created.id, "posted", "")
        .await
        .expect("simulate posted");
    app.sandbox.clear_faults();

    app.wait_for_bank_transfer_status(&created.id, BankTransferStatus::Posted)
        .await;
    let in_inbox = |event_id: u64, condition: &str| {
        format!("stream = '{plaid_stream}' AND event_id = '{event_id}' AND {condition}")
    };
    assert_eq!(
        app.count_rows_where(
            "inbox_events",
            &in_inbox(
                malformed_id,
                "state = 'unreadable' AND payload LIKE '%not%decimal%' AND error IS NOT NULL \
                 AND event IS NULL"
            )
        )
        .await,
        1,
        "the malformed event is kept raw under its event_id, with why"
    );
    assert_eq!(
        app.count_rows_where(
            "inbox_events",
            &in_inbox(settled_id, "state = 'applied' AND event LIKE '%settled%'")
        )
        .await,
        1,
        "an event_type Plaid added later is kept as it came, and changes nothing"
    );
    let posted_id = settled_id + 1;
    assert_eq!(
        app.count_rows_where(
            "stream_cursors",
            &format!("stream = '{plaid_stream}' AND cursor = '{posted_id}'")
        )
        .await,
        1,
        "the cursor moved past them"
    );
    assert_eq!(
        app.count_rows_where(
            "inbox_events",
            &format!("stream = '{plaid_stream}' AND state = 'applied'")
        )
        .await,
        3,
        "the good ones (before and after) and the new type are applied"
    );
    assert_eq!(
        app.count_rows_where(
            "bank_transfer_status_history",
            &format!("status = 'posted' AND source = 'plaid:event' AND event_id = '{posted_id}'")
        )
        .await,
        1,
        "posted by the event after the malformed one"
    );
    app.stop().await;
}

/// Every test body twice, on SQLite and on PostgreSQL, on a multi-threaded runtime.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(funding_tests::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name(funding_tests::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    the_stream_is_read_and_applied_while_a_sweep_of_ten_thousand_foreign_events_is_held,
    a_malformed_plaid_event_between_good_ones_is_kept_raw_and_the_sync_moves_past_it,
);

// ---- scale: `cargo test -p funding-tests --test api inbox_sweep_at_scale -- --ignored --nocapture`

/// What the sweep cost before this change, reconstructed statement for statement: for each kind
/// of subject, the distinct parked subjects a page of 500 at a time, and one lookup per subject;
/// then a count over the whole table. Returns how many statements it ran.
async fn the_old_sweep(db: &DatabaseConnection) -> usize {
    use sea_orm::{Statement, Value};
    let backend = db.get_database_backend();
    let sql = |text: &str| {
        if backend == sea_orm::DatabaseBackend::Postgres {
            text.to_owned()
        } else {
            text.replace('$', "?")
        }
    };
    let mut statements = 0;
    for (entity_type, lookup) in [
        (
            "BankRelationship",
            "SELECT id FROM bank_links WHERE ach_relationship_id = $1",
        ),
        (
            "Transfer",
            "SELECT id FROM transfers WHERE provider_transfer_id = $1",
        ),
        (
            "BankTransfer",
            "SELECT id FROM bank_transfers WHERE plaid_bank_transfer_id = $1",
        ),
    ] {
        let mut after = String::new();
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    sql("SELECT DISTINCT entity_id FROM inbox_events \
                         WHERE state = 'parked_no_subject' AND entity_type = $1 \
                         AND entity_id > $2 ORDER BY entity_id LIMIT 500"),
                    [entity_type.into(), after.clone().into()],
                ))
                .await
                .unwrap();
            statements += 1;
            let fetched = rows.len();
            for row in rows {
                let entity_id: String = row.try_get_by_index(0).unwrap();
                after.clone_from(&entity_id);
                let value: Value = if entity_type == "BankTransfer" {
                    entity_id.into()
                } else {
                    uuid::Uuid::parse_str(&entity_id).unwrap().into()
                };
                db.query_all_raw(Statement::from_sql_and_values(
                    backend,
                    sql(lookup),
                    [value],
                ))
                .await
                .unwrap();
                statements += 1;
            }
            if fetched < 500 {
                break;
            }
        }
    }
    db.query_all_raw(Statement::from_string(
        backend,
        "SELECT state, COUNT(*) AS n FROM inbox_events WHERE state <> 'applied' GROUP BY state",
    ))
    .await
    .unwrap();
    statements + 1
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// 20,000 events about other systems' relationships parked (past the grace), and as many applied
/// events past the retention; Alpaca's stream followed (15 s lease, as by default) and fed
/// 20 events a second throughout; the sweep run back to back ten times. Prints the old sweep's
/// cost on the same rows, each sweep's duration and statements, the lease's holder throughout,
/// and whether every streamed event was stored and applied.
async fn inbox_sweep_at_scale(backend: Backend) {
    const FOREIGN: usize = 20_000;
    let db = Db::new(backend).await;
    let statements = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = statements.clone();
    let store = db.store().await.with_statement_observer(move |sql, took| {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if took > Duration::from_millis(100) {
            let head: String = sql.chars().take(90).collect();
            println!("  slow statement: {:.0} ms: {head}", millis(took));
        }
    });
    let raw = db.raw().await;
    park_foreign(&store, &raw, FOREIGN).await;
    // As many applied events, past the 30-day retention.
    let applied: Vec<IncomingEvent> = (0..FOREIGN)
        .map(|i| {
            let id = format!("done-{i:06}");
            IncomingEvent {
                event_id: id.clone(),
                raw: "{}".to_owned(),
                event: Ok(about_a_stranger(&id)),
            }
        })
        .collect();
    for chunk in applied.chunks(1_000) {
        store
            .store_events("alpaca:applied", chunk.to_vec(), None)
            .await
            .unwrap();
    }
    raw.execute_unprepared(&format!(
        "UPDATE inbox_events SET state = 'applied', applied_at_ms = received_at_ms - {} \
         WHERE stream = 'alpaca:applied'",
        31 * 24 * HOUR_MS
    ))
    .await
    .unwrap();

    let started = Instant::now();
    let old_statements = the_old_sweep(&raw).await;
    let old = started.elapsed();
    println!(
        "{backend:?}: the old sweep over {FOREIGN} parked subjects: {:.0} ms, {old_statements} statements (it ran every 500 ms inside the reader)",
        millis(old)
    );

    let sandbox = funding_sandbox::spawn(SandboxConfig::ephemeral())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let reader = follower(
        &store,
        Arc::new(store.clone()),
        &sandbox,
        "reader",
        Duration::from_secs(15),
    );
    let reading = tokio::spawn(reader.run(stop.clone().cancelled_owned()));
    until_count(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM stream_leases WHERE stream = '{STREAM}' AND owner = 'reader'"
        ),
        1,
    )
    .await;
    // The stream goes on: 20 events a second, and the lease's holder looked at every 100 ms.
    let feeding = {
        let control = sandbox.control();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            while !stop.is_cancelled() {
                let (event_id, event) = foreign_event();
                control.emit_raw_funding_event(&event);
                sent.push((event_id, chrono::Utc::now().timestamp_millis()));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sent
        })
    };
    let watching = {
        let url = db.url.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let raw = Database::connect(&url).await.unwrap();
            let mut holders = std::collections::BTreeSet::new();
            let mut looks = 0;
            while !stop.is_cancelled() {
                holders.insert(
                    text(
                        &raw,
                        &format!("SELECT owner FROM stream_leases WHERE stream = '{STREAM}'"),
                    )
                    .await,
                );
                looks += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (holders, looks)
        })
    };

    let sweeper = InboxSweeper::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        InboxSweepSettings {
            owner: "sweeper".into(),
            lease: Duration::from_secs(60),
            interval: Duration::from_secs(30),
            foreign_grace: Duration::from_secs(3600),
            retention: Duration::from_secs(30 * 86_400),
        },
    );
    let mut first_sweep = (0, 0);
    for round in 1..=10 {
        let before = statements.load(std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let from = chrono::Utc::now().timestamp_millis();
        let report = sweeper.sweep().await.unwrap();
        let took = started.elapsed();
        if round == 1 {
            first_sweep = (from, chrono::Utc::now().timestamp_millis());
        }
        // Statements of the sweep and of the reader meanwhile; the sweep's own are at most 10.
        let during = statements.load(std::sync::atomic::Ordering::Relaxed) - before;
        println!(
            "{backend:?}: sweep {round}: {:.1} ms; unparked {}, classed foreign {}, pruned {}, more {}; {during} statements on the pool meanwhile (reader included)",
            millis(took),
            report.unparked,
            report.foreign,
            report.pruned,
            report.more
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    stop.cancel();
    let sent = feeding.await.unwrap();
    let (holders, looks) = watching.await.unwrap();
    // Every event sent was stored and applied (parked: nobody here holds its relationship).
    tokio::time::sleep(Duration::from_millis(500)).await;
    reading.await.unwrap();
    let stored = scalar(
        &raw,
        &format!(
            "SELECT COUNT(*) FROM inbox_events WHERE stream = '{STREAM}' \
             AND state = 'parked_no_subject' AND event_id LIKE '01%'"
        ),
    )
    .await;
    // How long each streamed event took from the emulator to the inbox (the database's clock and
    // this process's are the same machine's).
    let mut delays = Vec::new();
    let mut during_first = Vec::new();
    for (event_id, sent_at) in &sent {
        // The last one may have been sent as the reader stopped.
        let Some(row) = raw
            .query_one_raw(sea_orm::Statement::from_string(
                raw.get_database_backend(),
                format!("SELECT received_at_ms FROM inbox_events WHERE event_id = '{event_id}'"),
            ))
            .await
            .unwrap()
        else {
            continue;
        };
        let received: i64 = row.try_get_by_index(0).unwrap();
        delays.push(received - sent_at);
        if (first_sweep.0..=first_sweep.1).contains(sent_at) {
            during_first.push(received - sent_at);
        }
    }
    delays.sort_unstable();
    during_first.sort_unstable();
    println!(
        "{backend:?}: the stream lease's holders over {looks} looks: {holders:?}; {} events streamed during the sweeps, {stored} stored and applied; from the emulator to the inbox: median {} ms, max {} ms; during the first sweep ({} events): max {} ms",
        sent.len(),
        delays.get(delays.len() / 2).copied().unwrap_or_default(),
        delays.last().copied().unwrap_or_default(),
        during_first.len(),
        during_first.last().copied().unwrap_or_default(),
    );
    assert_eq!(holders.len(), 1, "the lease never changed hands");
    assert_eq!(
        scalar(
            &raw,
            "SELECT COUNT(*) FROM inbox_events WHERE state = 'foreign'"
        )
        .await,
        FOREIGN as i64
    );
    store.close().await.unwrap();
    db.drop().await;
}

mod inbox_sweep_at_scale {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement (docs/BENCHMARKS.md), not a check: run with --ignored --nocapture"]
    async fn postgres() {
        super::inbox_sweep_at_scale(funding_tests::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement (docs/BENCHMARKS.md), not a check: run with --ignored --nocapture"]
    async fn sqlite() {
        super::inbox_sweep_at_scale(funding_tests::Backend::Sqlite).await;
    }
}
