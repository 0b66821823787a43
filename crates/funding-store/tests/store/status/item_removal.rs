//! Removing the Plaid item of a link that ends: failing a link with `remove_item` queues the
//! item's removal, and a status move queues it only if it moved.

use funding_core::ports::{
    BankLinkStore as _, LinkStatusStore as _, RelationshipSaved, WorkKind, WorkQueue as _,
};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{
    CancelRequested, Canceled, Creating, Failed, Pending, Queued,
};
use uuid::Uuid;

use crate::support::{
    LEASE, TestDb, account, change, claim_link, created_link, item_removals, saved,
};

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

on_both_backends!(
    failing_a_link_with_remove_item_queues_the_item_removal,
    a_status_move_with_remove_item_queues_the_removal_only_if_it_moved,
);
