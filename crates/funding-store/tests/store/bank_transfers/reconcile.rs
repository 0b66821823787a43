//! The reconciler's query: pending bank transfers Plaid has that have not moved since the cutoff.

use funding_core::model::BankTransfer;
use funding_core::ports::{BankTransferStore as _, Unresolved};
use funding_domain::PlaidBankTransferStatus::{Pending, Posted};

use crate::support::bank_transfers::{change, created, pending};
use crate::support::{ManualClock, TestDb, seconds, t0};

async fn the_reconciler_sees_pending_transfers_plaid_has_that_have_not_moved_since_the_cutoff(
    db: &TestDb,
) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    // Still SUBMITTING (Plaid may not know it): never reconciled here.
    created(&store, "submitting").await;
    let (late, _) = pending(&store, "late", t0() + seconds(30)).await;
    let (old, _) = pending(&store, "old", t0() + seconds(10)).await;
    let (older, _) = pending(&store, "older", t0() + seconds(5)).await;
    // Posted: no longer pending, never reconciled.
    let (done, _) = pending(&store, "done", t0()).await;
    store
        .change_bank_transfer_status(
            done.id,
            change(Pending, Posted, Some("1"), t0() + seconds(1)),
        )
        .await
        .unwrap();

    let ids = |found: Vec<BankTransfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert!(
        store
            .bank_transfers_to_reconcile(t0() + seconds(4), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![older.id],
        "updated before the cutoff"
    );
    let cutoff = t0() + seconds(10) + chrono::TimeDelta::microseconds(1);
    clock.set(t0() + seconds(101));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(cutoff, 100)
            .await
            .unwrap()),
        vec![old.id, older.id],
        "never looked at first, then by the last look"
    );
    clock.set(t0() + seconds(102));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(60), 2)
            .await
            .unwrap()),
        vec![late.id, older.id]
    );
    clock.set(t0() + seconds(103));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(60), 100)
            .await
            .unwrap()),
        vec![old.id, older.id, late.id],
        "by the last look, then oldest change first"
    );
    // What the looks found, counted while it holds.
    store
        .record_bank_transfer_checks(&[
            (older.id, Some(Unresolved::Missing)),
            (late.id, Some(Unresolved::Unchanged)),
            (old.id, None),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_bank_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1), (Unresolved::Missing, 1)]
    );
    store
        .change_bank_transfer_status(
            late.id,
            change(Pending, Posted, Some("2"), t0() + seconds(104)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_bank_transfers().await.unwrap(),
        vec![(Unresolved::Missing, 1)]
    );
}

on_both_backends!(
    the_reconciler_sees_pending_transfers_plaid_has_that_have_not_moved_since_the_cutoff,
);
