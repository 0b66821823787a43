//! Claims: due work claimed once, a generation that grows with every claim, an expired claim taken
//! over and its old owner fenced, a renewed claim outlasting its first lease, and a renewal that
//! never stops the handler holding its row.

use std::sync::Arc;
use std::time::Duration;

use funding_core::ports::{
    BankLinkStore as _, ClaimedWork, LinkSecretStore as _, NewWork, StoreError, WorkKind,
    WorkQueue as _,
};
use funding_domain::{AccessToken, PlaidItemId, ProcessorToken};

use crate::support::work::{SHORT, due, work};
use crate::support::{LEASE, TestDb, account, created_link};

async fn due_work_is_claimed_once(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;

    let claimed = due(&store, "a").await;
    assert_eq!(claimed.len(), 1, "begin_link wrote the link's work");
    let first = &claimed[0];
    assert_eq!(first.kind, WorkKind::LinkCreate);
    assert_eq!(first.subject_id, link.id.as_uuid());
    assert_eq!(first.claim.owner, "a");
    assert_eq!(first.attempt, 1);
    assert_eq!(first.max_attempts, 5);
    assert_eq!(first.last_error, None);
    assert!(!first.is_last_attempt());

    assert!(due(&store, "b").await.is_empty(), "the lease holds");
    assert!(due(&store, "a").await.is_empty(), "even for its holder");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "b", LEASE)
            .await
            .unwrap()
            .is_none(),
        "nor can the fast path take held work"
    );
    assert!(
        store
            .claim(WorkKind::LinkDelete, link.id.as_uuid(), "b", LEASE)
            .await
            .unwrap()
            .is_none(),
        "no such work"
    );
}

async fn the_generation_grows_with_every_claim(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let subject = link.id.as_uuid();

    let first = store
        .claim(WorkKind::LinkCreate, subject, "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .retry_later(&first.claim, Duration::ZERO, "try again", None)
            .await
            .unwrap()
    );
    let second = store
        .claim(WorkKind::LinkCreate, subject, "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.claim.work_id, first.claim.work_id);
    assert!(second.claim.generation > first.claim.generation);
    assert_eq!(second.attempt, 2);

    assert!(store.finish(&second.claim).await.unwrap());
    store
        .enqueue(NewWork {
            kind: WorkKind::LinkCreate,
            subject_id: subject,
            ordering_key: None,
            max_attempts: 5,
        })
        .await
        .unwrap();
    let third = due(&store, "b").await;
    assert_eq!(third.len(), 1);
    assert!(third[0].claim.generation > second.claim.generation);
}

async fn an_expired_claim_is_taken_over_and_its_old_owner_is_fenced(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let old = store.claim_due("a", SHORT, 10).await.unwrap();
    assert_eq!(old.len(), 1);
    let old = old[0].claim.clone();
    tokio::time::sleep(SHORT + Duration::from_millis(150)).await;

    // Ran out, and nobody took it yet: its writes are refused already.
    let token = ProcessorToken::parse("processor-sandbox-0asd1-a92nc-5f3e4d9b1a7c").unwrap();
    assert!(matches!(
        store.save_processor_token(&old, link.id, &token).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(
        !store.renew(&old, LEASE).await.unwrap(),
        "too late to renew"
    );

    let new = due(&store, "b").await;
    assert_eq!(new.len(), 1, "another owner takes it");
    let new = new[0].claim.clone();
    assert_eq!(new.work_id, old.work_id);
    assert!(new.generation > old.generation);

    assert!(!store.renew(&old, LEASE).await.unwrap());
    assert!(!store.finish(&old).await.unwrap());
    assert!(
        !store
            .retry_later(&old, Duration::ZERO, "late", None)
            .await
            .unwrap()
    );
    assert!(!store.give_up(&old, "late").await.unwrap());

    let access = AccessToken::parse("access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6").unwrap();
    let item = PlaidItemId::parse("Ed6bjNrDLJfGvZWwnkQlfxwoNz54B5C97ejBr").unwrap();
    assert!(matches!(
        store.save_processor_token(&old, link.id, &token).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store.save_exchange(&old, link.id, &access, &item).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store.mark_exchange_requested(&old, link.id, None).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store.forget_tokens(&old, link.id).await,
        Err(StoreError::Fenced(_))
    ));
    let secrets = store.link_secrets(link.id).await.unwrap();
    assert!(secrets.processor_token.is_none() && secrets.access_token.is_none());
    assert!(
        secrets.public_token.is_some(),
        "the old owner forgot nothing"
    );
    assert_eq!(store.get_link(link.id).await.unwrap().unwrap(), link);

    // The new owner's writes go through, and the work is still the new owner's.
    store
        .save_processor_token(&new, link.id, &token)
        .await
        .unwrap();
    assert_eq!(
        store.link_secrets(link.id).await.unwrap().processor_token,
        Some(token)
    );
    assert!(store.renew(&new, LEASE).await.unwrap());
    assert!(store.finish(&new).await.unwrap());
    assert!(!store.finish(&new).await.unwrap(), "finished once");
}

async fn a_renewed_claim_outlasts_its_first_lease(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let lease = Duration::from_millis(400);
    let held = store.claim_due("a", lease, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    let held = held[0].claim.clone();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.renew(&held, Duration::from_secs(5)).await.unwrap());
    tokio::time::sleep(lease).await;

    assert!(due(&store, "b").await.is_empty(), "still held");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "b", LEASE)
            .await
            .unwrap()
            .is_none()
    );
    store
        .mark_exchange_requested(&held, link.id, Some(crate::support::t0()))
        .await
        .expect("the holder still writes");
    assert!(
        store
            .get_link(link.id)
            .await
            .unwrap()
            .unwrap()
            .exchange_requested_at
            .is_some()
    );
    assert!(store.renew(&held, LEASE).await.unwrap());
}

/// A handler whose write holds its work's row (as every fenced write does, until it commits) while
/// the claim's renewal comes due. The renewal waits on that row; if the engine stopped polling the
/// handler while it renewed, the handler could never commit and both would wait for ever. The
/// handler here holds the row with a transaction of its own across two renewal periods.
struct HoldsItsRow {
    raw: sea_orm::DatabaseConnection,
    done: tokio::sync::mpsc::UnboundedSender<()>,
}

#[async_trait::async_trait]
impl funding_core::engine::WorkHandler for HoldsItsRow {
    async fn run(&self, work: &ClaimedWork) -> funding_core::engine::Attempt {
        use sea_orm::ConnectionTrait as _;
        self.raw
            .execute_unprepared(&format!(
                "BEGIN; UPDATE work_items SET updated_at_ms = updated_at_ms WHERE id = '{}'",
                work.claim.work_id
            ))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        self.raw.execute_unprepared("COMMIT").await.unwrap();
        let _ = self.done.send(());
        funding_core::engine::Attempt::Done
    }

    async fn give_up(&self, _: &ClaimedWork, _: &str) -> funding_core::engine::Attempt {
        funding_core::engine::Attempt::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewal_never_stops_the_handler_that_holds_its_row_on_postgres() {
    let db = TestDb::postgres().await;
    let store = Arc::new(db.store().await);
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let engine = funding_core::engine::Engine::new(
        store.clone(),
        funding_core::engine::EngineSettings {
            lease: Duration::from_millis(300),
            ..funding_core::engine::EngineSettings::default()
        },
    );
    engine.register(
        WorkKind::BankTransferSubmit,
        Arc::new(HoldsItsRow {
            raw: db.raw().await,
            done,
        }),
    );
    let work = work(WorkKind::BankTransferSubmit, None);
    store.enqueue(work.clone()).await.unwrap();
    let attempt = tokio::time::timeout(
        Duration::from_secs(20),
        engine.drive_now(WorkKind::BankTransferSubmit, work.subject_id),
    )
    .await
    .expect("the handler and its claim's renewal waited on each other");
    assert!(matches!(
        attempt.unwrap(),
        Some(funding_core::engine::Attempt::Done)
    ));
    assert!(finished.recv().await.is_some());
}

on_both_backends!(
    due_work_is_claimed_once,
    the_generation_grows_with_every_claim,
    an_expired_claim_is_taken_over_and_its_old_owner_is_fenced,
    a_renewed_claim_outlasts_its_first_lease,
);
