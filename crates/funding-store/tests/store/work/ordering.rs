//! Who gets which work: one piece per ordering key at a time, and concurrent claimers never sharing
//! a piece.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use funding_core::ports::{StoreError, WorkKind, WorkQueue as _};

use crate::support::work::{due, subjects, work};
use crate::support::{LEASE, TestDb};

async fn one_piece_of_work_per_ordering_key_at_a_time(db: &TestDb) {
    let store = db.store().await;
    let older = work(WorkKind::LinkCreate, Some("alpaca:account:1"));
    let newer = work(WorkKind::LinkCreate, Some("alpaca:account:1"));
    let elsewhere = work(WorkKind::LinkCreate, Some("alpaca:account:2"));
    for work in [&older, &newer, &elsewhere] {
        store.enqueue(work.clone()).await.unwrap();
    }

    let claimed = due(&store, "a").await;
    let mut got = subjects(&claimed);
    got.sort();
    let mut expected = vec![older.subject_id, elsewhere.subject_id];
    expected.sort();
    assert_eq!(got, expected, "the newer waits behind the older");
    assert!(
        store
            .claim(WorkKind::LinkCreate, newer.subject_id, "b", LEASE)
            .await
            .unwrap()
            .is_none(),
        "not even the fast path jumps the queue"
    );
    let older_claim = claimed
        .iter()
        .find(|work| work.subject_id == older.subject_id)
        .unwrap()
        .claim
        .clone();

    // Given back for later, the older is still pending: the newer still waits.
    assert!(
        store
            .retry_later(&older_claim, Duration::from_millis(300), "later", None)
            .await
            .unwrap()
    );
    assert!(due(&store, "b").await.is_empty());
    assert!(
        store
            .claim(WorkKind::LinkCreate, newer.subject_id, "b", LEASE)
            .await
            .unwrap()
            .is_none()
    );

    // Once the older is due again the fast path takes it, and once it is finished the newer is next.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let older_again = store
        .claim(WorkKind::LinkCreate, older.subject_id, "a", LEASE)
        .await
        .unwrap()
        .expect("the head of its order");
    assert!(store.finish(&older_again.claim).await.unwrap());
    assert_eq!(subjects(&due(&store, "b").await), vec![newer.subject_id]);
}

async fn concurrent_claimers_never_share_a_piece_of_work(db: &TestDb) {
    let store = db.store().await;
    let mut all = HashSet::new();
    for _ in 0..20 {
        let work = work(WorkKind::LinkCreate, None);
        all.insert(work.subject_id);
        store.enqueue(work).await.unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let owner = format!("replica-{i}");
                barrier.wait().await;
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim_due(&owner, LEASE, 2).await?;
                    if claimed.is_empty() {
                        break;
                    }
                    assert!(claimed.iter().all(|work| work.claim.owner == owner));
                    mine.extend(claimed);
                }
                Ok::<_, StoreError>(mine)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut owners = HashSet::new();
    for outcome in futures::future::join_all(tasks).await {
        for work in outcome.expect("task").expect("no claim fails") {
            total += 1;
            owners.insert(work.claim.owner.clone());
            assert!(
                seen.insert(work.subject_id),
                "{} was handed out twice",
                work.subject_id
            );
        }
    }
    let rest = due(&store, "sweeper").await;
    total += rest.len();
    seen.extend(subjects(&rest));
    assert_eq!(total, 20);
    assert_eq!(seen, all);
    assert!(rest.is_empty(), "the claimers took everything");
}

on_both_backends!(
    one_piece_of_work_per_ordering_key_at_a_time,
    concurrent_claimers_never_share_a_piece_of_work,
);
