//! Leases on CREATING links and the resumer's view of them. Time comes from a clock the tests move.

use funding_core::ports::BankLinkStore as _;
use funding_domain::AchRelationshipStatus::{Creating, Failed};

use crate::support::{ManualClock, TestDb, account, change, created_link, seconds, t0};

async fn a_second_owner_is_refused_until_the_lease_runs_out(db: &TestDb) {
    let clock = ManualClock::at(t0());
    let store = db.store().await.with_clock(clock.clone());
    let link = created_link(&store, account(), "k").await;
    let until = t0() + seconds(30);

    assert!(store.lease_link(link.id, "replica-a", until).await.unwrap());
    assert!(
        !store
            .lease_link(link.id, "replica-b", t0() + seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .lease_link(link.id, "replica-a", t0() + seconds(60))
            .await
            .unwrap(),
        "a held lease is not taken again, even by its holder"
    );

    clock.set(until - chrono::TimeDelta::microseconds(1));
    assert!(
        !store
            .lease_link(link.id, "replica-b", t0() + seconds(60))
            .await
            .unwrap()
    );
    clock.set(until);
    assert!(
        store
            .lease_link(link.id, "replica-b", t0() + seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .lease_link(link.id, "replica-a", t0() + seconds(90))
            .await
            .unwrap()
    );
}

async fn a_released_lease_can_be_taken_at_once(db: &TestDb) {
    let store = db.store().await.with_clock(ManualClock::at(t0()));
    let link = created_link(&store, account(), "k").await;
    assert!(
        store
            .lease_link(link.id, "replica-a", t0() + seconds(30))
            .await
            .unwrap()
    );
    store.release_link(link.id, "replica-b").await.unwrap();
    assert!(
        !store
            .lease_link(link.id, "replica-b", t0() + seconds(30))
            .await
            .unwrap(),
        "only the holder releases"
    );
    store.release_link(link.id, "replica-a").await.unwrap();
    assert!(
        store
            .lease_link(link.id, "replica-b", t0() + seconds(30))
            .await
            .unwrap()
    );
}

async fn only_creating_links_are_leased(db: &TestDb) {
    let store = db.store().await.with_clock(ManualClock::at(t0()));
    let link = created_link(&store, account(), "k").await;
    assert!(
        store
            .change_link_status(link.id, change(Creating, Failed, None), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .lease_link(link.id, "replica-a", t0() + seconds(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .lease_link(
                funding_domain::BankLinkId::generate(),
                "replica-a",
                t0() + seconds(30)
            )
            .await
            .unwrap()
    );
}

async fn concurrent_leases_have_one_winner(db: &TestDb) {
    let store = db.store().await.with_clock(ManualClock::at(t0()));
    let link = created_link(&store, account(), "k").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .lease_link(link.id, &format!("replica-{i}"), t0() + seconds(30))
                    .await
            })
        })
        .collect();
    let winners = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().expect("task").as_ref().expect("no error"))
        .count();
    assert_eq!(winners, 1);
}

async fn stale_creating_links_are_those_nobody_holds(db: &TestDb) {
    let store = db.store().await.with_clock(ManualClock::at(t0()));
    let account = account();
    let never_leased = created_link(&store, account, "never").await;
    let held = created_link(&store, account, "held").await;
    let expired = created_link(&store, account, "expired").await;
    let failed = created_link(&store, account, "failed").await;
    let also_never = created_link(&store, account, "also-never").await;
    assert!(
        store
            .lease_link(held.id, "a", t0() + seconds(60))
            .await
            .unwrap()
    );
    assert!(
        store
            .lease_link(expired.id, "a", t0() + seconds(10))
            .await
            .unwrap()
    );
    assert!(
        store
            .change_link_status(failed.id, change(Creating, Failed, None), None)
            .await
            .unwrap()
    );

    let now = t0() + seconds(20);
    let stale: Vec<_> = store
        .stale_creating_links(now, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|link| link.id)
        .collect();
    assert_eq!(
        stale,
        vec![never_leased.id, expired.id, also_never.id],
        "oldest first"
    );

    let first_two: Vec<_> = store
        .stale_creating_links(now, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|link| link.id)
        .collect();
    assert_eq!(first_two, vec![never_leased.id, expired.id]);

    let later = t0() + seconds(60);
    assert_eq!(
        store.stale_creating_links(later, 10).await.unwrap().len(),
        4
    );
}

on_both_backends!(
    a_second_owner_is_refused_until_the_lease_runs_out,
    a_released_lease_can_be_taken_at_once,
    only_creating_links_are_leased,
    concurrent_leases_have_one_winner,
    stale_creating_links_are_those_nobody_holds,
);
