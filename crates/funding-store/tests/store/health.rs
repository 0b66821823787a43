//! Connecting and health: a SQLite URL creates its file, and `ping` tells whether the database is
//! there.

use funding_core::ports::{BankLinkStore, DatabasePing, StoreError};
use funding_store::{Cipher, Store};

use crate::support::TestDb;

async fn ping_answers_while_the_database_is_there_and_fails_once_it_is_gone(db: &TestDb) {
    let store = db.store().await;
    store.ping().await.expect("the database answers");
    DatabasePing::ping(&store)
        .await
        .expect("through the port too");
    db.take_away(&store).await;
    let error = store.ping().await.expect_err("the database is gone");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let error = store
        .get_link(funding_domain::BankLinkId::generate())
        .await
        .expect_err("so are reads");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

on_both_backends!(ping_answers_while_the_database_is_there_and_fails_once_it_is_gone);

#[tokio::test]
async fn a_sqlite_url_creates_its_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/funding.db");
    let store = Store::connect(&format!("sqlite:{}", path.display()), Cipher::generate())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert!(path.is_file());
    let raw = sea_orm::Database::connect(format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    use sea_orm::ConnectionTrait as _;
    let row = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "wal");
}

#[tokio::test]
async fn an_in_memory_sqlite_database_works_for_one_process() {
    let store = Store::connect("sqlite::memory:", Cipher::generate())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let link = crate::support::created_link(&store, crate::support::account(), "k").await;
    assert!(store.get_link(link.id).await.unwrap().is_some());
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    // Nothing listens on port 1.
    let error = Store::connect(
        "postgres://postgres@127.0.0.1:1/postgres",
        Cipher::generate(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn an_unsupported_url_is_refused_without_echoing_it() {
    let error = Store::connect("mysql://root:hunter2@localhost/db", Cipher::generate())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"));
}
