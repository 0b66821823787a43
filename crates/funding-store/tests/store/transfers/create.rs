//! Creating a transfer: once per idempotency key (however many begin at once) with its submit
//! work, only over an existing link; amounts read back exactly; a row the domain would refuse read
//! as corrupt; a repeat answered from a read; and one account's work claimed in commit order.

use funding_core::model::Transfer;
use funding_core::ports::{
    Begin, FastStart, NewWork, StoreError, TransferDirection, TransferSaved, TransferStore as _,
    WorkKind, WorkQueue as _,
};
use funding_domain::AlpacaTransferStatus;
use funding_domain::{Amount, BankLinkId};
use funding_store::{TRANSFER_STATUSES, TRANSFER_STATUSES_WITH_REVIEW};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use uuid::Uuid;

use crate::support::transfers::{
    OPERATION, created, deposit, link, new_transfer, provider_id, stored, submitted,
};
use crate::support::{LEASE, TestDb, account, count, t0};

#[test]
fn the_status_check_admits_exactly_the_domain_statuses() {
    let domain: Vec<&str> = AlpacaTransferStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        TRANSFER_STATUSES_WITH_REVIEW.to_vec(),
        domain,
        "a new status needs a migration that widens the CHECK"
    );
    assert!(
        TRANSFER_STATUSES
            .iter()
            .all(|status| TRANSFER_STATUSES_WITH_REVIEW.contains(status))
    );
}

async fn a_new_key_creates_the_transfer_as_given(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (claim, new) = new_transfer(link, account, "k", "100.00", TransferDirection::Deposit);
    let given = new.transfer.clone();
    let Begin::Created(transfer) = store.begin_transfer(claim, new).await.unwrap() else {
        panic!("a new key creates");
    };
    assert_eq!(
        transfer.created_at.timestamp_micros(),
        t0().timestamp_micros()
    );
    assert_eq!(
        transfer,
        Transfer {
            created_at: transfer.created_at,
            updated_at: transfer.updated_at,
            ..given
        }
    );
    assert_eq!(stored(&store, transfer.id).await, transfer);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind")
                .eq(WorkKind::TransferSubmit.as_str())
                .and(Expr::col("subject_id").eq(transfer.id.as_uuid()))
        )
        .await,
        1,
        "its submit work is written with it"
    );
    assert_eq!(
        count(
            &raw,
            "idempotency_records",
            Expr::col("operation").eq(OPERATION)
        )
        .await,
        1
    );
}

async fn amounts_round_trip_exactly(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let raw = db.raw().await;
    for (key, amount) in [("a", "100.00"), ("b", "0.01"), ("c", "10000000.00")] {
        let transfer = created(
            &store,
            link,
            account,
            key,
            amount,
            TransferDirection::Withdrawal,
        )
        .await;
        let back = stored(&store, transfer.id).await;
        assert_eq!(back.amount.to_string(), amount);
        assert_eq!(back.amount, Amount::parse(amount).unwrap());
        assert_eq!(back.direction, TransferDirection::Withdrawal);
        let query = Query::select()
            .column("amount")
            .from("transfers")
            .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
            .to_owned();
        let row = raw.query_one(&query).await.unwrap().unwrap();
        assert_eq!(
            row.try_get::<String>("", "amount").unwrap(),
            amount,
            "stored as the canonical decimal string"
        );
    }
}

async fn a_row_the_domain_would_refuse_is_corrupt(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let raw = db.raw().await;
    let tamper = Query::update()
        .table("transfers")
        .value("amount", "100.001")
        .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
        .to_owned();
    raw.execute(&tamper).await.unwrap();
    assert!(matches!(
        store.get_transfer(transfer.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn twenty_concurrent_begins_with_one_key_create_exactly_one_transfer(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let (claim, new) = new_transfer(
                link,
                account,
                "race-key",
                "100.00",
                TransferDirection::Deposit,
            );
            tokio::spawn(async move { store.begin_transfer(claim, new).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for outcome in futures::future::join_all(tasks).await {
        match outcome
            .expect("task")
            .expect("no task fails, none sees SQLITE_BUSY")
        {
            Begin::Created(transfer) => created.push(transfer),
            Begin::Existing {
                fingerprint,
                resource,
            } => {
                assert_eq!(fingerprint, "race-key:100.00");
                existing.push(resource);
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one Created");
    assert_eq!(existing.len(), 19);
    assert!(existing.iter().all(|transfer| *transfer == created[0]));
    let raw = db.raw().await;
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 1);
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind").eq(WorkKind::TransferSubmit.as_str())
        )
        .await,
        1,
        "one work item"
    );

    // Another payload under the key: the first request's fingerprint and transfer come back.
    let (claim, new) = new_transfer(
        link,
        account,
        "race-key",
        "5.00",
        TransferDirection::Withdrawal,
    );
    match store.begin_transfer(claim, new).await.unwrap() {
        Begin::Existing {
            fingerprint,
            resource,
        } => {
            assert_eq!(fingerprint, "race-key:100.00");
            assert_eq!(resource, created[0]);
        }
        Begin::Created(_) => panic!("the key was used"),
    }
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 1);
}

async fn a_transfer_needs_an_existing_link(db: &TestDb) {
    let store = db.store().await;
    let (claim, new) = new_transfer(
        BankLinkId::generate(),
        account(),
        "k",
        "1.00",
        TransferDirection::Deposit,
    );
    assert!(store.begin_transfer(claim, new).await.is_err());
    let raw = db.raw().await;
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 0);
    assert_eq!(
        count(&raw, "idempotency_records", Expr::value(true)).await,
        0,
        "the claim is rolled back with it"
    );
}

/// A repeat of a create is answered from a read: it neither waits for nor needs the write lock.
/// Here another connection holds SQLite's write lock for the whole call; a repeat that claimed
/// its key in a write transaction would wait out the busy timeout and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_is_answered_while_another_writer_holds_the_database() {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait as _};
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let first = deposit(&store, link, account, "repeat-me").await;

    let raw = db.raw().await;
    let holder = raw
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .unwrap();
    let (claim, new) = new_transfer(
        link,
        account,
        "repeat-me",
        "100.00",
        TransferDirection::Deposit,
    );
    match store.begin_transfer(claim, new).await.unwrap() {
        Begin::Existing {
            fingerprint,
            resource,
        } => {
            assert_eq!(resource.id, first.id);
            assert_eq!(fingerprint, "repeat-me:100.00");
        }
        Begin::Created(_) => panic!("a repeat created a second transfer"),
    }
    holder.rollback().await.unwrap();
}

/// Sessions of this test's database that are waiting on a lock.
async fn waiting_on_a_lock(raw: &DatabaseConnection) -> i64 {
    let row = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// On PostgreSQL two transactions of one account can commit in the other order than they started.
/// Here the older transfer's transaction is held open after it wrote its work (its change-log
/// append waits on a lock this test holds), and a newer piece of work of the same account is
/// enqueued and claimed meanwhile. The newer must not be claimable while the older is pending,
/// which it was when order was `created_at_ms`: the older was still invisible, so two submits of
/// one account ran at once and a withdrawal was checked against cash the other was spending.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_of_one_account_is_claimed_in_commit_order_on_postgres() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let key = format!("alpaca:account:{account}");
    let (claim, mut new) = new_transfer(
        link,
        account,
        "older",
        "60.00",
        TransferDirection::Withdrawal,
    );
    new.work.ordering_key = Some(key.clone());
    let older = new.transfer.id;

    let blocker = db.raw().await;
    blocker
        .execute_unprepared("BEGIN; LOCK TABLE transfer_changes IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let watcher = db.raw().await;

    let begin = tokio::spawn({
        let store = store.clone();
        async move { store.begin_transfer(claim, new).await }
    });
    while waiting_on_a_lock(&watcher).await < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let newer = NewWork {
        kind: WorkKind::TransferSubmit,
        subject_id: Uuid::new_v4(),
        ordering_key: Some(key),
        max_attempts: 5,
    };
    let newer_subject = newer.subject_id;
    let jump = tokio::spawn({
        let store = store.clone();
        async move {
            store.enqueue(newer).await?;
            store
                .claim(WorkKind::TransferSubmit, newer_subject, "newer", LEASE)
                .await
        }
    });
    // Either the newer is held back until the older commits (it waits on a lock), or it ran ahead.
    while !jump.is_finished() && waiting_on_a_lock(&watcher).await < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    blocker.execute_unprepared("COMMIT").await.unwrap();

    assert!(matches!(begin.await.unwrap().unwrap(), Begin::Created(_)));
    assert!(
        jump.await.unwrap().unwrap().is_none(),
        "the newer work of the account was claimed while the older was pending"
    );
    assert!(
        store
            .claim(WorkKind::TransferSubmit, older.as_uuid(), "older", LEASE)
            .await
            .unwrap()
            .is_some(),
        "the older is first"
    );
}

/// The create's first commit claims its work and stores the request mark only when the work heads
/// its ordering key; the second stores Alpaca's answer and finishes the work together.
async fn a_create_in_two_commits_claims_marks_and_finishes_only_in_order(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let keyed = |key: &str| {
        let (claim, mut new) =
            new_transfer(link, account, key, "100.00", TransferDirection::Deposit);
        new.work.ordering_key = Some(funding_core::ports::alpaca_account_key(account));
        (claim, new)
    };
    let start = || FastStart {
        owner: "fast".into(),
        lease: LEASE,
        send: Some((t0(), None)),
    };
    let (claim, new) = keyed("first");
    let first = store
        .begin_transfer_claimed(claim, new, start())
        .await
        .unwrap();
    let Begin::Created(transfer) = first.begin else {
        panic!("a new key creates")
    };
    let work = first.claimed.expect("the account's only work is claimed");
    assert!(first.marked);
    assert_eq!(work.attempt, 1);
    assert_eq!(
        stored(&store, transfer.id)
            .await
            .submit_requested_at
            .map(|at| at.timestamp_micros()),
        Some(t0().timestamp_micros()),
        "the request mark is in the first commit"
    );
    // A second transfer of the account while the first's work is pending: written, not claimed,
    // not marked.
    let (claim, new) = keyed("second");
    let second = store
        .begin_transfer_claimed(claim, new, start())
        .await
        .unwrap();
    let Begin::Created(behind) = second.begin else {
        panic!("a new key creates")
    };
    assert!(second.claimed.is_none() && !second.marked);
    assert_eq!(stored(&store, behind.id).await.submit_requested_at, None);
    // A stale claim cannot store the answer, and nothing of it is kept.
    let stale = funding_core::ports::Claim {
        generation: work.claim.generation + 1,
        ..work.claim.clone()
    };
    assert!(matches!(
        store
            .save_submitted_and_finish(&stale, transfer.id, provider_id(), submitted(t0()))
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(
        stored(&store, transfer.id).await.status,
        AlpacaTransferStatus::Submitting
    );
    // The second commit: the answer and the work's end together; then the next work is free.
    assert_eq!(
        store
            .save_submitted_and_finish(&work.claim, transfer.id, provider_id(), submitted(t0()))
            .await
            .unwrap(),
        TransferSaved::Saved
    );
    assert_eq!(
        stored(&store, transfer.id).await.status,
        AlpacaTransferStatus::Queued
    );
    assert!(
        !store.finish(&work.claim).await.unwrap(),
        "the work was finished with the answer"
    );
    assert!(
        store
            .claim(WorkKind::TransferSubmit, behind.id.as_uuid(), "next", LEASE)
            .await
            .unwrap()
            .is_some(),
        "the account's next work heads its order now"
    );
}

on_both_backends!(
    a_create_in_two_commits_claims_marks_and_finishes_only_in_order,
    a_new_key_creates_the_transfer_as_given,
    amounts_round_trip_exactly,
    a_row_the_domain_would_refuse_is_corrupt,
    twenty_concurrent_begins_with_one_key_create_exactly_one_transfer,
    a_transfer_needs_an_existing_link,
);
