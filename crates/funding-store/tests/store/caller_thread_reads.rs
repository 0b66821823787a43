//! Reads by key on a SQLite file run on the caller's thread (no sqlx hand-off) and answer exactly
//! what the pool answers; what they cannot read as sqlx would is left to the pool, never guessed.

use funding_core::ports::{
    BankLinkStore as _, BankTransferStore as _, Begin, CursorStore as _, LinkSecretStore as _,
    TransferDirection, TransferStore as _,
};
use funding_store::CallerThreadReads;
use sea_orm::ConnectionTrait as _;

use crate::support::bank_transfers as bank;
use crate::support::transfers::{link, new_transfer, queued};
use crate::support::{TestDb, t0};

/// A link, a transfer that Alpaca knows, a bank transfer Plaid answered, and the repeats of their
/// creates: every read by key is answered on the caller's thread, each the same as the pool's
/// answer, and a read written after a write sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_by_key_are_answered_on_the_callers_thread_as_the_pool_answers() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let pool = store.clone().without_caller_thread_reads();
    let before = store.caller_thread_reads().expect("a SQLite file");

    let (link_id, account) = link(&store).await;
    let (transfer, alpaca_id) = queued(&store, link_id, account, "t1", t0()).await;
    let (bank_transfer, plaid_id) = bank::pending(&store, "b1", t0()).await;
    store.save_cursor("a-stream", "42").await.unwrap();

    let here = store.get_link(link_id).await.unwrap().expect("the link");
    assert_eq!(Some(&here), pool.get_link(link_id).await.unwrap().as_ref());
    let here = store.get_transfer(transfer.id).await.unwrap().expect("it");
    assert_eq!(
        Some(&here),
        pool.get_transfer(transfer.id).await.unwrap().as_ref()
    );
    assert!(
        here.provider_transfer_id.is_some(),
        "the write just before is seen"
    );
    let here = store.get_bank_transfer(bank_transfer.id).await.unwrap();
    assert_eq!(
        here,
        pool.get_bank_transfer(bank_transfer.id).await.unwrap()
    );
    assert!(
        store
            .get_transfer(funding_domain::TransferId::generate())
            .await
            .unwrap()
            .is_none()
    );
    // By the other keys Alpaca's and Plaid's events and the event streams use.
    let here = store.find_transfer_by_provider_id(alpaca_id).await.unwrap();
    assert_eq!(here.map(|found| found.id), Some(transfer.id));
    let here = store
        .find_bank_transfer_by_plaid_id(&plaid_id)
        .await
        .unwrap();
    assert_eq!(here.as_ref().map(|found| found.id), Some(bank_transfer.id));
    assert_eq!(
        here,
        pool.find_bank_transfer_by_plaid_id(&plaid_id)
            .await
            .unwrap()
    );
    assert_eq!(
        store.load_cursor("a-stream").await.unwrap().as_deref(),
        Some("42")
    );
    let secrets = store.link_secrets(link_id).await.unwrap();
    assert!(
        secrets.public_token.is_some(),
        "the sealed token is read and opened"
    );

    // A repeat of the create: its idempotency record, then the transfer, both read here.
    let (claim, _) = new_transfer(link_id, account, "t1", "100.00", TransferDirection::Deposit);
    let repeat = store.existing_transfer(&claim).await.unwrap();
    assert_eq!(repeat, pool.existing_transfer(&claim).await.unwrap());
    match repeat {
        Some(Begin::Existing { resource, .. }) => assert_eq!(resource.id, transfer.id),
        other => panic!("the repeat finds the transfer, not {other:?}"),
    }

    let after = store.caller_thread_reads().unwrap();
    assert_eq!(
        after.left_to_pool, before.left_to_pool,
        "nothing was left to the pool"
    );
    assert!(
        after.answered >= before.answered + 10,
        "the reads above were answered here: {before:?} → {after:?}"
    );
    assert_eq!(
        pool.caller_thread_reads(),
        Some(after),
        "the pool-only store read nothing here"
    );
}

/// A time stored in another form sqlx reads (`2026-01-02 03:04:05`, SQLite's own) is left to the
/// pool, which reads it: this path answers only what it reads exactly as sqlx would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_value_sqlx_would_convert_is_left_to_the_pool() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let (link_id, account) = link(&store).await;
    let (transfer, _) = queued(&store, link_id, account, "t1", t0()).await;
    db.raw()
        .await
        .execute_unprepared("UPDATE transfers SET created_at = '2026-01-02 03:04:05'")
        .await
        .unwrap();
    let before = store.caller_thread_reads().unwrap();

    let read = store.get_transfer(transfer.id).await.unwrap().expect("it");

    assert_eq!(read.created_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    assert_eq!(
        store.caller_thread_reads().unwrap(),
        CallerThreadReads {
            answered: before.answered,
            left_to_pool: before.left_to_pool + 1,
        }
    );
}

/// PostgreSQL and in-memory SQLite read through the pool only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_a_sqlite_file_has_them() {
    let postgres = TestDb::postgres().await;
    assert_eq!(postgres.store().await.caller_thread_reads(), None);
    let memory = funding_store::Store::connect("sqlite::memory:", postgres.cipher())
        .await
        .unwrap();
    assert_eq!(memory.caller_thread_reads(), None);
}

/// The SQLite every connection runs (sqlx's pool too) is built with the planner stability
/// guarantee on (`.cargo/config.toml`): without it, every statement with `LIMIT ?` (each `.one()`,
/// each page) was parsed again at every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pools_sqlite_plans_a_statement_once_whatever_its_values() {
    let db = TestDb::sqlite().await;
    let _store = db.store().await;
    let options: Vec<String> = db
        .raw()
        .await
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA compile_options",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert!(
        options.iter().any(|option| option == "ENABLE_QPSG"),
        "{options:?}"
    );
}
