//! The work queue: claims are leases measured by the database's clock, fenced by a generation that
//! grows with every claim; work is handed to one owner at a time, oldest first, one per ordering key.
//! Leases here are real time (the database's clock), so the tests that wait one out sleep.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use funding_core::ports::{
    BankLinkStore as _, ClaimedWork, LinkSecretStore as _, NewWork, StoreError, WorkKind,
    WorkQueue as _,
};
use funding_domain::{AccessToken, PlaidItemId, ProcessorToken};
use funding_store::Store;
use uuid::Uuid;

use crate::support::{LEASE, TestDb, account, created_link};

const SHORT: Duration = Duration::from_millis(200);

fn work(kind: WorkKind, ordering_key: Option<&str>) -> NewWork {
    NewWork {
        kind,
        subject_id: Uuid::new_v4(),
        ordering_key: ordering_key.map(str::to_owned),
        max_attempts: 3,
    }
}

async fn due(store: &Store, owner: &str) -> Vec<ClaimedWork> {
    store.claim_due(owner, LEASE, 100).await.unwrap()
}

fn subjects(claimed: &[ClaimedWork]) -> Vec<Uuid> {
    claimed.iter().map(|work| work.subject_id).collect()
}

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

async fn retried_work_is_due_after_its_delay_with_its_error(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let first = due(&store, "a").await.remove(0);
    assert!(
        store
            .retry_later(
                &first.claim,
                Duration::from_millis(600),
                "plaid is down",
                Some("PLANNED_MAINTENANCE")
            )
            .await
            .unwrap()
    );
    assert!(
        !store.renew(&first.claim, LEASE).await.unwrap(),
        "the claim was given back"
    );
    assert!(due(&store, "b").await.is_empty(), "not due yet");
    let waiting = store
        .waiting(WorkKind::LinkCreate, link.id.as_uuid())
        .await
        .unwrap()
        .expect("pending work says where it stands");
    assert_eq!(waiting.attempts, 1);
    assert_eq!(waiting.last_error.as_deref(), Some("plaid is down"));
    assert_eq!(
        waiting.last_error_code.as_deref(),
        Some("PLANNED_MAINTENANCE")
    );
    assert!(!waiting.claimed);
    assert_eq!(waiting.behind, None, "first of its order");
    assert!(waiting.due_at > chrono::Utc::now(), "due after its delay");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "caller", LEASE)
            .await
            .unwrap()
            .is_none(),
        "a caller's repeat (the fast path) does not cut the backoff short"
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.pending, vec![(WorkKind::LinkCreate, 1)]);

    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = due(&store, "b").await;
    assert_eq!(subjects(&again), vec![link.id.as_uuid()]);
    assert_eq!(again[0].last_error.as_deref(), Some("plaid is down"));
    assert_eq!(again[0].attempt, 2);
    assert_eq!(again[0].claim.owner, "b");
}

async fn given_up_work_ends_failed(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let other = work(WorkKind::TransferSubmit, None);
    store.enqueue(other.clone()).await.unwrap();

    let stats = store.stats().await.unwrap();
    let mut pending = stats.pending.clone();
    pending.sort_by_key(|(kind, _)| kind.as_str());
    assert_eq!(
        pending,
        vec![(WorkKind::LinkCreate, 1), (WorkKind::TransferSubmit, 1)]
    );
    assert!(stats.failed.is_empty());
    assert!(stats.oldest_pending_age.is_some());

    let claimed = store
        .claim(WorkKind::LinkCreate, link.id.as_uuid(), "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(store.give_up(&claimed.claim, "exhausted").await.unwrap());
    assert!(!store.give_up(&claimed.claim, "exhausted").await.unwrap());
    assert!(!store.finish(&claimed.claim).await.unwrap(), "it ended");
    assert!(
        store
            .claim(WorkKind::LinkCreate, link.id.as_uuid(), "b", LEASE)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        subjects(&due(&store, "b").await),
        vec![other.subject_id],
        "only the other work is left"
    );

    let stats = store.stats().await.unwrap();
    assert_eq!(stats.failed, vec![(WorkKind::LinkCreate, 1)]);
    assert_eq!(stats.pending, vec![(WorkKind::TransferSubmit, 1)]);
}

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

async fn enqueue_leaves_pending_work_alone_and_re_arms_ended_work(db: &TestDb) {
    let store = db.store().await;
    let new = work(WorkKind::PlaidItemRemove, None);
    store.enqueue(new.clone()).await.unwrap();
    let held = due(&store, "a").await.remove(0);

    store.enqueue(new.clone()).await.unwrap();
    assert!(
        due(&store, "b").await.is_empty(),
        "the claim survives a repeat"
    );
    assert!(store.renew(&held.claim, LEASE).await.unwrap());
    assert_eq!(
        store.stats().await.unwrap().pending,
        vec![(WorkKind::PlaidItemRemove, 1)],
        "still one piece of work"
    );

    assert!(
        store
            .retry_later(&held.claim, Duration::from_millis(300), "boom", None)
            .await
            .unwrap()
    );
    store.enqueue(new.clone()).await.unwrap();
    assert!(
        due(&store, "b").await.is_empty(),
        "a repeat does not make pending work due early"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;

    let held = store
        .claim(new.kind, new.subject_id, "a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(store.give_up(&held.claim, "exhausted").await.unwrap());
    assert_eq!(
        store.stats().await.unwrap().failed,
        vec![(WorkKind::PlaidItemRemove, 1)]
    );
    store.enqueue(new.clone()).await.unwrap();
    let stats = store.stats().await.unwrap();
    assert!(stats.failed.is_empty(), "re-armed");
    assert_eq!(stats.pending, vec![(WorkKind::PlaidItemRemove, 1)]);
    let again = due(&store, "b").await;
    assert_eq!(subjects(&again), vec![new.subject_id]);
    assert_eq!(again[0].attempt, 1, "attempts start over");
    assert_eq!(again[0].last_error, None);
    assert!(again[0].claim.generation > held.claim.generation);

    assert!(store.finish(&again[0].claim).await.unwrap());
    store.enqueue(new.clone()).await.unwrap();
    assert_eq!(subjects(&due(&store, "c").await), vec![new.subject_id]);
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
    retried_work_is_due_after_its_delay_with_its_error,
    given_up_work_ends_failed,
    one_piece_of_work_per_ordering_key_at_a_time,
    concurrent_claimers_never_share_a_piece_of_work,
    enqueue_leaves_pending_work_alone_and_re_arms_ended_work,
);
