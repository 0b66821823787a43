//! The inbox: a batch of provider events and the stream's cursor are stored together, each event
//! once; pending events come back in arrival order; parked events come back when their subject is
//! stored; unreadable events are kept raw and never handed to the applier.

use std::time::Duration;

use funding_core::ports::{
    CursorStore as _, FundingEntity, FundingEvent, InboxState, InboxStore as _, IncomingEvent,
    LinkStatusStore as _, RelationshipSaved,
};
use funding_domain::AchRelationshipStatus::{Creating, Queued};
use funding_domain::{AccountId, AchRelationshipId};
use funding_store::Store;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use uuid::Uuid;

use crate::support::{
    TestDb, account, change, claim_link, count, created_link, execute, inbox_stats, saved, t0,
};

const STREAM: &str = "alpaca:funding";

fn event(id: &str, entity: FundingEntity, entity_id: Uuid) -> FundingEvent {
    FundingEvent {
        event_id: id.to_owned(),
        at: t0(),
        account_id: AccountId::from_uuid(Uuid::new_v4()),
        entity,
        entity_id,
        status_from: Some("QUEUED".to_owned()),
        status_to: "APPROVED".to_owned(),
        reason: None,
    }
}

fn about_relationship(id: &str, relationship: Uuid) -> IncomingEvent {
    readable(event(id, FundingEntity::BankRelationship, relationship))
}

fn readable(event: FundingEvent) -> IncomingEvent {
    IncomingEvent {
        event_id: event.event_id.clone(),
        raw: format!("{{\"event_id\":\"{}\"}}", event.event_id),
        event: Ok(event),
    }
}

fn any_event(id: &str) -> IncomingEvent {
    about_relationship(id, Uuid::new_v4())
}

async fn pending_ids(store: &Store, stream: &str) -> Vec<String> {
    store
        .pending_events(stream, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect()
}

async fn a_batch_and_its_cursor_are_stored_together(db: &TestDb) {
    let store = db.store().await;
    let first = any_event("01J0000000000000000000000A");
    let second = any_event("01J0000000000000000000000B");
    let new = store
        .store_events(
            STREAM,
            vec![first.clone(), second.clone()],
            Some("01J0000000000000000000000B"),
        )
        .await
        .unwrap();
    assert_eq!(new, 2);
    assert_eq!(
        store.load_cursor(STREAM).await.unwrap().as_deref(),
        Some("01J0000000000000000000000B")
    );

    let pending = store.pending_events(STREAM, 10).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].stream, STREAM);
    assert_eq!(pending[0].event_id, first.event_id);
    assert_eq!(Ok(pending[0].event.clone()), first.event);
    assert_eq!(Ok(pending[1].event.clone()), second.event);
    assert_eq!(pending[0].attempts, 0);

    // Without a cursor the cursor stays; an empty batch may still move it.
    store
        .store_events(STREAM, vec![any_event("01J0000000000000000000000C")], None)
        .await
        .unwrap();
    assert_eq!(
        store.load_cursor(STREAM).await.unwrap().as_deref(),
        Some("01J0000000000000000000000B")
    );
    assert_eq!(
        store
            .store_events(STREAM, Vec::new(), Some("01J0000000000000000000000D"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.load_cursor(STREAM).await.unwrap().as_deref(),
        Some("01J0000000000000000000000D")
    );
    assert!(
        store
            .load_cursor("plaid:bank_transfer")
            .await
            .unwrap()
            .is_none(),
        "streams are apart"
    );
    assert!(pending_ids(&store, "plaid:bank_transfer").await.is_empty());
}

async fn an_event_read_twice_is_stored_once(db: &TestDb) {
    let store = db.store().await;
    let once = any_event("01J0000000000000000000000A");
    assert_eq!(
        store
            .store_events(STREAM, vec![once.clone()], Some("a"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .store_events(STREAM, vec![once.clone()], Some("a"))
            .await
            .unwrap(),
        0
    );
    let twice = any_event("01J0000000000000000000000B");
    assert_eq!(
        store
            .store_events(STREAM, vec![once.clone(), twice.clone(), twice], Some("b"))
            .await
            .unwrap(),
        1,
        "only the new one, once"
    );
    assert_eq!(
        pending_ids(&store, STREAM).await,
        vec!["01J0000000000000000000000A", "01J0000000000000000000000B"]
    );
    // Applied, a repeat does not bring it back.
    store
        .mark_event(STREAM, &once.event_id, InboxState::Applied, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .store_events(STREAM, vec![once.clone()], None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        pending_ids(&store, STREAM).await,
        vec!["01J0000000000000000000000B"]
    );
    // The same id on another stream is another event.
    assert_eq!(
        store.store_events("other", vec![once], None).await.unwrap(),
        1
    );
}

async fn an_unreadable_event_is_kept_raw_and_never_pending(db: &TestDb) {
    let store = db.store().await;
    let unreadable = IncomingEvent {
        event_id: "sha256:5d41402abc4b2a76b9719d911017c592".to_owned(),
        raw: "{\"event_id\": 42, garbage".to_owned(),
        event: Err("expected a string at line 1".to_owned()),
    };
    let new = store
        .store_events(
            STREAM,
            vec![unreadable.clone(), any_event("01J0000000000000000000000A")],
            Some("01J0000000000000000000000A"),
        )
        .await
        .unwrap();
    assert_eq!(new, 2);
    assert_eq!(
        pending_ids(&store, STREAM).await,
        vec!["01J0000000000000000000000A"]
    );
    assert_eq!(
        inbox_stats(&store).await,
        vec![("pending", 1), ("unreadable", 1)]
    );
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("event_id")
                .eq(unreadable.event_id.as_str())
                .and(Expr::col("state").eq("unreadable"))
                .and(Expr::col("payload").eq(unreadable.raw.as_str()))
                .and(Expr::col("error").eq("expected a string at line 1"))
        )
        .await,
        1
    );
    assert_eq!(
        store
            .store_events(STREAM, vec![unreadable], None)
            .await
            .unwrap(),
        0,
        "kept once"
    );
    assert_eq!(
        inbox_stats(&store).await,
        vec![("pending", 1), ("unreadable", 1)]
    );
}

async fn pending_events_come_in_arrival_order(db: &TestDb) {
    let store = db.store().await;
    // Arrival order is not id order.
    for id in ["c", "a", "b"] {
        store
            .store_events(STREAM, vec![any_event(id)], Some(id))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store
        .store_events("other", vec![any_event("0")], None)
        .await
        .unwrap();
    assert_eq!(pending_ids(&store, STREAM).await, vec!["c", "a", "b"]);
    let first_two: Vec<_> = store
        .pending_events(STREAM, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect();
    assert_eq!(first_two, vec!["c", "a"]);

    store
        .mark_event(STREAM, "c", InboxState::Applied, None)
        .await
        .unwrap();
    assert_eq!(pending_ids(&store, STREAM).await, vec!["a", "b"]);
    store
        .mark_event(STREAM, "b", InboxState::ParkedError, Some("boom"))
        .await
        .unwrap();
    assert_eq!(pending_ids(&store, STREAM).await, vec!["a"]);
    assert_eq!(pending_ids(&store, "other").await, vec!["0"]);
}

async fn storing_the_relationship_unparks_its_events(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    store
        .store_events(
            STREAM,
            vec![
                about_relationship("e1", relationship),
                about_relationship("e2", stranger),
                about_relationship("e3", relationship),
            ],
            Some("e3"),
        )
        .await
        .unwrap();
    for id in ["e1", "e2"] {
        store
            .mark_event(STREAM, id, InboxState::ParkedNoSubject, None)
            .await
            .unwrap();
    }
    store
        .mark_event(STREAM, "e3", InboxState::ParkedError, Some("boom"))
        .await
        .unwrap();
    assert!(pending_ids(&store, STREAM).await.is_empty());

    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(AchRelationshipId::from_uuid(relationship), "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    let pending = store.pending_events(STREAM, 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["e1"],
        "only its events parked for lack of it"
    );
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(
        inbox_stats(&store).await,
        vec![
            ("parked_error", 1),
            ("parked_no_subject", 1),
            ("pending", 1)
        ]
    );
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
}

async fn the_sweep_unparks_events_parked_after_their_subject_was_stored(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let relationship = Uuid::new_v4();
    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(AchRelationshipId::from_uuid(relationship), "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    // Parked although their subject is stored: a park is refused once it is (store test
    // `inbox_sweep::an_alpaca_event_is_not_parked_once_its_subject_is_stored`), but a database
    // written before that may hold such events.
    let stranger = Uuid::new_v4();
    store
        .store_events(
            STREAM,
            vec![
                about_relationship("e1", relationship),
                about_relationship("e2", relationship),
                about_relationship("e3", stranger),
            ],
            None,
        )
        .await
        .unwrap();
    park_pending(db).await;
    assert!(pending_ids(&store, STREAM).await.is_empty());

    assert_eq!(store.unpark_known_subjects().await.unwrap(), 2);
    assert_eq!(pending_ids(&store, STREAM).await, vec!["e1", "e2"]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
    assert_eq!(
        inbox_stats(&store).await,
        vec![("parked_no_subject", 1), ("pending", 2)]
    );
}

/// Parks every pending event directly (a park through `mark_event` is refused once the subject is
/// stored).
async fn park_pending(db: &TestDb) {
    execute(
        db,
        "UPDATE inbox_events SET state = 'parked_no_subject' WHERE state = 'pending'",
    )
    .await;
}

async fn the_sweep_finds_a_known_subject_among_many_unknown_ones(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    // Sorts after every random UUID, as text and as bytes.
    let relationship = Uuid::from_u128(u128::MAX - 1);
    let fence = claim_link(&store, link.id).await;
    assert_eq!(
        store
            .save_relationship(
                &fence,
                link.id,
                saved(AchRelationshipId::from_uuid(relationship), "A"),
                change(Creating, Queued, None)
            )
            .await
            .unwrap(),
        RelationshipSaved::Saved
    );
    // Alpaca's stream carries the events of relationships this service never made: they stay
    // parked for good. One event of ours is parked among them.
    let mut events: Vec<_> = (0..600)
        .map(|i| any_event(&format!("foreign-{i:04}")))
        .collect();
    events.push(about_relationship("ours", relationship));
    store.store_events(STREAM, events, None).await.unwrap();
    // Ours parked too, as a database written before parks were refused once the subject is
    // stored may hold it.
    park_pending(db).await;
    assert_eq!(
        store.unpark_known_subjects().await.unwrap(),
        1,
        "the known subject's event is unparked however many unknown ones wait"
    );
    assert_eq!(pending_ids(&store, STREAM).await, vec!["ours"]);
}

async fn inbox_stats_count_the_events_by_state(db: &TestDb) {
    let store = db.store().await;
    assert!(store.inbox_stats().await.unwrap().by_state.is_empty());
    let ids = ["a", "b", "c", "d", "e", "f", "g"];
    store
        .store_events(STREAM, ids.iter().map(|id| any_event(id)).collect(), None)
        .await
        .unwrap();
    store
        .store_events(
            STREAM,
            vec![IncomingEvent {
                event_id: "raw".into(),
                raw: "???".into(),
                event: Err("not JSON".into()),
            }],
            None,
        )
        .await
        .unwrap();
    for (id, state) in [
        ("a", InboxState::Applied),
        ("b", InboxState::ParkedNoSubject),
        ("c", InboxState::ParkedNoSubject),
        ("d", InboxState::ParkedError),
        ("e", InboxState::Unhandled),
    ] {
        store.mark_event(STREAM, id, state, None).await.unwrap();
    }
    // Applied events are done with: the stats are of what is parked or waiting.
    assert_eq!(
        inbox_stats(&store).await,
        vec![
            ("parked_error", 1),
            ("parked_no_subject", 2),
            ("pending", 2),
            ("unhandled", 1),
            ("unreadable", 1),
        ]
    );
}

on_both_backends!(
    a_batch_and_its_cursor_are_stored_together,
    an_event_read_twice_is_stored_once,
    an_unreadable_event_is_kept_raw_and_never_pending,
    pending_events_come_in_arrival_order,
    storing_the_relationship_unparks_its_events,
    the_sweep_unparks_events_parked_after_their_subject_was_stored,
    inbox_stats_count_the_events_by_state,
    the_sweep_finds_a_known_subject_among_many_unknown_ones,
);
