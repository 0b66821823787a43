//! The change log's numbers (DESIGN §9, "a watcher resumes from an event id with no gap and no
//! duplicate"): a reader that has seen number N has seen every number below it, whatever order
//! concurrent writers commit in, and every change has its outbox row under its number.
//!
//! On PostgreSQL the numbers are given after the writer's commit, by the reader about to read them
//! (migration `m20261207_000020`), so a change written later may commit and be read, numbered,
//! while an earlier writer's transaction is still open.

use std::collections::HashSet;
use std::time::Duration;

use funding_core::ports::{StoreError, TransferSaved, TransferStore as _};
use funding_domain::AccountId;
use funding_store::Store;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ConnectionTrait as _, DatabaseBackend, Statement, TransactionTrait as _};

use crate::support::transfers::{
    claim_submit, deposit, link, park, provider_id, submitted, transfer_event,
};
use crate::support::{TestDb, count, seconds, t0};

/// Every change of `account` after `after`, checked to follow on from it one by one.
async fn read_on(store: &Store, account: AccountId, after: i64) -> Vec<(i64, uuid::Uuid, String)> {
    let events = store
        .transfer_events(account, None, after, 1000)
        .await
        .unwrap();
    for (expected, event) in (after + 1..).zip(&events) {
        assert_eq!(event.seq, expected, "no gap and no duplicate after {after}");
    }
    events
        .into_iter()
        .map(|e| {
            (
                e.seq,
                e.transfer.id.as_uuid(),
                e.transfer.status.as_str().to_owned(),
            )
        })
        .collect()
}

/// The outbox row of change `seq` of `transfer`, with its status.
async fn outbox_status(db: &TestDb, transfer: uuid::Uuid, seq: i64) -> Option<String> {
    let raw = db.raw().await;
    let row = raw
        .query_one_raw(Statement::from_sql_and_values(
            raw.get_database_backend(),
            "SELECT status FROM outbox WHERE id = $1",
            [format!("{transfer}:{seq}").into()],
        ))
        .await
        .unwrap()?;
    Some(row.try_get::<String>("", "status").unwrap())
}

/// PostgreSQL (the backend with concurrent writers): a transaction holds its change, written but
/// not committed, while a later create commits; the later one is numbered first, and the earlier
/// one takes the next number when it commits: a reader between the two loses nothing.
async fn a_change_written_earlier_but_committed_later_takes_the_next_number(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let first = deposit(&store, link, account, "first").await;
    let provider = provider_id();
    park(&store, vec![transfer_event("e1", provider)]).await;
    let fence = claim_submit(&store, first.id).await;
    let seen = read_on(&store, account, 0).await;
    let cursor = seen.last().map_or(0, |(seq, _, _)| *seq);

    // The parked event's row is locked, so saving Alpaca's id writes its change and then waits at
    // unparking the event, inside its transaction.
    let blocker = db.raw().await;
    let lock = blocker.begin().await.unwrap();
    lock.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT 1 FROM inbox_events WHERE entity_id = $1 FOR UPDATE",
        [provider.as_uuid().to_string().into()],
    ))
    .await
    .unwrap();
    let saving = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .save_submitted(&fence, first.id, provider, submitted(t0() + seconds(1)))
                .await
        }
    });
    let watcher = db.raw().await;
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock' AND query LIKE 'UPDATE inbox_events%'";
    let mut blocked = false;
    for _ in 0..200 {
        let row = watcher
            .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, waiting))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() == 1 {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(blocked, "the save waits at the locked inbox row");

    let second = tokio::time::timeout(
        Duration::from_secs(20),
        deposit(&store, link, account, "second"),
    )
    .await
    .expect("a change commits while an earlier writer's transaction is still open");
    let between = read_on(&store, account, cursor).await;
    assert_eq!(
        between,
        [(cursor + 1, second.id.as_uuid(), "SUBMITTING".to_owned())],
        "the later create is numbered first, and nothing else is visible"
    );

    lock.commit().await.unwrap();
    let saved: Result<TransferSaved, StoreError> = saving.await.unwrap();
    assert_eq!(saved.unwrap(), TransferSaved::Saved);
    let after = read_on(&store, account, cursor + 1).await;
    assert_eq!(
        after,
        [(cursor + 2, first.id.as_uuid(), "QUEUED".to_owned())],
        "the earlier writer's change is the next number, not one below what was read"
    );
    assert_eq!(
        outbox_status(db, second.id.as_uuid(), cursor + 1).await,
        Some("submitting".to_owned())
    );
    assert_eq!(
        outbox_status(db, first.id.as_uuid(), cursor + 2).await,
        Some("queued".to_owned())
    );
    let raw = db.raw().await;
    assert_eq!(
        count(&raw, "transfer_changes", Expr::col("seq").lte(0)).await,
        0,
        "no committed change keeps a placeholder"
    );
}

/// Writers in parallel and a reader following them with its cursor: the reader meets every
/// number once, in order, and every change's outbox row carries its number.
async fn a_reader_following_concurrent_writers_meets_every_number_once(db: &TestDb) {
    const WRITERS: usize = 8;
    const EACH: usize = 10;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    deposit(&store, link, account, &format!("w{w}-{i}")).await;
                }
            })
        })
        .collect();
    let mut cursor = 0;
    let mut seen = Vec::new();
    for _ in 0..4000 {
        let page = read_on(&store, account, cursor).await;
        if let Some((seq, _, _)) = page.last() {
            cursor = *seq;
        }
        seen.extend(page);
        if seen.len() == WRITERS * EACH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen.len(), WRITERS * EACH, "every create was read");
    let transfers: HashSet<_> = seen.iter().map(|(_, id, _)| *id).collect();
    assert_eq!(transfers.len(), WRITERS * EACH, "each create once");
    assert!(read_on(&store, account, cursor).await.is_empty());
    for (seq, transfer, status) in &seen {
        assert_eq!(
            outbox_status(db, *transfer, *seq).await.as_deref(),
            Some(status.to_ascii_lowercase().as_str()),
            "change {seq} has its outbox row"
        );
    }
}

/// PostgreSQL: undoing migration 000020 (and any later one) numbers the committed changes still
/// under placeholders, with their outbox rows, for the code before it, which never reads one.
async fn undoing_000020_numbers_what_is_left_under_placeholders(db: &TestDb) {
    use migration::MigratorTrait as _;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut created = Vec::new();
    for key in ["a", "b", "c"] {
        created.push(deposit(&store, link, account, key).await.id.as_uuid());
    }
    let raw = db.raw().await;
    assert_eq!(
        count(&raw, "transfer_changes", Expr::col("seq").lt(0)).await,
        3,
        "nothing has read numbers yet"
    );
    let all = funding_store::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == "m20261207_000020_number_changes_after_commit")
        .expect("migration 000020");
    let from_000020 = u32::try_from(all.len() - at).unwrap();
    funding_store::Migrator::down(&raw, Some(from_000020))
        .await
        .unwrap();
    assert_eq!(
        count(&raw, "transfer_changes", Expr::col("seq").lt(0)).await,
        0
    );
    let seen = read_on(&store, account, 0).await;
    let order: Vec<_> = seen.iter().map(|(_, id, _)| *id).collect();
    assert_eq!(order, created, "numbered in the order they were written");
    for (seq, transfer, _) in &seen {
        assert_eq!(
            outbox_status(db, *transfer, *seq).await.as_deref(),
            Some("submitting")
        );
    }
    funding_store::Migrator::up(&raw, None).await.unwrap();
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_change_written_earlier_but_committed_later_takes_the_next_number() {
        let db = crate::support::TestDb::postgres().await;
        super::a_change_written_earlier_but_committed_later_takes_the_next_number(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn undoing_000020_numbers_what_is_left_under_placeholders() {
        let db = crate::support::TestDb::postgres().await;
        super::undoing_000020_numbers_what_is_left_under_placeholders(&db).await;
    }
}

on_both_backends!(a_reader_following_concurrent_writers_meets_every_number_once);
