//! Status moves from Plaid's events: conditional, recorded, idempotent per event (a replay moves
//! once, a reversal keeps its failure), `cancellable` refreshed without a move, and batches of moves
//! written whole or not at all, as the moves one by one would, without deadlocks.

use funding_core::ports::{
    BankTransferChange, BankTransferFailure, BankTransferStore as _, InboxMark, InboxState,
    PLAID_BANK_TRANSFER_STREAM,
};
use funding_domain::PlaidBankTransferStatus::{Failed, Pending, Posted, Reversed, Submitting};
use funding_domain::{AchReturnCode, BankTransferId};
use sea_orm::sea_query::{Expr, ExprTrait as _};

use crate::support::bank_transfers::{
    change, history_count, micros, pending, pending_event_ids, plaid_event, stored,
};
use crate::support::{TestDb, count, seconds, t0};

/// A batch of Plaid event moves and their inbox marks commits as one: when one move finds its
/// transfer elsewhere, nothing of the batch is written (the applier then applies the events one by
/// one); otherwise every move, history row and mark is there.
async fn a_batch_of_plaid_event_moves_is_written_whole_or_not_at_all(db: &TestDb) {
    let store = db.store().await;
    let (a, plaid_a) = pending(&store, "a", t0()).await;
    let (b, plaid_b) = pending(&store, "b", t0()).await;
    store
        .store_plaid_events(
            vec![
                plaid_event(201, &plaid_a),
                plaid_event(202, &plaid_a),
                plaid_event(203, &plaid_b),
            ],
            203,
        )
        .await
        .unwrap();
    let marks = || {
        [201, 202, 203]
            .map(|id| InboxMark {
                stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
                event_id: id.to_string(),
                state: InboxState::Applied,
                error: None,
            })
            .to_vec()
    };
    let raw = db.raw().await;

    // B is not posted: the whole batch is refused, A's two good moves included.
    let refused = vec![
        (
            a.id,
            change(Pending, Posted, Some("201"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Posted, Reversed, Some("202"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Posted, Reversed, Some("203"), t0() + seconds(3)),
        ),
    ];
    assert!(
        !store
            .apply_bank_transfer_events(refused, marks())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, Pending);
    assert_eq!(history_count(&raw, a.id).await, 2);
    assert_eq!(pending_event_ids(&store).await, [201, 202, 203]);

    let applied = vec![
        (
            a.id,
            change(Pending, Posted, Some("201"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Posted, Reversed, Some("202"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Pending, Posted, Some("203"), t0() + seconds(3)),
        ),
    ];
    assert!(
        store
            .apply_bank_transfer_events(applied, marks())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, Reversed);
    assert_eq!(stored(&store, b.id).await.status, Posted);
    assert_eq!(history_count(&raw, a.id).await, 4);
    assert_eq!(history_count(&raw, b.id).await, 3);
    assert!(
        pending_event_ids(&store).await.is_empty(),
        "every mark is stored"
    );
}

/// A batch writes each transfer's row exactly as its moves one by one would: the last move's status,
/// `cancellable`, failure, reason and time, and the last failure code any move carried.
async fn a_batch_leaves_each_transfer_as_its_moves_one_by_one_would(db: &TestDb) {
    let store = db.store().await;
    let (one_by_one, _) = pending(&store, "one-by-one", t0()).await;
    let (batched, _) = pending(&store, "batched", t0()).await;
    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".to_owned()),
    };
    let moves = |tag: &str| {
        vec![
            BankTransferChange {
                cancellable: true,
                reason: Some("posted".to_owned()),
                failure_code: Some("first".to_owned()),
                ..change(Pending, Posted, Some(&format!("{tag}1")), t0() + seconds(1))
            },
            BankTransferChange {
                failure: Some(failure.clone()),
                reason: Some("returned".to_owned()),
                ..change(
                    Posted,
                    Reversed,
                    Some(&format!("{tag}2")),
                    t0() + seconds(2),
                )
            },
        ]
    };
    for change in moves("a") {
        assert!(
            store
                .change_bank_transfer_status(one_by_one.id, change)
                .await
                .unwrap()
        );
    }
    let batch = moves("b").into_iter().map(|c| (batched.id, c)).collect();
    assert!(
        store
            .apply_bank_transfer_events(batch, Vec::new())
            .await
            .unwrap()
    );
    let (expected, got) = (
        stored(&store, one_by_one.id).await,
        stored(&store, batched.id).await,
    );
    assert_eq!(got.status, Reversed);
    assert_eq!(got.status, expected.status);
    assert_eq!(got.cancellable(), expected.cancellable());
    assert_eq!(
        got.plaid
            .as_ref()
            .map(|p| (p.cancellable, p.failure_reason.clone())),
        expected
            .plaid
            .as_ref()
            .map(|p| (p.cancellable, p.failure_reason.clone()))
    );
    assert_eq!(got.status_reason.as_deref(), Some("returned"));
    assert_eq!(got.status_reason, expected.status_reason);
    assert_eq!(got.failure_code.as_deref(), Some("first"));
    assert_eq!(got.failure_code, expected.failure_code);
    assert_eq!(got.updated_at, expected.updated_at);
    let raw = db.raw().await;
    assert_eq!(
        history_count(&raw, batched.id).await,
        history_count(&raw, one_by_one.id).await
    );
}

/// Two appliers' batches over the same transfers, written at once in opposite orders (two
/// replicas applying overlapping pages of Plaid's events): one moves them all and the other is
/// refused whole. Neither fails: on PostgreSQL, without the batch lock each would hold rows the
/// other waits for, and one would be chosen as a deadlock victim ("the database is unavailable").
async fn batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock(db: &TestDb) {
    let store = db.store().await;
    for round in 0..3 {
        let mut ids = Vec::new();
        for n in 0..30 {
            let (transfer, _) = pending(&store, &format!("r{round}-{n}"), t0()).await;
            ids.push(transfer.id);
        }
        let batch = |order: Vec<BankTransferId>, tag: &str| {
            order
                .into_iter()
                .enumerate()
                .map(|(n, id)| {
                    let event = format!("{tag}{round}{n:03}");
                    (id, change(Pending, Posted, Some(&event), t0() + seconds(1)))
                })
                .collect::<Vec<_>>()
        };
        let forward = batch(ids.clone(), "1");
        let backward = batch(ids.iter().rev().copied().collect(), "2");
        let (first, second) = tokio::join!(
            store.apply_bank_transfer_events(forward, Vec::new()),
            store.apply_bank_transfer_events(backward, Vec::new()),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first != second,
            "round {round}: exactly one batch is written"
        );
        for id in &ids {
            assert_eq!(stored(&store, *id).await.status, Posted);
        }
    }
}

async fn a_replayed_event_moves_once_and_a_reversal_keeps_its_failure(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    assert!(transfer.cancellable());
    let posting = change(Pending, Posted, Some("101"), t0() + seconds(1));
    assert!(
        store
            .change_bank_transfer_status(transfer.id, posting.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_bank_transfer_status(transfer.id, posting)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(Posted, Reversed, Some("101"), t0() + seconds(2));
    assert!(
        !store
            .change_bank_transfer_status(transfer.id, replay)
            .await
            .unwrap()
    );
    let posted = stored(&store, transfer.id).await;
    assert_eq!(posted.status, Posted);
    assert!(!posted.cancellable(), "cancellable from the move");
    assert_eq!(
        posted.plaid.as_ref().map(|p| p.status.clone()),
        Some(Posted)
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 3);

    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".to_owned()),
    };
    let reversing = BankTransferChange {
        failure: Some(failure.clone()),
        ..change(Posted, Reversed, Some("102"), t0() + seconds(3))
    };
    assert!(
        store
            .change_bank_transfer_status(transfer.id, reversing)
            .await
            .unwrap()
    );
    let reversed = stored(&store, transfer.id).await;
    assert_eq!(reversed.status, Reversed);
    let plaid = reversed.plaid.expect("Plaid's object");
    assert_eq!(plaid.status, Reversed);
    assert_eq!(plaid.failure_reason, Some(failure));
    assert_eq!(micros(reversed.updated_at), micros(t0() + seconds(3)));

    // An unknown return code is kept as given.
    let (other, _) = pending(&store, "k2", t0()).await;
    let odd = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R99")),
        description: None,
    };
    store
        .change_bank_transfer_status(
            other.id,
            BankTransferChange {
                failure: Some(odd.clone()),
                ..change(Pending, Failed, Some("103"), t0() + seconds(4))
            },
        )
        .await
        .unwrap();
    assert_eq!(
        stored(&store, other.id)
            .await
            .plaid
            .and_then(|p| p.failure_reason),
        Some(odd)
    );

    let history = store.bank_transfer_history(transfer.id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|entry| (entry.status.clone(), entry.event_id.clone()))
            .collect::<Vec<_>>(),
        vec![
            (Submitting, None),
            (Pending, None),
            (Posted, Some("101".to_owned())),
            (Reversed, Some("102".to_owned())),
        ],
        "oldest first"
    );
    assert_eq!(history[1].source, "plaid:create");
    assert_eq!(history[3].ach_return_code.as_deref(), Some("R01"));
    assert_eq!(
        history[3].description.as_deref(),
        Some("Insufficient funds")
    );
    assert_eq!(micros(history[3].at), micros(t0() + seconds(3)));
}

async fn eight_concurrent_applications_of_one_event_move_once(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = transfer.id;
            tokio::spawn(async move {
                store
                    .change_bank_transfer_status(
                        id,
                        change(Pending, Posted, Some("555"), t0() + seconds(1)),
                    )
                    .await
            })
        })
        .collect();
    let moved: Vec<bool> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no application fails"))
        .collect();
    assert_eq!(moved.iter().filter(|m| **m).count(), 1, "{moved:?}");
    assert_eq!(stored(&store, transfer.id).await.status, Posted);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "bank_transfer_status_history",
            Expr::col("event_id").eq("555")
        )
        .await,
        1
    );
    assert_eq!(history_count(&raw, transfer.id).await, 3);
}

async fn cancellable_is_refreshed_without_a_move(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    assert!(transfer.cancellable());
    assert!(
        store
            .set_bank_transfer_cancellable(transfer.id, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_bank_transfer_cancellable(transfer.id, false)
            .await
            .unwrap(),
        "unchanged"
    );
    let after = stored(&store, transfer.id).await;
    assert!(!after.cancellable());
    assert_eq!(after.status, Pending);
    assert_eq!(after.plaid.as_ref().map(|p| p.cancellable), Some(false));
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);
    assert!(
        !store
            .set_bank_transfer_cancellable(BankTransferId::generate(), true)
            .await
            .unwrap()
    );
}

on_both_backends!(
    a_batch_of_plaid_event_moves_is_written_whole_or_not_at_all,
    batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock,
    a_batch_leaves_each_transfer_as_its_moves_one_by_one_would,
    a_replayed_event_moves_once_and_a_reversal_keeps_its_failure,
    eight_concurrent_applications_of_one_event_move_once,
    cancellable_is_refreshed_without_a_move,
);
