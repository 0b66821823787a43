//! Work that fails: retried work due after its delay with its error, given-up work ended failed,
//! and an enqueue that leaves pending work alone and re-arms ended work.

use std::time::Duration;

use funding_core::ports::{WorkKind, WorkQueue as _};

use crate::support::work::{due, subjects, work};
use crate::support::{LEASE, TestDb, account, created_link};

async fn retried_work_is_due_after_its_delay_with_its_error(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let first = due(&store, "a").await.remove(0);
    assert!(
        store
            .retry_later(
                &first.claim,
                Duration::from_millis(600),
                "plaid is down",
                Some("PLANNED_MAINTENANCE")
            )
            .await
            .unwrap()
    );
    assert!(
        !store.renew(&first.claim, LEASE).await.unwrap(),
        "the claim was given back"
    );
    assert!(due(&store, "b").await.is_empty(), "not due yet");
    let waiting = store
        .waiting(WorkKind::LinkCreate, link.id.as_uuid())
        .await
        .unwrap()
        .expect("pending work says where it stands");
    assert_eq!(waiting.attempts, 1);
    assert_eq!(waiting.last_error.as_deref(), Some("plaid is down"));
    assert_eq!(
        waiting.last_error_code.as_deref(),
        Some("PLANNED_MAINTENANCE")
    );
    assert!(!waiting.claimed);
    assert_eq!(waiting.behind, None, "first of its order");
    assert!(waiting.due_at > chrono::Utc::now(), "due after its delay");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "caller", LEASE)
            .await
            .unwrap()
            .is_none(),
        "a caller's repeat (the fast path) does not cut the backoff short"
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.pending, vec![(WorkKind::LinkCreate, 1)]);

    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = due(&store, "b").await;
    assert_eq!(subjects(&again), vec![link.id.as_uuid()]);
    assert_eq!(again[0].last_error.as_deref(), Some("plaid is down"));
    assert_eq!(again[0].attempt, 2);
    assert_eq!(again[0].claim.owner, "b");
}

async fn given_up_work_ends_failed(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let other = work(WorkKind::TransferSubmit, None);
    store.enqueue(other.clone()).await.unwrap();

    let stats = store.stats().await.unwrap();
    let mut pending = stats.pending.clone();
    pending.sort_by_key(|(kind, _)| kind.as_str());
    assert_eq!(
        pending,
        vec![(WorkKind::LinkCreate, 1), (WorkKind::TransferSubmit, 1)]
    );
    assert!(stats.failed.is_empty());
    assert!(stats.oldest_pending_age.is_some());

    let claimed = store
        .claim(WorkKind::LinkCreate, link.id.as_uuid(), "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(store.give_up(&claimed.claim, "exhausted").await.unwrap());
    assert!(!store.give_up(&claimed.claim, "exhausted").await.unwrap());
    assert!(!store.finish(&claimed.claim).await.unwrap(), "it ended");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "b", LEASE)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        subjects(&due(&store, "b").await),
        vec![other.subject_id],
        "only the other work is left"
    );

    let stats = store.stats().await.unwrap();
    assert_eq!(stats.failed, vec![(WorkKind::LinkCreate, 1)]);
    assert_eq!(stats.pending, vec![(WorkKind::TransferSubmit, 1)]);
}

async fn enqueue_leaves_pending_work_alone_and_re_arms_ended_work(db: &TestDb) {
    let store = db.store().await;
    let new = work(WorkKind::PlaidItemRemove, None);
    store.enqueue(new.clone()).await.unwrap();
    let held = due(&store, "a").await.remove(0);

    store.enqueue(new.clone()).await.unwrap();
    assert!(
        due(&store, "b").await.is_empty(),
        "the claim survives a repeat"
    );
    assert!(store.renew(&held.claim, LEASE).await.unwrap());
    assert_eq!(
        store.stats().await.unwrap().pending,
        vec![(WorkKind::PlaidItemRemove, 1)],
        "still one piece of work"
    );

    assert!(
        store
            .retry_later(&held.claim, Duration::from_millis(300), "boom", None)
            .await
            .unwrap()
    );
    store.enqueue(new.clone()).await.unwrap();
    assert!(
        due(&store, "b").await.is_empty(),
        "a repeat does not make pending work due early"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;

    let held = store
        .claim(new.kind, new.subject_id, "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(store.give_up(&held.claim, "exhausted").await.unwrap());
    assert_eq!(
        store.stats().await.unwrap().failed,
        vec![(WorkKind::PlaidItemRemove, 1)]
    );
    store.enqueue(new.clone()).await.unwrap();
    let stats = store.stats().await.unwrap();
    assert!(stats.failed.is_empty(), "re-armed");
    assert_eq!(stats.pending, vec![(WorkKind::PlaidItemRemove, 1)]);
    let again = due(&store, "b").await;
    assert_eq!(subjects(&again), vec![new.subject_id]);
    assert_eq!(again[0].attempt, 1, "attempts start over");
    assert_eq!(again[0].last_error, None);
    assert!(again[0].claim.generation > held.claim.generation);

    assert!(store.finish(&again[0].claim).await.unwrap());
    store.enqueue(new.clone()).await.unwrap();
    assert_eq!(subjects(&due(&store, "c").await), vec![new.subject_id]);
}

on_both_backends!(
    retried_work_is_due_after_its_delay_with_its_error,
    given_up_work_ends_failed,
    enqueue_leaves_pending_work_alone_and_re_arms_ended_work,
);
