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
    let links = BankLinks::new(
        plaid,
        broker.clone(),
        LinkStores::on(store.clone()),
        Arc::new(SystemClock),
        engine.clone(),
        LinkSettings::default(),
    );
    let transfers = Transfers::new(
        broker.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        engine,
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
