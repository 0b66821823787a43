//! The inbox of Plaid's bank transfer events: an unreadable event kept raw under its id, events
//! stored once with their sync cursor, a cursor that never moves back, pending events in numeric
//! order, no event parked once its subject is stored, and the sweep unparking events parked after
//! the answer was stored.

use funding_core::ports::{
    BankTransferStore as _, InboxMark, InboxState, InboxStore as _, PLAID_BANK_TRANSFER_STREAM,
    SyncedPlaidEvent,
};
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use crate::support::bank_transfers::{park, pending, pending_event_ids, plaid_event, plaid_id};
use crate::support::{TestDb, count, inbox_stats, t0};

/// An event of a sync page that could not be read is kept raw, `unreadable`, with why, under its
/// `event_id` (or a digest of its bytes when not even that was readable); it is never pending, and
/// the cursor moves past it with the page.
async fn an_unreadable_plaid_event_is_kept_raw_under_its_event_id_and_the_cursor_moves_past_it(
    db: &TestDb,
) {
    let store = db.store().await;
    let subject = plaid_id();
    let with_id = SyncedPlaidEvent {
        event_id: Some(2),
        raw: r#"{"event_id":2,"bank_transfer_amount":{}}"#.to_owned(),
        event: Err("a BankTransferEvent that cannot be read: unexpected value".to_owned()),
    };
    let without_id = SyncedPlaidEvent {
        event_id: None,
        raw: r#"{"event_id":"three"}"#.to_owned(),
        event: Err("a BankTransferEvent that cannot be read: unexpected value".to_owned()),
    };
    let page = vec![
        plaid_event(1, &subject),
        with_id.clone(),
        without_id.clone(),
        plaid_event(4, &subject),
    ];
    assert_eq!(store.store_plaid_events(page.clone(), 4).await.unwrap(), 4);
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 4);
    assert_eq!(
        store.store_plaid_events(page, 4).await.unwrap(),
        0,
        "each kept once, the one without an id too"
    );
    let pending: Vec<u64> = store
        .pending_plaid_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|waiting| waiting.event.event_id)
        .collect();
    assert_eq!(pending, vec![1, 4], "the unreadable ones are never pending");
    let raw = db.raw().await;
    let unreadable = |event_id: &str, payload: &str| {
        Expr::col("stream")
            .eq(PLAID_BANK_TRANSFER_STREAM)
            .and(Expr::col("event_id").eq(event_id))
            .and(Expr::col("state").eq("unreadable"))
            .and(Expr::col("payload").eq(payload))
            .and(Expr::col("error").like("a BankTransferEvent that cannot be read%"))
            .and(Expr::col("event").is_null())
            .and(Expr::col("entity_id").is_null())
    };
    assert_eq!(
        count(&raw, "inbox_events", unreadable("2", &with_id.raw)).await,
        1,
        "under its event_id"
    );
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("event_id")
                .like("unreadable:%")
                .and(Expr::col("payload").eq(without_id.raw.as_str()))
        )
        .await,
        1,
        "under a digest of its bytes"
    );
}

async fn plaid_events_stored_twice_are_stored_once_with_their_cursor(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 0, "0 at first");
    let subject = plaid_id();
    let batch = vec![plaid_event(1, &subject), plaid_event(2, &subject)];
    assert_eq!(store.store_plaid_events(batch.clone(), 2).await.unwrap(), 2);
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 2);
    assert_eq!(
        store
            .store_plaid_events(vec![batch[1].clone(), plaid_event(3, &subject)], 3)
            .await
            .unwrap(),
        1,
        "only the new one"
    );
    assert_eq!(store.store_plaid_events(Vec::new(), 3).await.unwrap(), 0);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("stream").eq(PLAID_BANK_TRANSFER_STREAM)
        )
        .await,
        3
    );
    let query = Query::select()
        .columns(["entity_type", "entity_id", "payload", "state", "attempts"])
        .from("inbox_events")
        .and_where(Expr::col("event_id").eq("2"))
        .to_owned();
    let row = raw.query_one(&query).await.unwrap().unwrap();
    assert_eq!(
        row.try_get::<String>("", "entity_type").unwrap(),
        "BankTransfer"
    );
    assert_eq!(
        row.try_get::<String>("", "entity_id").unwrap(),
        subject.as_str()
    );
    assert_eq!(
        row.try_get::<String>("", "payload").unwrap(),
        batch[1].raw,
        "kept raw"
    );
    assert_eq!(row.try_get::<String>("", "state").unwrap(), "pending");
    let pending = store.pending_plaid_events(10).await.unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[1].event, batch[1].event.clone().unwrap(), "as read");
    assert_eq!(pending[1].attempts, 0);
}

async fn the_plaid_cursor_never_moves_back(db: &TestDb) {
    let store = db.store().await;
    let subject = plaid_id();
    for (after, expected) in [
        (9u64, 9u64),
        (10, 10),
        (9, 10),
        (0, 10),
        (99, 99),
        (100, 100),
        (99, 100),
        (u64::MAX, u64::MAX),
        (1_000, u64::MAX),
    ] {
        store
            .store_plaid_events(vec![plaid_event(std::cmp::max(after, 1), &subject)], after)
            .await
            .unwrap();
        assert_eq!(
            store.plaid_sync_cursor().await.unwrap(),
            expected,
            "after {after}"
        );
    }
}

async fn pending_plaid_events_come_in_numeric_order(db: &TestDb) {
    let store = db.store().await;
    let subject = plaid_id();
    store
        .store_plaid_events(
            [10, 9, 100, 2, 11]
                .map(|id| plaid_event(id, &subject))
                .to_vec(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(pending_event_ids(&store).await, vec![2, 9, 10, 11, 100]);
    let first_two: Vec<u64> = store
        .pending_plaid_events(2)
        .await
        .unwrap()
        .into_iter()
        .map(|pending| pending.event.event_id)
        .collect();
    assert_eq!(first_two, vec![2, 9]);

    // Marking works on Plaid's stream: applied ones leave, a retried one counts its attempts.
    store
        .mark_event(PLAID_BANK_TRANSFER_STREAM, "9", InboxState::Applied, None)
        .await
        .unwrap();
    store
        .mark_event(
            PLAID_BANK_TRANSFER_STREAM,
            "10",
            InboxState::ParkedError,
            Some("boom"),
        )
        .await
        .unwrap();
    store
        .mark_event(PLAID_BANK_TRANSFER_STREAM, "11", InboxState::Pending, None)
        .await
        .unwrap();
    let pending = store.pending_plaid_events(100).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.event.event_id, p.attempts))
            .collect::<Vec<_>>(),
        vec![(2, 0), (11, 1), (100, 0)]
    );
    // Another stream's events are never Plaid's.
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("stream")
                .eq(PLAID_BANK_TRANSFER_STREAM)
                .and(Expr::col("state").eq("parked_error"))
        )
        .await,
        1
    );
}

async fn the_sweep_unparks_plaid_events_parked_after_the_answer_was_stored(db: &TestDb) {
    let store = db.store().await;
    let (_, ours) = pending(&store, "k", t0()).await;
    // Events parked while their answer was already stored (written directly: the marks no longer
    // park such an event, see below; a database written before that may hold some); a Plaid
    // transfer of somebody else stays parked.
    let theirs = plaid_id();
    park(&store, vec![plaid_event(7, &theirs)]).await;
    let events = vec![plaid_event(5, &ours), plaid_event(6, &ours)];
    store.store_plaid_events(events, 7).await.unwrap();
    db.raw()
        .await
        .execute_unprepared(&format!(
            "UPDATE inbox_events SET state = 'parked_no_subject' WHERE entity_id = '{}'",
            ours.as_str()
        ))
        .await
        .unwrap();
    assert!(pending_event_ids(&store).await.is_empty());
    assert_eq!(inbox_stats(&store).await, vec![("parked_no_subject", 3)]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 2);
    assert_eq!(pending_event_ids(&store).await, vec![5, 6]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
    assert_eq!(
        inbox_stats(&store).await,
        vec![("parked_no_subject", 1), ("pending", 2)],
        "the inbox stats count Plaid's events"
    );
}

/// An applier that read the transfers before a bank transfer's answer was stored finds no subject
/// for its events and parks them; if the answer's save has looked for parked events to unpark by
/// then, the park is refused and the events stay pending (the save asks for an apply once it has
/// committed). Parking and the save's unparking take turns on PostgreSQL (an advisory lock): in
/// CI, one of 32 bank transfers' events was parked after its save and waited for the sweep.
async fn a_plaid_event_is_not_parked_once_its_subject_is_stored(db: &TestDb) {
    let store = db.store().await;
    let (_, ours) = pending(&store, "k", t0()).await;
    let theirs = plaid_id();
    let events = vec![
        plaid_event(5, &ours),
        plaid_event(6, &ours),
        plaid_event(7, &theirs),
    ];
    store.store_plaid_events(events, 7).await.unwrap();
    let parked = |id: u64| InboxMark {
        stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
        event_id: id.to_string(),
        state: InboxState::ParkedNoSubject,
        error: None,
    };

    // One at a time, and as a batch with another event whose subject is not stored.
    store
        .mark_event(
            PLAID_BANK_TRANSFER_STREAM,
            "5",
            InboxState::ParkedNoSubject,
            None,
        )
        .await
        .unwrap();
    assert!(
        store
            .apply_bank_transfer_events(Vec::new(), vec![parked(6), parked(7)])
            .await
            .unwrap()
    );

    assert_eq!(pending_event_ids(&store).await, vec![5, 6]);
    assert_eq!(
        inbox_stats(&store).await,
        vec![("parked_no_subject", 1), ("pending", 2)]
    );
}

on_both_backends!(
    a_plaid_event_is_not_parked_once_its_subject_is_stored,
    plaid_events_stored_twice_are_stored_once_with_their_cursor,
    an_unreadable_plaid_event_is_kept_raw_under_its_event_id_and_the_cursor_moves_past_it,
    the_plaid_cursor_never_moves_back,
    pending_plaid_events_come_in_numeric_order,
    the_sweep_unparks_plaid_events_parked_after_the_answer_was_stored,
);
