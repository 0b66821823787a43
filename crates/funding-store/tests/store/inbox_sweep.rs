//! The inbox's upkeep: parked events whose subject is stored come back in one statement, events
//! parked past the grace period are classed foreign (counted, no longer looked for, still brought
//! back by their subject), applied events past the retention are pruned a batch at a time, and a
//! whole sweep is a bounded number of statements however many events wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use funding_core::inbox_sweep::{MAX_STATEMENTS_PER_STEP, SWEEP_BATCH};
use funding_core::ports::{
    FundingEntity, FundingEvent, InboxMark, InboxState, InboxStore as _, IncomingEvent,
    LinkStatusStore as _, RelationshipSaved, TransferStore as _,
};
use funding_core::{InboxSweepSettings, InboxSweeper};
use funding_domain::AccountId;
use funding_domain::AchRelationshipId;
use funding_domain::AchRelationshipStatus::{Creating, Queued};
use funding_store::Store;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use uuid::Uuid;

use crate::support::{
    TestDb, account, change, claim_link, count, created_link, execute, inbox_stats, saved, t0,
    transfers,
};

const STREAM: &str = "alpaca:funding_status";
const HOUR: Duration = Duration::from_secs(3600);

fn about(id: &str, relationship: Uuid) -> IncomingEvent {
    let event = FundingEvent {
        event_id: id.to_owned(),
        at: t0(),
        account_id: AccountId::from_uuid(Uuid::new_v4()),
        entity: FundingEntity::BankRelationship,
        entity_id: relationship,
        status_from: Some("QUEUED".to_owned()),
        status_to: "APPROVED".to_owned(),
        reason: None,
    };
    IncomingEvent {
        event_id: id.to_owned(),
        raw: format!("{{\"event_id\":\"{id}\"}}"),
        event: Ok(event),
    }
}

/// Stores `events` and parks them all for lack of a subject (as the applier does), in bulk.
async fn park_all(db: &TestDb, store: &Store, events: Vec<IncomingEvent>) {
    for chunk in events.chunks(1_000) {
        store
            .store_events(STREAM, chunk.to_vec(), None)
            .await
            .unwrap();
    }
    execute(
        db,
        "UPDATE inbox_events SET state = 'parked_no_subject' WHERE state = 'pending'",
    )
    .await;
}

/// Moves every event's arrival (and application) `ms` into the database's past.
async fn age(db: &TestDb, ms: i64) {
    execute(
        db,
        &format!(
            "UPDATE inbox_events SET received_at_ms = received_at_ms - {ms}, \
             applied_at_ms = applied_at_ms - {ms}"
        ),
    )
    .await;
}

async fn in_state(db: &TestDb, state: &str) -> i64 {
    count(
        &db.raw().await,
        "inbox_events",
        Expr::col("state").eq(state),
    )
    .await
}

fn settings(grace: Duration, retention: Duration) -> InboxSweepSettings {
    InboxSweepSettings {
        owner: "test".into(),
        lease: Duration::from_secs(60),
        interval: Duration::from_secs(30),
        foreign_grace: grace,
        retention,
    }
}

fn sweeper(store: &Store, grace: Duration, retention: Duration) -> InboxSweeper {
    InboxSweeper::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        settings(grace, retention),
    )
}

async fn events_parked_past_the_grace_are_classed_foreign_and_come_back_with_their_subject(
    db: &TestDb,
) {
    let store = db.store().await;
    let late = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    park_all(
        db,
        &store,
        vec![
            about("e1", late),
            about("e2", stranger),
            about("e3", stranger),
        ],
    )
    .await;
    assert_eq!(
        store.class_foreign(HOUR, 100).await.unwrap(),
        0,
        "within the grace nothing is foreign"
    );
    age(db, 2 * 3_600_000).await;
    park_all(db, &store, vec![about("e4", stranger)]).await;
    assert_eq!(
        store.class_foreign(HOUR, 2).await.unwrap(),
        2,
        "a batch at most"
    );
    assert_eq!(store.class_foreign(HOUR, 100).await.unwrap(), 1);
    assert_eq!(
        inbox_stats(&store).await,
        vec![("foreign", 3), ("parked_no_subject", 1)],
        "counted; the one within the grace is still parked"
    );

    // The subject of one of them is stored (a create answered late): its events are pending again.
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(AchRelationshipId::from_uuid(late), "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    let pending: Vec<_> = store
        .pending_events(STREAM, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect();
    assert_eq!(pending, vec!["e1"], "a foreign event is never dropped");
    assert_eq!(
        store.unpark_known_subjects().await.unwrap(),
        0,
        "the sweep does not look at foreign events"
    );
    assert_eq!(in_state(db, "foreign").await, 2);
}

async fn the_sweep_unparks_before_it_classes_anything_foreign(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = Uuid::new_v4();
    let fence = claim_link(&store, link.id).await;
    store
        .save_relationship(
            &fence,
            link.id,
            saved(AchRelationshipId::from_uuid(relationship), "A"),
            change(Creating, Queued, None),
        )
        .await
        .unwrap();
    // Parked although its subject is stored (as a database written before parks were refused
    // once the subject is stored may hold it), and long ago.
    park_all(
        db,
        &store,
        vec![about("ours", relationship), about("theirs", Uuid::new_v4())],
    )
    .await;
    age(db, 2 * 3_600_000).await;
    let report = sweeper(&store, HOUR, 30 * 24 * HOUR).sweep().await.unwrap();
    assert_eq!((report.unparked, report.foreign), (1, 1));
    assert_eq!(in_state(db, "pending").await, 1);
    assert_eq!(in_state(db, "foreign").await, 1);
    assert!(report.stats.by_state.contains(&(InboxState::Foreign, 1)));
    assert!(report.stats.by_state.contains(&(InboxState::Pending, 1)));
}

async fn applied_events_past_the_retention_are_pruned_a_batch_at_a_time(db: &TestDb) {
    let store = db.store().await;
    let events: Vec<_> = (0..5)
        .map(|i| about(&format!("a{i}"), Uuid::new_v4()))
        .collect();
    store.store_events(STREAM, events, None).await.unwrap();
    for i in 0..4 {
        store
            .mark_event(STREAM, &format!("a{i}"), InboxState::Applied, None)
            .await
            .unwrap();
    }
    store
        .mark_event(STREAM, "a4", InboxState::ParkedError, Some("boom"))
        .await
        .unwrap();
    let retention = 30 * 24 * HOUR;
    assert_eq!(
        store.prune_applied(retention, 100).await.unwrap(),
        0,
        "within the retention"
    );
    age(db, 31 * 86_400_000).await;
    store
        .store_events(STREAM, vec![about("fresh", Uuid::new_v4())], None)
        .await
        .unwrap();
    store
        .mark_event(STREAM, "fresh", InboxState::Applied, None)
        .await
        .unwrap();
    assert_eq!(store.prune_applied(retention, 3).await.unwrap(), 3);
    assert_eq!(store.prune_applied(retention, 3).await.unwrap(), 1);
    assert_eq!(store.prune_applied(retention, 3).await.unwrap(), 0);
    assert_eq!(
        in_state(db, "applied").await,
        1,
        "the one applied lately stays"
    );
    assert_eq!(
        in_state(db, "parked_error").await,
        1,
        "only applied events are pruned"
    );
}

async fn a_sweep_of_ten_thousand_parked_foreign_events_is_a_bounded_number_of_statements(
    db: &TestDb,
) {
    const EVENTS: usize = 10_000;
    let seeding = db.store().await;
    // Other systems' relationships on Alpaca's stream: 10,000 events about 10,000 subjects.
    let events: Vec<_> = (0..EVENTS)
        .map(|i| about(&format!("foreign-{i:05}"), Uuid::new_v4()))
        .collect();
    park_all(db, &seeding, events).await;
    age(db, 2 * 3_600_000).await;

    let statements = Arc::new(AtomicUsize::new(0));
    let counted = statements.clone();
    let store = db.store().await.with_statement_observer(move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let sweeper = sweeper(&store, HOUR, 30 * 24 * HOUR);
    // At most: one unpark, MAX statements classing, MAX pruning, one count.
    let bound = 2 + 2 * usize::try_from(MAX_STATEMENTS_PER_STEP).unwrap();

    let first = sweeper.sweep().await.unwrap();
    let used = statements.swap(0, Ordering::SeqCst);
    assert!(used > 0, "the observer sees the sweep's statements");
    assert!(
        used <= bound,
        "the first sweep ran {used} statements for {EVENTS} parked events (bound {bound})"
    );
    let batches = EVENTS.div_ceil(usize::try_from(SWEEP_BATCH).unwrap());
    assert!(batches <= usize::try_from(MAX_STATEMENTS_PER_STEP).unwrap());
    assert_eq!(first.foreign, EVENTS as u64, "all classed foreign");
    assert_eq!(first.unparked, 0);
    assert!(!first.more);
    assert_eq!(
        first.stats.by_state,
        vec![(InboxState::Foreign, EVENTS as u64)]
    );

    // Classed, they are no longer looked for: the next sweep finds nothing to do.
    let second = sweeper.sweep().await.unwrap();
    let used = statements.swap(0, Ordering::SeqCst);
    assert!(used <= bound, "the second sweep ran {used} statements");
    assert_eq!((second.unparked, second.foreign, second.pruned), (0, 0, 0));
    assert_eq!(in_state(db, "foreign").await, EVENTS as i64);
}

/// An applier that read before a subject was saved finds no subject for its event and parks it; if
/// the save has looked for parked events to unpark by then, the park is refused and the event stays
/// pending, to be applied at the applier's next look (the sweep no longer has to close this race).
/// Parking and the save's unparking take turns on PostgreSQL (an advisory lock). Every kind of
/// subject: a link's relationship and a transfer's Alpaca id, one at a time and in a batch.
async fn an_alpaca_event_is_not_parked_once_its_subject_is_stored(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = Uuid::new_v4();
    let fence = claim_link(&store, link.id).await;
    store
        .save_relationship(
            &fence,
            link.id,
            saved(AchRelationshipId::from_uuid(relationship), "A"),
            change(Creating, Queued, None),
        )
        .await
        .unwrap();
    let (_, provider) = transfers::queued(&store, link.id, link.account_id, "t", t0()).await;
    let stranger = transfers::provider_id();
    let events = vec![
        about("link-ours", relationship),
        about("link-theirs", Uuid::new_v4()),
        transfers::transfer_event("transfer-ours", provider),
        transfers::transfer_event("transfer-theirs", stranger),
        transfers::transfer_event("batch-ours", provider),
        transfers::transfer_event("batch-theirs", stranger),
    ];
    store.store_events(STREAM, events, None).await.unwrap();
    for id in [
        "link-ours",
        "link-theirs",
        "transfer-ours",
        "transfer-theirs",
    ] {
        store
            .mark_event(STREAM, id, InboxState::ParkedNoSubject, None)
            .await
            .unwrap();
    }
    let parked = |id: &str| InboxMark {
        stream: STREAM.to_owned(),
        event_id: id.to_owned(),
        state: InboxState::ParkedNoSubject,
        error: None,
    };
    assert!(
        store
            .apply_transfer_events(
                Vec::new(),
                vec![parked("batch-ours"), parked("batch-theirs")]
            )
            .await
            .unwrap()
    );

    let mut pending: Vec<_> = store
        .pending_events(STREAM, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect();
    pending.sort_unstable();
    assert_eq!(pending, vec!["batch-ours", "link-ours", "transfer-ours"]);
    assert_eq!(in_state(db, "parked_no_subject").await, 3);
}

/// PostgreSQL, whose writers do not take turns: a park waits for a save in flight (which holds the
/// park lock shared, as the store's unpark does), then finds the subject stored and leaves the
/// event pending. Without the turn the park would run before the save commits, find no subject,
/// and hold: the event would wait for the sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_park_waits_for_a_save_in_flight_and_then_finds_its_subject_postgres() {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let (link, account) = transfers::link(&store).await;
    let transfer = transfers::deposit(&store, link, account, "k").await;
    let provider = transfers::provider_id();
    store
        .store_events(
            STREAM,
            vec![transfers::transfer_event("e1", provider)],
            None,
        )
        .await
        .unwrap();

    // A save of Alpaca's id in flight: the id written, the park lock held shared, not committed.
    let raw = db.raw().await;
    let save = raw.begin().await.unwrap();
    save.execute_unprepared(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('funding:inbox:park', 0))",
    )
    .await
    .unwrap();
    save.execute_unprepared(&format!(
        "UPDATE transfers SET provider_transfer_id = '{}' WHERE id = '{}'",
        provider.as_uuid(),
        transfer.id.as_uuid()
    ))
    .await
    .unwrap();

    let parking = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .mark_event(STREAM, "e1", InboxState::ParkedNoSubject, None)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!parking.is_finished(), "the park waits for the save");
    save.commit().await.unwrap();
    parking.await.unwrap().unwrap();
    assert_eq!(
        in_state(&db, "pending").await,
        1,
        "not parked: its subject is stored"
    );
    assert_eq!(in_state(&db, "parked_no_subject").await, 0);
}

on_both_backends!(
    an_alpaca_event_is_not_parked_once_its_subject_is_stored,
    events_parked_past_the_grace_are_classed_foreign_and_come_back_with_their_subject,
    the_sweep_unparks_before_it_classes_anything_foreign,
    applied_events_past_the_retention_are_pruned_a_batch_at_a_time,
    a_sweep_of_ten_thousand_parked_foreign_events_is_a_bounded_number_of_statements,
);
