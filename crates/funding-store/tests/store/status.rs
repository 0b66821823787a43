//! Status moves: conditional on the stored status, recorded in the history in the same transaction,
//! and idempotent per provider event.

use funding_core::ports::{
    BankLinkStore as _, LinkSecretStore as _, LinkStatusStore as _, RelationshipSaved,
    StatusChange, StoreError, Unresolved, WorkKind, WorkQueue as _,
};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{
    Approved, CancelRequested, Canceled, Creating, Failed, Pending, Queued,
};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use uuid::Uuid;

use crate::support::{
    LEASE, ManualClock, TestDb, account, change, claim_for, claim_link, count, created_link,
    history_count, saved, seconds, t0,
};

/// The `plaid_item_remove` work of `link`, if any (of any state).
async fn item_removals(db: &TestDb, link: funding_domain::BankLinkId) -> i64 {
    count(
        &db.raw().await,
        "work_items",
        Expr::col("kind")
            .eq(WorkKind::PlaidItemRemove.as_str())
            .and(Expr::col("subject_id").eq(link.as_uuid())),
    )
    .await
}

async fn a_move_from_the_stored_status_applies_and_is_recorded(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let mut failing = change(Creating, Failed, None);
    failing.reason = Some("the public token expired".into());
    failing.source = "api".into();
    let fence = claim_link(&store, link.id).await;
    let moved = store
        .fail_link(
            &fence,
            link.id,
            failing,
            "INVALID_PUBLIC_TOKEN".into(),
            false,
        )
        .await
        .unwrap();
    assert!(moved);
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Failed);
    assert_eq!(
        stored.status_reason.as_deref(),
        Some("the public token expired")
    );
    assert_eq!(stored.failure_code.as_deref(), Some("INVALID_PUBLIC_TOKEN"));
    assert_eq!(
        stored.updated_at.timestamp_micros(),
        (t0() + seconds(5)).timestamp_micros()
    );
    assert_eq!(history_count(&db.raw().await, link.id).await, 1);
    assert!(
        store
            .link_secrets(link.id)
            .await
            .unwrap()
            .public_token
            .is_none(),
        "a failed link forgets its public token"
    );
    assert_eq!(item_removals(db, link.id).await, 0, "not asked to");
}

async fn a_move_from_a_stale_status_changes_nothing(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let moved = store
        .change_link_status(link.id, change(Queued, Approved, Some("01HEVENT")), false)
        .await
        .unwrap();
    assert!(!moved, "the link is CREATING, not QUEUED");
    assert_eq!(
        store.get_link(link.id).await.unwrap().unwrap().status,
        Creating
    );
    assert_eq!(history_count(&db.raw().await, link.id).await, 0);
}

async fn an_event_applied_twice_moves_once_and_is_recorded_once(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(relationship, "Alex Doe"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    let approve = change(Queued, Approved, Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM"));
    assert!(
        store
            .change_link_status(link.id, approve.clone(), false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_link_status(link.id, approve, false)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(Approved, Approved, Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM"));
    assert!(
        !store
            .change_link_status(link.id, replay, false)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_link(link.id).await.unwrap().unwrap().status,
        Approved
    );
    assert_eq!(history_count(&db.raw().await, link.id).await, 2);
}

async fn moves_without_event_ids_are_all_recorded(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(relationship, "Alex Doe"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    assert!(
        store
            .change_link_status(link.id, change(Queued, Approved, None), false)
            .await
            .unwrap()
    );
    assert_eq!(history_count(&db.raw().await, link.id).await, 2);
}

async fn concurrent_moves_from_one_status_apply_once(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let event = format!("event-{i}");
            tokio::spawn(async move {
                store
                    .change_link_status(link.id, change(Creating, Failed, Some(&event)), false)
                    .await
            })
        })
        .collect();
    let moved = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("no error"))
        .filter(|moved| *moved)
        .count();
    assert_eq!(moved, 1);
    assert_eq!(history_count(&db.raw().await, link.id).await, 1);
}

async fn saving_the_relationship_moves_a_creating_link_once(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let fence = claim_link(&store, link.id).await;
    store
        .mark_relationship_requested(&fence, link.id, t0() + seconds(1))
        .await
        .unwrap();
    let queued = StatusChange {
        source: "alpaca:create".into(),
        ..change(Creating, Queued, None)
    };
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(relationship, "Alex Doe"),
                queued.clone()
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    assert_eq!(
        store
            .save_relationship(&fence, link.id, saved(relationship, "Alex Doe"), queued)
            .await
            .unwrap(),
        RelationshipSaved::NotCreating,
        "no longer CREATING"
    );

    let found = store
        .find_link_by_relationship(relationship)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, link.id);
    assert_eq!(found.status, Queued);
    assert_eq!(found.ach_relationship_id, Some(relationship));
    assert_eq!(found.account_owner_name.as_deref(), Some("Alex Doe"));
    assert_eq!(found.bank_account_type.as_deref(), Some("CHECKING"));
    assert_eq!(found.bank_account_mask.as_deref(), Some("6789"));
    assert_eq!(
        found
            .relationship_requested_at
            .map(|at| at.timestamp_micros()),
        Some((t0() + seconds(1)).timestamp_micros())
    );
    assert_eq!(history_count(&db.raw().await, link.id).await, 1);
}

async fn a_relationship_already_linked_elsewhere_is_refused_and_nothing_moves(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let first = created_link(&store, account, "k1").await;
    let second = created_link(&store, account, "k2").await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let first_fence = claim_link(&store, first.id).await;
    assert_eq!(
        store
            .save_relationship(
                &first_fence,
                first.id,
                saved(relationship, "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    let second_fence = claim_link(&store, second.id).await;
    let outcome = store
        .save_relationship(
            &second_fence,
            second.id,
            saved(relationship, "B"),
            change(Creating, Queued, None),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RelationshipSaved::HeldByAnother);
    let second = store.get_link(second.id).await.unwrap().unwrap();
    assert_eq!(second.status, Creating);
    assert_eq!(second.ach_relationship_id, None);
    assert_eq!(second.account_owner_name, None);
    assert_eq!(second.bank_account_type, None);
    assert_eq!(history_count(&db.raw().await, second.id).await, 0);
    let first = store.get_link(first.id).await.unwrap().unwrap();
    assert_eq!(first.account_owner_name.as_deref(), Some("A"));
    assert_eq!(
        store
            .find_link_by_relationship(relationship)
            .await
            .unwrap()
            .map(|link| link.id),
        Some(first.id)
    );
    // The second link's claim is still good: it can go on (e.g. fail the link).
    assert!(store.renew(&second_fence, LEASE).await.unwrap());
}

async fn concurrent_saves_of_one_relationship_on_many_links_have_one_winner(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let mut links = Vec::new();
    for i in 0..8 {
        let link = created_link(&store, account, &format!("k{i}")).await;
        let fence = claim_link(&store, link.id).await;
        links.push((link.id, fence));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(links.len()));
    let tasks: Vec<_> = links
        .iter()
        .cloned()
        .map(|(id, fence)| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .save_relationship(
                        &fence,
                        id,
                        saved(relationship, "A"),
                        change(Creating, Queued, None),
                    )
                    .await
            })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("no error"))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RelationshipSaved::Saved)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RelationshipSaved::HeldByAnother)
            .count(),
        7,
        "{outcomes:?}"
    );
    let mut creating = 0;
    for (id, _) in &links {
        let link = store.get_link(*id).await.unwrap().unwrap();
        if link.status == Creating {
            creating += 1;
            assert_eq!(link.ach_relationship_id, None);
            assert_eq!(history_count(&db.raw().await, *id).await, 0);
        }
    }
    assert_eq!(creating, 7);
}

async fn moves_on_a_missing_link_change_nothing(db: &TestDb) {
    let store = db.store().await;
    let missing = funding_domain::BankLinkId::generate();
    assert!(
        !store
            .change_link_status(missing, change(Creating, Failed, Some("e")), true)
            .await
            .unwrap()
    );
    let fence = claim_for(&store, missing.as_uuid()).await;
    assert!(matches!(
        store
            .mark_relationship_requested(&fence, missing, t0())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        !store
            .fail_link(
                &fence,
                missing,
                change(Creating, Failed, None),
                "X".into(),
                true
            )
            .await
            .unwrap()
    );
    assert_eq!(item_removals(db, missing).await, 0);
}

async fn failing_a_link_with_remove_item_queues_the_item_removal(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    assert!(
        store
            .fail_link(
                &fence,
                link.id,
                change(Creating, Failed, None),
                "ITEM_LOGIN_REQUIRED".into(),
                true
            )
            .await
            .unwrap()
    );
    assert_eq!(item_removals(db, link.id).await, 1);
    let removal = store
        .claim(
            WorkKind::PlaidItemRemove,
            link.id.as_uuid(),
            "remover",
            LEASE,
        )
        .await
        .unwrap()
        .expect("the Item's removal is claimable");
    assert_eq!(removal.kind, WorkKind::PlaidItemRemove);
    assert_eq!(removal.subject_id, link.id.as_uuid());
    assert_eq!(removal.attempt, 1);

    // A second fail of the same link moves nothing and queues nothing more.
    assert!(
        !store
            .fail_link(
                &fence,
                link.id,
                change(Creating, Failed, None),
                "AGAIN".into(),
                true
            )
            .await
            .unwrap()
    );
    assert_eq!(item_removals(db, link.id).await, 1);
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.failure_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
}

async fn a_status_move_with_remove_item_queues_the_removal_only_if_it_moved(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(relationship, "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    assert!(
        !store
            .change_link_status(link.id, change(Pending, Canceled, None), true)
            .await
            .unwrap(),
        "not PENDING"
    );
    assert_eq!(item_removals(db, link.id).await, 0);
    assert!(
        store
            .change_link_status(link.id, change(Queued, CancelRequested, None), false)
            .await
            .unwrap()
    );
    assert_eq!(item_removals(db, link.id).await, 0);
    assert!(
        store
            .change_link_status(link.id, change(CancelRequested, Canceled, None), true)
            .await
            .unwrap()
    );
    assert_eq!(item_removals(db, link.id).await, 1);
    assert!(
        store
            .claim(
                WorkKind::PlaidItemRemove,
                link.id.as_uuid(),
                "remover",
                LEASE
            )
            .await
            .unwrap()
            .is_some()
    );
}

async fn fenced_status_writes_need_a_held_claim(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    assert!(store.finish(&fence).await.unwrap());
    // The work ended: its claim fences nothing any more.
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    assert!(matches!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(relationship, "A"),
                change(Creating, Queued, None)
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store
            .fail_link(
                &fence,
                link.id,
                change(Creating, Failed, None),
                "X".into(),
                true
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store
            .mark_relationship_requested(&fence, link.id, t0())
            .await,
        Err(StoreError::Fenced(_))
    ));
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Creating);
    assert_eq!(stored.ach_relationship_id, None);
    assert_eq!(stored.relationship_requested_at, None);
    assert_eq!(history_count(&db.raw().await, link.id).await, 0);
    assert_eq!(item_removals(db, link.id).await, 0);
}

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

on_both_backends!(
    a_move_from_the_stored_status_applies_and_is_recorded,
    a_move_from_a_stale_status_changes_nothing,
    an_event_applied_twice_moves_once_and_is_recorded_once,
    moves_without_event_ids_are_all_recorded,
    concurrent_moves_from_one_status_apply_once,
    saving_the_relationship_moves_a_creating_link_once,
    a_relationship_already_linked_elsewhere_is_refused_and_nothing_moves,
    moves_on_a_missing_link_change_nothing,
    concurrent_saves_of_one_relationship_on_many_links_have_one_winner,
    failing_a_link_with_remove_item_queues_the_item_removal,
    a_status_move_with_remove_item_queues_the_removal_only_if_it_moved,
    fenced_status_writes_need_a_held_claim,
    links_waiting_on_alpaca_are_reconciled_oldest_change_first,
);
