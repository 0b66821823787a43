//! A link's status moves: conditional on the stored status, recorded in the history, applied once
//! per provider event (and however many move at once), nothing moved on a missing link, and the
//! fenced writes refused without a held claim.

use funding_core::ports::{
    BankLinkStore as _, LinkSecretStore as _, LinkStatusStore as _, RelationshipSaved, StoreError,
    WorkQueue as _,
};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{Approved, Creating, Failed, Queued};
use uuid::Uuid;

use crate::support::{
    TestDb, account, change, claim_for, claim_link, created_link, history_count, item_removals,
    saved, seconds, t0,
};

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

on_both_backends!(
    a_move_from_the_stored_status_applies_and_is_recorded,
    a_move_from_a_stale_status_changes_nothing,
    an_event_applied_twice_moves_once_and_is_recorded_once,
    moves_without_event_ids_are_all_recorded,
    concurrent_moves_from_one_status_apply_once,
    moves_on_a_missing_link_change_nothing,
    fenced_status_writes_need_a_held_claim,
);
