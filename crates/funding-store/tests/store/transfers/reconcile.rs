//! The reconciler's query: transfers Alpaca has that have not moved since the cutoff, taken in
//! rotation (each once before any again, an account's due transfers with it, never the same by two
//! replicas), what a look found counted while it holds, and completed transfers within the return
//! window sampled after the ones in flight.

use funding_core::model::Transfer;
use funding_core::ports::{TransferStore as _, Unresolved};
use funding_domain::AlpacaTransferStatus::{Complete, Queued, Rejected, SentToClearing};
use funding_domain::TransferId;

use crate::support::transfers::{change, deposit, link, queued};
use crate::support::{ManualClock, TestDb, account, created_link, seconds, t0};

async fn the_reconciler_sees_transfers_alpaca_has_that_have_not_moved_since_the_cutoff(
    db: &TestDb,
) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    // Still SUBMITTING (Alpaca may not know it): never reconciled here.
    deposit(&store, link, account, "submitting").await;
    let (late, _) = queued(&store, link, account, "late", t0() + seconds(30)).await;
    let (old, _) = queued(&store, link, account, "old", t0() + seconds(10)).await;
    let (older, _) = queued(&store, link, account, "older", t0() + seconds(5)).await;
    store
        .change_transfer_status(
            older.id,
            change(Queued, SentToClearing, Some("e1"), t0() + seconds(6)),
        )
        .await
        .unwrap();
    // Done: never reconciled.
    let (done, _) = queued(&store, link, account, "done", t0()).await;
    store
        .change_transfer_status(
            done.id,
            change(Queued, Rejected, Some("e2"), t0() + seconds(1)),
        )
        .await
        .unwrap();

    let ids = |found: Vec<Transfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert!(
        store
            .transfers_to_reconcile(t0() + seconds(4), 100)
            .await
            .unwrap()
            .is_empty(),
        "none unmoved since"
    );
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![older.id, old.id],
        "never looked at: oldest change first, the cutoff included"
    );
    // Each one handed out was marked: what was never looked at comes first, then the others in
    // the order of their last look (the same look: oldest change first).
    clock.set(t0() + seconds(101));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 100)
            .await
            .unwrap()),
        vec![late.id, older.id, old.id]
    );
    clock.set(t0() + seconds(102));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 1)
            .await
            .unwrap()),
        vec![older.id]
    );
    clock.set(t0() + seconds(103));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 2)
            .await
            .unwrap()),
        vec![old.id, late.id],
        "looked at last at 101 (oldest change first), before older at 102"
    );
}

/// The reconciler rotates: with more due than a pass takes, every one is taken once before any is
/// taken again, however often the ones taken stay as they are (DESIGN §9).
async fn every_transfer_in_flight_is_taken_once_before_any_is_taken_again(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    let mut all = Vec::new();
    for n in 0..25 {
        let (transfer, _) =
            queued(&store, link, account, &format!("t{n}"), t0() + seconds(n)).await;
        all.push(transfer.id);
    }
    let mut passes = Vec::new();
    for pass in 0..3 {
        clock.set(t0() + seconds(200 + pass));
        let taken: Vec<TransferId> = store
            .transfers_to_reconcile(t0() + seconds(60), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|transfer| transfer.id)
            .collect();
        passes.push(taken);
    }
    assert_eq!(passes[0], all[..10], "never looked at: oldest change first");
    assert_eq!(passes[1], all[10..20]);
    assert_eq!(
        passes[2],
        [&all[20..], &all[..5]].concat(),
        "the last five never looked at, then the five looked at longest ago"
    );
}

/// Alpaca lists an account's transfers at once: the reconciler looks at every due transfer of an
/// account it lists, and those are marked like the ones it took.
async fn every_due_transfer_of_the_accounts_listed_is_taken_with_them(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (a, b, c) = (account(), account(), account());
    let link_a = created_link(&store, a, "link-a").await.id;
    let link_b = created_link(&store, b, "link-b").await.id;
    let link_c = created_link(&store, c, "link-c").await.id;
    let (a1, _) = queued(&store, link_a, a, "a1", t0()).await;
    let (a2, _) = queued(&store, link_a, a, "a2", t0() + seconds(1)).await;
    // Moved since the cutoff: not due.
    queued(&store, link_a, a, "a3", t0() + seconds(90)).await;
    let (a4, _) = queued(&store, link_a, a, "a4", t0()).await;
    store
        .change_transfer_status(
            a4.id,
            change(Queued, Complete, Some("e1"), t0() + seconds(2)),
        )
        .await
        .unwrap();
    let (b1, _) = queued(&store, link_b, b, "b1", t0()).await;
    let (c1, _) = queued(&store, link_c, c, "c1", t0() + seconds(3)).await;

    let mut taken: Vec<TransferId> = store
        .account_transfers_to_reconcile(&[a, b], t0() + seconds(60))
        .await
        .unwrap()
        .into_iter()
        .map(|transfer| transfer.id)
        .collect();
    taken.sort();
    let mut expected = vec![a1.id, a2.id, b1.id];
    expected.sort();
    assert_eq!(taken, expected, "in flight, due, of those accounts");
    clock.set(t0() + seconds(101));
    assert_eq!(
        store
            .transfers_to_reconcile(t0() + seconds(60), 1)
            .await
            .unwrap()
            .into_iter()
            .filter(|transfer| transfer.status != Complete)
            .map(|transfer| transfer.id)
            .collect::<Vec<_>>(),
        vec![c1.id],
        "the ones taken with their account were marked (in flight; COMPLETE ones are walked apart)"
    );
}

/// Replicas share the rotation: two taking at once get different transfers (PostgreSQL: takes run
/// one at a time under an advisory lock; SQLite: one writer at a time). Many rounds: with `SKIP
/// LOCKED` alone, a take whose snapshot predated the other's commit handed out the same rows: within
/// 300 rounds in each of three runs here, and once in CI in three rounds.
async fn two_replicas_taking_at_once_never_take_the_same_transfer(db: &TestDb) {
    let store = db.store().await;
    let other = db.store().await;
    let (link, account) = link(&store).await;
    for n in 0..40 {
        queued(&store, link, account, &format!("t{n}"), t0()).await;
    }
    for _ in 0..300 {
        let (mine, theirs) = tokio::join!(
            store.transfers_to_reconcile(t0() + seconds(60), 10),
            other.transfers_to_reconcile(t0() + seconds(60), 10)
        );
        let mut taken: Vec<TransferId> = mine
            .unwrap()
            .into_iter()
            .chain(theirs.unwrap())
            .map(|transfer| transfer.id)
            .collect();
        assert_eq!(taken.len(), 20);
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 20, "no transfer taken by both");
    }
}

/// What a look found is counted while it holds: until the next look, or until the transfer moves
/// (the look is stale then) or ends.
async fn what_a_look_found_is_counted_until_the_transfer_moves(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (transfer, _) = queued(&store, link, account, &format!("t{n}"), t0()).await;
        ids.push(transfer.id);
    }
    assert_eq!(
        store
            .transfers_to_reconcile(t0() + seconds(60), 10)
            .await
            .unwrap()
            .len(),
        5
    );
    store
        .record_transfer_checks(&[
            (ids[0], Some(Unresolved::Unchanged)),
            (ids[1], Some(Unresolved::Unchanged)),
            (ids[2], Some(Unresolved::Missing)),
            (ids[3], Some(Unresolved::LookupFailed)),
            (ids[4], None),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![
            (Unresolved::Unchanged, 2),
            (Unresolved::Missing, 1),
            (Unresolved::LookupFailed, 1)
        ]
    );
    // An event moves one after the look; another ends.
    store
        .change_transfer_status(
            ids[1],
            change(Queued, SentToClearing, Some("e1"), t0() + seconds(101)),
        )
        .await
        .unwrap();
    store
        .change_transfer_status(
            ids[2],
            change(Queued, Rejected, Some("e2"), t0() + seconds(101)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1), (Unresolved::LookupFailed, 1)]
    );
    // The next look found the lookup working again.
    store
        .record_transfer_checks(&[(ids[3], None)])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1)]
    );
}

/// COMPLETE is provisional: a RETURNED whose event never came must still be found, so completed
/// transfers within the return window are sampled after the ones in flight (found by the chaos run).
async fn completed_transfers_within_the_return_window_are_reconciled_after_the_ones_in_flight(
    db: &TestDb,
) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (in_flight, _) = queued(&store, link, account, "in-flight", t0() + seconds(5)).await;
    let (complete, _) = queued(&store, link, account, "complete", t0()).await;
    store
        .change_transfer_status(
            complete.id,
            change(Queued, Complete, Some("e1"), t0() + seconds(1)),
        )
        .await
        .unwrap();
    let ids = |found: Vec<Transfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![in_flight.id, complete.id]
    );
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(2), 100)
            .await
            .unwrap()),
        vec![complete.id],
        "not moved since the cutoff"
    );
    let long_after = t0() + chrono::TimeDelta::days(61);
    assert_eq!(
        ids(store.transfers_to_reconcile(long_after, 100).await.unwrap()),
        vec![in_flight.id],
        "past the return window"
    );
}

async fn the_sweep_walks_every_completed_transfer_once_before_any_again(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut completed = Vec::new();
    for n in 0..10 {
        let (transfer, _) = queued(&store, link, account, &format!("c{n}"), t0()).await;
        store
            .change_transfer_status(
                transfer.id,
                change(Queued, Complete, Some("e1"), t0() + seconds(n % 3)),
            )
            .await
            .unwrap();
        completed.push(transfer.id);
    }
    // A limit of 8 looks at two COMPLETE transfers a sweep.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let sweep = store
            .transfers_to_reconcile(t0() + seconds(10), 8)
            .await
            .unwrap();
        assert_eq!(sweep.len(), 2);
        seen.extend(sweep.into_iter().map(|t| t.id));
    }
    let mut walked = seen.clone();
    walked.sort();
    walked.dedup();
    assert_eq!(walked.len(), 10, "each once in a walk: {seen:?}");
    completed.sort();
    assert_eq!(walked, completed);
    // The next walk starts over from the oldest.
    let again = store
        .transfers_to_reconcile(t0() + seconds(10), 8)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|t| t.id).collect::<Vec<_>>(), seen[..2]);
}

on_both_backends!(
    the_reconciler_sees_transfers_alpaca_has_that_have_not_moved_since_the_cutoff,
    every_transfer_in_flight_is_taken_once_before_any_is_taken_again,
    every_due_transfer_of_the_accounts_listed_is_taken_with_them,
    two_replicas_taking_at_once_never_take_the_same_transfer,
    what_a_look_found_is_counted_until_the_transfer_moves,
    completed_transfers_within_the_return_window_are_reconciled_after_the_ones_in_flight,
    the_sweep_walks_every_completed_transfer_once_before_any_again,
);
