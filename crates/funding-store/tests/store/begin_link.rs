//! Creating a link under an idempotency key: the first claim creates, every later or concurrent one
//! gets the first link and the first request's fingerprint, and only one link row ever exists.

use funding_core::ports::{BankLinkStore as _, Begin};
use sea_orm::sea_query::{Expr, ExprTrait as _};

use crate::support::{TestDb, account, count, new_link};

async fn a_new_key_creates_the_link_as_given(db: &TestDb) {
    let store = db.store().await;
    let (claim, new) = new_link(account(), "key-1");
    let expected = new.link.clone();
    let Begin::Created(link) = store.begin_link(claim, new).await.unwrap() else {
        panic!("a new key creates");
    };
    assert_eq!(link.id, expected.id);
    assert_eq!(link.nickname, expected.nickname);
    assert_eq!(link.status, expected.status);
    assert_eq!(
        link.created_at.timestamp_micros(),
        expected.created_at.timestamp_micros()
    );
    assert_eq!(store.get_link(link.id).await.unwrap(), Some(link));
}

async fn a_second_begin_with_the_same_key_returns_the_first_link_and_fingerprint(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let (claim, new) = new_link(account, "key-1");
    let Begin::Created(first) = store.begin_link(claim, new).await.unwrap() else {
        panic!("first creates");
    };
    let (mut claim, again) = new_link(account, "key-1");
    claim.fingerprint = "a different request".into();
    assert_ne!(again.link.id, first.id);
    let second = store.begin_link(claim, again).await.unwrap();
    assert_eq!(
        second,
        Begin::Existing {
            fingerprint: "fingerprint-of-key-1".into(),
            resource: first.clone()
        }
    );
    let raw = db.raw().await;
    assert_eq!(count(&raw, "bank_links", Expr::value(true)).await, 1);
}

async fn the_same_key_from_another_caller_is_another_link(db: &TestDb) {
    let store = db.store().await;
    let (claim, new) = new_link(account(), "shared-key");
    assert!(matches!(
        store.begin_link(claim, new).await.unwrap(),
        Begin::Created(_)
    ));
    let (mut claim, mut new) = new_link(account(), "shared-key");
    claim.caller = "another-service".into();
    new.link.caller = "another-service".into();
    assert!(matches!(
        store.begin_link(claim, new).await.unwrap(),
        Begin::Created(_)
    ));
}

async fn sixteen_concurrent_begins_with_one_key_create_exactly_one_link(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let (claim, new) = new_link(account, "race-key");
            tokio::spawn(async move { store.begin_link(claim, new).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for outcome in futures::future::join_all(tasks).await {
        match outcome
            .expect("task")
            .expect("no task fails, none sees SQLITE_BUSY")
        {
            Begin::Created(link) => created.push(link),
            Begin::Existing {
                fingerprint,
                resource,
            } => {
                assert_eq!(fingerprint, "fingerprint-of-race-key");
                existing.push(resource);
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one Created");
    assert_eq!(existing.len(), 15);
    assert!(existing.iter().all(|link| *link == created[0]));
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "bank_links",
            Expr::col("idempotency_key").eq("race-key")
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &raw,
            "idempotency_records",
            Expr::col("idempotency_key").eq("race-key")
        )
        .await,
        1
    );
}

async fn a_claim_that_disagrees_with_its_link_is_refused(db: &TestDb) {
    let store = db.store().await;
    let (mut claim, new) = new_link(account(), "key-1");
    claim.key = "key-2".into();
    store
        .begin_link(claim, new)
        .await
        .expect_err("claim and link must name the same key");
}

on_both_backends!(
    a_new_key_creates_the_link_as_given,
    a_second_begin_with_the_same_key_returns_the_first_link_and_fingerprint,
    the_same_key_from_another_caller_is_another_link,
    sixteen_concurrent_begins_with_one_key_create_exactly_one_link,
    a_claim_that_disagrees_with_its_link_is_refused,
);
