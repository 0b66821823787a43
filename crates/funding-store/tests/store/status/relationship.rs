//! Saving the relationship Alpaca made: a CREATING link moves once, a relationship already linked
//! elsewhere is refused with nothing moved, and of many links saving one relationship at once one
//! wins.

use funding_core::ports::{
    BankLinkStore as _, LinkStatusChange, LinkStatusStore as _, RelationshipSaved, WorkQueue as _,
};
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{Creating, Queued};
use uuid::Uuid;

use crate::support::{
    LEASE, TestDb, account, change, claim_link, created_link, history_count, saved, seconds, t0,
};

async fn saving_the_relationship_moves_a_creating_link_once(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = AchRelationshipId::from_uuid(Uuid::new_v4());
    let fence = claim_link(&store, link.id).await;
    store
        .mark_relationship_requested(&fence, link.id, t0() + seconds(1))
        .await
        .unwrap();
    let queued = LinkStatusChange {
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

on_both_backends!(
    saving_the_relationship_moves_a_creating_link_once,
    a_relationship_already_linked_elsewhere_is_refused_and_nothing_moves,
    concurrent_saves_of_one_relationship_on_many_links_have_one_winner,
);
