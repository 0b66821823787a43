//! The reconciler's query for links: links waiting on Alpaca, oldest change first.

use funding_core::ports::{
    BankLinkStore as _, LinkStatusStore as _, RelationshipSaved, Unresolved,
};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{Approved, Creating, Failed, Queued};
use uuid::Uuid;

use crate::support::{
    ManualClock, TestDb, account, change, claim_link, created_link, saved, seconds, t0,
};

async fn links_waiting_on_alpaca_are_reconciled_oldest_change_first(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let account = account();
    let creating = created_link(&store, account, "creating").await;
    let mut waiting = Vec::new();
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        let link = created_link(&store, account, key).await;
        let fence = claim_link(&store, link.id).await;
        let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
        let mut queued = change(Creating, Queued, None);
        // Changed at t0+30s, t0+20s, t0+10s: "c" is the oldest change.
        queued.at = t0() + seconds(30 - 10 * i as i64);
        assert_eq!(
            store
                .save_relationship(&fence, link.id, saved(relationship, "A"), queued)
                .await
                .unwrap(),
            RelationshipSaved::Saved
        );
        waiting.push(link.id);
    }
    let failed = created_link(&store, account, "failed").await;
    assert!(
        store
            .change_link_status(failed.id, change(Creating, Failed, None), false)
            .await
            .unwrap()
    );

    let ids = |links: Vec<funding_core::model::BankLink>| -> Vec<_> {
        links.into_iter().map(|link| link.id).collect()
    };
    let before = ids(store
        .links_to_reconcile(t0() + seconds(20), 10)
        .await
        .unwrap());
    assert_eq!(before, vec![waiting[2], waiting[1]], "not moved since");
    clock.set(t0() + seconds(101));
    let all = ids(store
        .links_to_reconcile(t0() + seconds(60), 10)
        .await
        .unwrap());
    assert_eq!(
        all,
        vec![waiting[0], waiting[2], waiting[1]],
        "never looked at first, then by the last look (oldest change first)"
    );
    assert!(!all.contains(&creating.id) && !all.contains(&failed.id));
    clock.set(t0() + seconds(102));
    let limited = ids(store
        .links_to_reconcile(t0() + seconds(60), 1)
        .await
        .unwrap());
    assert_eq!(limited, vec![waiting[2]]);
    clock.set(t0() + seconds(103));
    let next = ids(store
        .links_to_reconcile(t0() + seconds(60), 2)
        .await
        .unwrap());
    assert_eq!(
        next,
        vec![waiting[1], waiting[0]],
        "looked at last at 101 (oldest change first), before c at 102"
    );
    // What the looks found, counted while it holds.
    store
        .record_link_checks(&[
            (waiting[0], Some(Unresolved::Unchanged)),
            (waiting[1], Some(Unresolved::LookupFailed)),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_links().await.unwrap(),
        vec![(Unresolved::Unchanged, 1), (Unresolved::LookupFailed, 1)]
    );
    let mut approved = change(Queued, Approved, Some("e1"));
    approved.at = t0() + seconds(104);
    assert!(
        store
            .change_link_status(waiting[0], approved, false)
            .await
            .unwrap()
    );
    assert_eq!(
        store.unresolved_links().await.unwrap(),
        vec![(Unresolved::LookupFailed, 1)]
    );
}

on_both_backends!(links_waiting_on_alpaca_are_reconciled_oldest_change_first,);
