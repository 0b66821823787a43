//! Status moves: conditional on the stored status, recorded in the history in the same transaction,
//! and idempotent per provider event.

use funding_core::ports::{BankLinkStore as _, StatusChange, StoreError};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{Approved, Creating, Failed, Queued};
use uuid::Uuid;

use crate::support::{TestDb, account, change, created_link, history_count, seconds, t0};

async fn a_move_from_the_stored_status_applies_and_is_recorded(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let mut failing = change(Creating, Failed, None);
    failing.reason = Some("the public token expired".into());
    failing.source = "api".into();
    let moved = store
        .change_link_status(link.id, failing, Some("INVALID_PUBLIC_TOKEN".into()))
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
}

async fn a_move_from_a_stale_status_changes_nothing(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let moved = store
        .change_link_status(link.id, change(Queued, Approved, Some("01HEVENT")), None)
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
    assert!(
        store
            .save_relationship(
                link.id,
                relationship,
                "Alex Doe",
                change(Creating, Queued, None)
            )
            .await
            .unwrap()
    );
    let approve = change(Queued, Approved, Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM"));
    assert!(
        store
            .change_link_status(link.id, approve.clone(), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_link_status(link.id, approve, None)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(Approved, Approved, Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM"));
    assert!(
        !store
            .change_link_status(link.id, replay, None)
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
    assert!(
        store
            .save_relationship(
                link.id,
                relationship,
                "Alex Doe",
                change(Creating, Queued, None)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .change_link_status(link.id, change(Queued, Approved, None), None)
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
                    .change_link_status(link.id, change(Creating, Failed, Some(&event)), None)
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
    store
        .mark_relationship_requested(link.id, t0() + seconds(1))
        .await
        .unwrap();
    let queued = StatusChange {
        source: "alpaca:create".into(),
        ..change(Creating, Queued, None)
    };
    assert!(
        store
            .save_relationship(link.id, relationship, "Alex Doe", queued.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_relationship(link.id, relationship, "Alex Doe", queued)
            .await
            .unwrap(),
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
    assert!(
        store
            .save_relationship(first.id, relationship, "A", change(Creating, Queued, None))
            .await
            .unwrap()
    );
    let error = store
        .save_relationship(second.id, relationship, "A", change(Creating, Queued, None))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Other(_)), "{error:?}");
    let second = store.get_link(second.id).await.unwrap().unwrap();
    assert_eq!(second.status, Creating);
    assert_eq!(second.ach_relationship_id, None);
    assert_eq!(history_count(&db.raw().await, second.id).await, 0);
}

async fn moves_on_a_missing_link_change_nothing(db: &TestDb) {
    let store = db.store().await;
    let missing = funding_domain::BankLinkId::generate();
    assert!(
        !store
            .change_link_status(missing, change(Creating, Failed, Some("e")), None)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.mark_relationship_requested(missing, t0()).await,
        Err(StoreError::NotFound(_))
    ));
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
);
