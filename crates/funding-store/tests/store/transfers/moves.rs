//! Status moves from Alpaca's events: conditional, recorded, idempotent per event (a replay moves
//! once, a return keeps its code), moves without event ids all recorded, and batches of moves
//! written whole or not at all, without deadlocks.

use funding_core::ports::{
    AuditFilter, InboxMark, InboxState, InboxStore as _, RiskStore as _, TransferStore as _,
};
use funding_domain::AlpacaTransferStatus::{
    Approved, Complete, Pending, Queued, Returned, SentToClearing, Submitting,
};
use funding_domain::TransferId;
use sea_orm::sea_query::{Expr, ExprTrait as _};

use crate::support::transfers::{
    STREAM, change, history_count, link, pending_ids, queued, stored, transfer_event,
};
use crate::support::{TestDb, count, seconds, t0};

async fn a_replayed_event_moves_once_and_a_return_keeps_its_code(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (transfer, _) = queued(&store, link, account, "k", t0()).await;

    // From a stale status: nothing.
    assert!(
        !store
            .change_transfer_status(transfer.id, change(Pending, Complete, Some("ev0"), t0()))
            .await
            .unwrap()
    );
    let clearing = change(Queued, SentToClearing, Some("ev1"), t0() + seconds(1));
    assert!(
        store
            .change_transfer_status(transfer.id, clearing.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_transfer_status(transfer.id, clearing)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(SentToClearing, Complete, Some("ev1"), t0() + seconds(2));
    assert!(
        !store
            .change_transfer_status(transfer.id, replay)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await.status, SentToClearing);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    assert!(
        store
            .change_transfer_status(
                transfer.id,
                change(SentToClearing, Complete, Some("ev2"), t0() + seconds(3))
            )
            .await
            .unwrap()
    );
    let mut returning = change(Complete, Returned, Some("ev3"), t0() + seconds(4));
    returning.reason = Some("Insufficient Funds".to_owned());
    returning.ach_return_code = Some("R01".to_owned());
    assert!(
        store
            .change_transfer_status(transfer.id, returning)
            .await
            .unwrap()
    );
    let returned = stored(&store, transfer.id).await;
    assert_eq!(returned.status, Returned);
    assert_eq!(returned.ach_return_code.as_deref(), Some("R01"));
    assert_eq!(
        returned.status_reason.as_deref(),
        Some("Insufficient Funds")
    );
    let raw = db.raw().await;
    assert_eq!(history_count(&raw, transfer.id).await, 4);
    assert_eq!(
        count(
            &raw,
            "transfer_status_history",
            Expr::col("ach_return_code").eq("R01")
        )
        .await,
        1,
        "the history keeps the return code"
    );
}

async fn moves_without_event_ids_are_all_recorded(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (transfer, _) = queued(&store, link, account, "k", t0()).await;
    for (from, to) in [
        (Queued, Pending),
        (Pending, SentToClearing),
        (SentToClearing, Approved),
    ] {
        let mut moving = change(from, to, None, t0() + seconds(1));
        moving.source = "reconciler".to_owned();
        assert!(
            store
                .change_transfer_status(transfer.id, moving)
                .await
                .unwrap()
        );
    }
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 4);
}

/// Two batches over the same transfers, written at once in opposite orders (a follower whose lease
/// ran out still writing its last batch beside the new holder's): one moves them all and the other
/// is refused whole, and neither fails with a deadlock on PostgreSQL.
async fn batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    for round in 0..3 {
        let mut ids = Vec::new();
        for n in 0..30 {
            let (transfer, _) = queued(&store, link, account, &format!("r{round}-{n}"), t0()).await;
            ids.push(transfer.id);
        }
        let batch = |order: Vec<TransferId>, tag: &str| {
            order
                .into_iter()
                .enumerate()
                .map(|(n, id)| {
                    let event = format!("{tag}-{round}-{n}");
                    (id, change(Queued, Pending, Some(&event), t0() + seconds(1)))
                })
                .collect::<Vec<_>>()
        };
        let forward = batch(ids.clone(), "forward");
        let backward = batch(ids.iter().rev().copied().collect(), "backward");
        let (first, second) = tokio::join!(
            store.apply_transfer_events(forward, Vec::new()),
            store.apply_transfer_events(backward, Vec::new()),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first != second,
            "round {round}: exactly one batch is written"
        );
        for id in &ids {
            assert_eq!(stored(&store, *id).await.status, Pending);
        }
    }
}

/// A batch of event moves and their inbox marks commits as one: when one move finds its transfer
/// elsewhere, or its event already in the history, nothing of the batch is written (the applier
/// then applies the events one by one); otherwise every move, history row, change-log entry and
/// mark is there.
async fn a_batch_of_event_moves_is_written_whole_or_not_at_all(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (a, provider_a) = queued(&store, link, account, "a", t0()).await;
    let (b, provider_b) = queued(&store, link, account, "b", t0()).await;
    store
        .store_events(
            STREAM,
            vec![
                transfer_event("ev-a1", provider_a),
                transfer_event("ev-a2", provider_a),
                transfer_event("ev-b1", provider_b),
            ],
            None,
        )
        .await
        .unwrap();
    let marks = || {
        ["ev-a1", "ev-a2", "ev-b1"]
            .map(|id| InboxMark {
                stream: STREAM.to_owned(),
                event_id: id.to_owned(),
                state: InboxState::Applied,
                error: None,
            })
            .to_vec()
    };
    let raw = db.raw().await;
    let changes_before = count(&raw, "transfer_changes", Expr::val(1).eq(1)).await;

    // B is not COMPLETE: the whole batch is refused, A's two good moves included.
    let refused = vec![
        (
            a.id,
            change(Queued, Pending, Some("ev-a1"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Pending, SentToClearing, Some("ev-a2"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Complete, Returned, Some("ev-b1"), t0() + seconds(3)),
        ),
    ];
    assert!(!store.apply_transfer_events(refused, marks()).await.unwrap());
    assert_eq!(stored(&store, a.id).await.status, Queued);
    assert_eq!(history_count(&raw, a.id).await, 1);
    assert_eq!(
        count(&raw, "transfer_changes", Expr::val(1).eq(1)).await,
        changes_before
    );
    assert_eq!(pending_ids(&store).await, ["ev-a1", "ev-a2", "ev-b1"]);

    let applied = vec![
        (
            a.id,
            change(Queued, Pending, Some("ev-a1"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Pending, SentToClearing, Some("ev-a2"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Queued, Pending, Some("ev-b1"), t0() + seconds(3)),
        ),
    ];
    assert!(store.apply_transfer_events(applied, marks()).await.unwrap());
    assert_eq!(stored(&store, a.id).await.status, SentToClearing);
    assert_eq!(stored(&store, b.id).await.status, Pending);
    assert_eq!(history_count(&raw, a.id).await, 3);
    assert_eq!(history_count(&raw, b.id).await, 2);
    assert_eq!(
        count(&raw, "transfer_changes", Expr::val(1).eq(1)).await,
        changes_before + 3,
        "every move is in the change log"
    );
    assert!(pending_ids(&store).await.is_empty(), "every mark is stored");
    // The log holds each step as that move left the transfer, in order, with its outbox row.
    let log = store
        .transfer_events(account, Some(a.id), 0, 100)
        .await
        .unwrap();
    let steps: Vec<_> = log.iter().map(|e| e.transfer.status.clone()).collect();
    assert_eq!(steps, [Submitting, Queued, Pending, SentToClearing]);
    assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    let last = log.last().unwrap();
    assert_eq!(last.transfer, stored(&store, a.id).await);
    assert_eq!(
        log[2].transfer.updated_at,
        chrono::SubsecRound::trunc_subsecs(t0() + seconds(1), 6),
        "stored to the microsecond, as every move is"
    );
    assert_eq!(
        count(&raw, "outbox", Expr::col("resource_id").eq(a.id.as_uuid())).await,
        4,
        "an outbox row for every logged change"
    );
    for entry in &log {
        let id = format!("{}:{}", a.id.as_uuid(), entry.seq);
        assert_eq!(
            count(&raw, "outbox", Expr::col("id").eq(id.as_str())).await,
            1,
            "the outbox row of change {id}, named by its transfer and number"
        );
    }

    // A replayed event (its id already in A's history) refuses the batch even from A's status.
    let replayed = vec![(
        a.id,
        change(SentToClearing, Complete, Some("ev-a2"), t0() + seconds(4)),
    )];
    assert!(
        !store
            .apply_transfer_events(replayed, Vec::new())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, SentToClearing);
    assert_eq!(history_count(&raw, a.id).await, 3);
}

/// A batch's returns are recorded as one return after another would be: each its audit event (by
/// the service, naming the transfer and its account), chained after the trail's last event in the
/// order of the moves, and the work of its consequences once when the policy gives its code one
/// that acts now (not for insufficient funds); a replay of a return writes neither again.
async fn a_batch_of_returns_records_each_as_one_by_one_would(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (a, _) = queued(&store, link, account, "a", t0()).await;
    let (b, _) = queued(&store, link, account, "b", t0()).await;
    let (c, _) = queued(&store, link, account, "c", t0()).await;
    let (d, _) = queued(&store, link, account, "d", t0()).await;
    let returned = |from, code: &str, event, at| {
        let mut change = change(from, Returned, Some(event), at);
        change.ach_return_code = Some(code.to_owned());
        change.reason = Some(format!("{code}: returned"));
        change
    };
    // One return alone first: the batch's events are chained after it.
    assert!(
        store
            .change_transfer_status(d.id, returned(Queued, "R10", "ev-d1", t0() + seconds(1)))
            .await
            .unwrap()
    );
    let batch = vec![
        (
            a.id,
            change(Queued, Complete, Some("ev-a1"), t0() + seconds(2)),
        ),
        (a.id, returned(Complete, "R03", "ev-a2", t0() + seconds(3))),
        (
            c.id,
            change(Queued, Pending, Some("ev-c1"), t0() + seconds(4)),
        ),
        (b.id, returned(Queued, "R01", "ev-b1", t0() + seconds(5))),
    ];
    assert!(
        store
            .apply_transfer_events(batch.clone(), Vec::new())
            .await
            .unwrap()
    );

    let (events, _) = store
        .list_audit_events(AuditFilter::default(), 100, None)
        .await
        .unwrap();
    let returns: Vec<(i64, &str, &str)> = events
        .iter()
        .filter(|event| event.action == "transfer.returned")
        .map(|event| (event.seq, event.resource.as_str(), event.actor.as_str()))
        .collect();
    let (ra, rb, rd) = (
        format!("transfers/{}", a.id),
        format!("transfers/{}", b.id),
        format!("transfers/{}", d.id),
    );
    let last = events.len() as i64;
    assert_eq!(
        returns,
        [
            (last - 2, rd.as_str(), "service"),
            (last - 1, ra.as_str(), "service"),
            (last, rb.as_str(), "service"),
        ],
        "one event per return, in the order of the moves, at the trail's end"
    );
    assert!(
        events
            .iter()
            .filter(|event| event.action == "transfer.returned")
            .all(|event| event.account_id == Some(account)
                && event.reason.ends_with(": returned")
                && event.details.contains("\"ach_return_code\":\"R"))
    );
    let verified = funding_domain::audit::verify_chain(
        events
            .iter()
            .map(|event| (event.chain_fields(), event.hash.as_str())),
    );
    assert_eq!(
        verified,
        Ok(last as u64),
        "the chain holds across the batch"
    );

    let raw = db.raw().await;
    let consequences = |id: TransferId| {
        count(
            &raw,
            "work_items",
            Expr::col("kind")
                .eq("transfer_returned")
                .and(Expr::col("subject_id").eq(id.as_uuid()))
                .and(Expr::col("state").eq("pending")),
        )
    };
    // R03 (the account gone) and R10 (unauthorized) act now; R01 is counted by the checks later.
    for (id, expected) in [(a.id, 1), (b.id, 0), (d.id, 1), (c.id, 0)] {
        assert_eq!(consequences(id).await, expected, "{id}");
    }

    // The same events again move nothing and record nothing.
    assert!(
        !store
            .apply_transfer_events(batch, Vec::new())
            .await
            .unwrap()
    );
    let (again, _) = store
        .list_audit_events(AuditFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(again.len(), events.len());
}

on_both_backends!(
    a_batch_of_returns_records_each_as_one_by_one_would,
    a_batch_of_event_moves_is_written_whole_or_not_at_all,
    batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock,
    a_replayed_event_moves_once_and_a_return_keeps_its_code,
    moves_without_event_ids_are_all_recorded,
);
