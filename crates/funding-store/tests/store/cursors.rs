//! Stream cursors: saved, loaded and overwritten, one per stream.

use funding_core::ports::CursorStore as _;

use crate::support::{ManualClock, TestDb, seconds, t0};

async fn a_cursor_is_saved_loaded_and_overwritten(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.load_cursor("alpaca:funding").await.unwrap(), None);
    store
        .save_cursor("alpaca:funding", "01J5Z8Q9Y7X6W5V4T3S2R1P0NM")
        .await
        .unwrap();
    assert_eq!(
        store
            .load_cursor("alpaca:funding")
            .await
            .unwrap()
            .as_deref(),
        Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM")
    );
    store
        .save_cursor("alpaca:funding", "01J5Z8QA00000000000000000")
        .await
        .unwrap();
    store
        .save_cursor("plaid:bank_transfer", "42")
        .await
        .unwrap();
    assert_eq!(
        store
            .load_cursor("alpaca:funding")
            .await
            .unwrap()
            .as_deref(),
        Some("01J5Z8QA00000000000000000")
    );
    assert_eq!(
        store
            .load_cursor("plaid:bank_transfer")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );
    let reopened = db.store().await;
    assert_eq!(
        reopened
            .load_cursor("plaid:bank_transfer")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );
}

on_both_backends!(a_cursor_is_saved_loaded_and_overwritten);

async fn one_replica_holds_a_stream_until_it_lets_go_or_its_lease_runs_out(db: &TestDb) {
    let clock = ManualClock::at(t0());
    let store = db.store().await.with_clock(clock.clone());
    let stream = "alpaca:funding_status";

    assert!(
        store
            .claim_stream(stream, "a", t0() + seconds(15))
            .await
            .unwrap(),
        "a free stream is taken"
    );
    assert!(
        !store
            .claim_stream(stream, "b", t0() + seconds(15))
            .await
            .unwrap(),
        "a held stream is refused"
    );
    clock.set(t0() + seconds(10));
    assert!(
        store
            .claim_stream(stream, "a", t0() + seconds(25))
            .await
            .unwrap(),
        "the holder renews"
    );
    clock.set(t0() + seconds(20));
    assert!(
        !store
            .claim_stream(stream, "b", t0() + seconds(35))
            .await
            .unwrap(),
        "the renewal counts"
    );
    clock.set(t0() + seconds(25));
    assert!(
        store
            .claim_stream(stream, "b", t0() + seconds(40))
            .await
            .unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !store
            .claim_stream(stream, "a", t0() + seconds(40))
            .await
            .unwrap(),
        "the old holder has lost it"
    );

    store.release_stream(stream, "a").await.unwrap();
    assert!(
        !store
            .claim_stream(stream, "a", t0() + seconds(40))
            .await
            .unwrap(),
        "only the holder can release"
    );
    store.release_stream(stream, "b").await.unwrap();
    assert!(
        store
            .claim_stream(stream, "a", t0() + seconds(40))
            .await
            .unwrap(),
        "a released stream is free at once"
    );
    assert!(
        store
            .claim_stream("plaid:bank_transfer_events", "b", t0() + seconds(40))
            .await
            .unwrap(),
        "streams are held apart"
    );
}

async fn concurrent_claims_give_a_stream_to_exactly_one_replica(db: &TestDb) {
    let store = db.store().await;
    let until = chrono::Utc::now() + seconds(60);
    let claims = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_stream("alpaca:funding_status", &format!("replica-{i}"), until)
                .await
                .unwrap()
        })
    });
    let mut winners = 0;
    for claim in claims {
        if claim.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

on_both_backends!(
    one_replica_holds_a_stream_until_it_lets_go_or_its_lease_runs_out,
    concurrent_claims_give_a_stream_to_exactly_one_replica
);
