//! Stream cursors: saved, loaded and overwritten, one per stream.

use std::time::Duration;

use funding_core::ports::CursorStore as _;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use crate::support::{ManualClock, TestDb, execute, seconds};

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

/// The stream's lease expiry, epoch milliseconds of the database's clock.
async fn lease_until_ms(db: &TestDb, stream: &str) -> i64 {
    let raw = db.raw().await;
    let row = raw
        .query_one(
            &Query::select()
                .column("lease_until_ms")
                .from("stream_leases")
                .and_where(Expr::col("stream").eq(stream))
                .to_owned(),
        )
        .await
        .unwrap()
        .expect("a lease row");
    row.try_get_by_index::<i64>(0).unwrap()
}

const LEASE: Duration = Duration::from_secs(15);

async fn one_replica_holds_a_stream_until_it_lets_go_or_its_lease_runs_out(db: &TestDb) {
    let store = db.store().await;
    let stream = "alpaca:funding_status";

    assert!(
        store.claim_stream(stream, "a", LEASE).await.unwrap(),
        "a free stream is taken"
    );
    assert!(
        !store.claim_stream(stream, "b", LEASE).await.unwrap(),
        "a held stream is refused"
    );
    let first = lease_until_ms(db, stream).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        store.claim_stream(stream, "a", LEASE).await.unwrap(),
        "the holder renews"
    );
    assert!(
        lease_until_ms(db, stream).await > first,
        "the renewal counts from the database's now"
    );
    assert!(
        !store.claim_stream(stream, "b", LEASE).await.unwrap(),
        "a renewed stream is refused"
    );
    // The lease runs out (its expiry moved into the database's past).
    execute(
        db,
        "UPDATE stream_leases SET lease_until_ms = lease_until_ms - 60000",
    )
    .await;
    assert!(
        store.claim_stream(stream, "b", LEASE).await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !store.claim_stream(stream, "a", LEASE).await.unwrap(),
        "the old holder has lost it"
    );

    store.release_stream(stream, "a").await.unwrap();
    assert!(
        !store.claim_stream(stream, "a", LEASE).await.unwrap(),
        "only the holder can release"
    );
    store.release_stream(stream, "b").await.unwrap();
    assert!(
        store.claim_stream(stream, "a", LEASE).await.unwrap(),
        "a released stream is free at once"
    );
    assert!(
        store
            .claim_stream("plaid:bank_transfer_events", "b", LEASE)
            .await
            .unwrap(),
        "streams are held apart"
    );
}

/// Leases are measured by the database's clock, not the replica's: a replica whose clock runs a
/// day ahead cannot take a live lease (it would see every lease as run out), and one whose clock
/// runs a day behind takes a lease that still lasts its full term for everyone else (it would
/// write one that ran out a day ago). Work claims are measured the same way.
async fn a_replica_whose_clock_is_far_off_cannot_steal_a_live_lease(db: &TestDb) {
    let stream = "alpaca:funding_status";
    let now = chrono::Utc::now();
    let honest = db.store().await;
    let ahead = db
        .store()
        .await
        .with_clock(ManualClock::at(now + seconds(86_400)));
    let behind = db
        .store()
        .await
        .with_clock(ManualClock::at(now - seconds(86_400)));

    assert!(honest.claim_stream(stream, "honest", LEASE).await.unwrap());
    assert!(
        !ahead.claim_stream(stream, "ahead", LEASE).await.unwrap(),
        "a clock a day ahead does not make a live lease look run out"
    );
    honest.release_stream(stream, "honest").await.unwrap();

    assert!(behind.claim_stream(stream, "behind", LEASE).await.unwrap());
    assert!(
        !honest.claim_stream(stream, "honest", LEASE).await.unwrap(),
        "a lease taken by a clock a day behind still lasts its term"
    );
    assert!(
        !ahead.claim_stream(stream, "ahead", LEASE).await.unwrap(),
        "for every replica"
    );
    assert!(
        behind.claim_stream(stream, "behind", LEASE).await.unwrap(),
        "and its holder renews it"
    );
    let until = lease_until_ms(db, stream).await;
    let wall = chrono::Utc::now().timestamp_millis();
    assert!(
        (until - wall - 15_000).abs() < 60_000,
        "the expiry is the database's now plus the lease ({until} vs {wall})"
    );
}

async fn concurrent_claims_give_a_stream_to_exactly_one_replica(db: &TestDb) {
    let store = db.store().await;
    let claims = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_stream(
                    "alpaca:funding_status",
                    &format!("replica-{i}"),
                    Duration::from_secs(60),
                )
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
    a_replica_whose_clock_is_far_off_cannot_steal_a_live_lease,
    concurrent_claims_give_a_stream_to_exactly_one_replica
);
