//! The submit work's writes: the submit request recorded only while submitting and fenced,
//! Alpaca's id saved once (moving the transfer and unparking its events, or by the sweep when the
//! events were parked after), held by one transfer only, and an unsubmitted transfer ending failed
//! once.

use funding_core::ports::{InboxStore as _, StoreError, TransferSaved, TransferStore as _};
use funding_domain::AlpacaTransferStatus::{Canceled, Failed, Queued, Rejected, Submitting};
use sea_orm::sea_query::{Expr, ExprTrait as _};

use crate::support::transfers::{
    STREAM, change, claim_submit, deposit, history_count, link, park, pending_ids, provider_id,
    queued, stored, submitted, transfer_event,
};
use crate::support::{TestDb, count, execute, seconds, stale, t0};

async fn the_submit_request_is_recorded_only_while_submitting_and_fenced(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let fence = claim_submit(&store, transfer.id).await;

    assert!(matches!(
        store
            .mark_submit_requested(&stale(&fence), transfer.id, t0() + seconds(1), None)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, transfer.id).await.submit_requested_at, None);

    let at = t0() + seconds(2);
    assert!(
        store
            .mark_submit_requested(&fence, transfer.id, at, None)
            .await
            .unwrap()
    );
    let marked = stored(&store, transfer.id).await;
    assert_eq!(
        marked.submit_requested_at.map(|t| t.timestamp_micros()),
        Some(at.timestamp_micros())
    );
    assert_eq!(marked.updated_at.timestamp_micros(), at.timestamp_micros());

    // A cancel won the race: nothing may be sent, and nothing changes.
    let mut cancel = change(Submitting, Canceled, None, t0() + seconds(3));
    cancel.source = "api:cancel".to_owned();
    assert!(
        store
            .end_unsubmitted(&fence, transfer.id, cancel, None)
            .await
            .unwrap()
    );
    let before = stored(&store, transfer.id).await;
    assert!(
        !store
            .mark_submit_requested(&fence, transfer.id, t0() + seconds(4), None)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, before);
}

async fn saving_alpacas_id_moves_the_transfer_and_unparks_its_events(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let provider = provider_id();
    let stranger = provider_id();
    park(
        &store,
        vec![
            transfer_event("e1", provider),
            transfer_event("e2", stranger),
        ],
    )
    .await;
    let fence = claim_submit(&store, transfer.id).await;

    assert!(matches!(
        store
            .save_submitted(&stale(&fence), transfer.id, provider, submitted(t0()))
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(pending_ids(&store).await.is_empty());

    let at = t0() + seconds(5);
    assert_eq!(
        store
            .save_submitted(&fence, transfer.id, provider, submitted(at))
            .await
            .unwrap(),
        TransferSaved::Saved
    );
    let saved = stored(&store, transfer.id).await;
    assert_eq!(saved.status, Queued);
    assert_eq!(saved.provider_transfer_id, Some(provider));
    assert_eq!(saved.updated_at.timestamp_micros(), at.timestamp_micros());
    assert_eq!(
        store.find_transfer_by_provider_id(provider).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        store.find_transfer_by_provider_id(stranger).await.unwrap(),
        None
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);
    assert_eq!(
        pending_ids(&store).await,
        vec!["e1"],
        "only the events parked for that Alpaca transfer"
    );

    // No longer SUBMITTING: another id is refused, and nothing changes.
    assert_eq!(
        store
            .save_submitted(&fence, transfer.id, provider_id(), submitted(at))
            .await
            .unwrap(),
        TransferSaved::NotSubmitting
    );
    assert_eq!(stored(&store, transfer.id).await, saved);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);
}

async fn alpacas_id_held_by_another_transfer_is_refused(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (first, provider) = queued(&store, link, account, "first", t0()).await;
    let second = deposit(&store, link, account, "second").await;
    let fence = claim_submit(&store, second.id).await;
    assert_eq!(
        store
            .save_submitted(&fence, second.id, provider, submitted(t0()))
            .await
            .unwrap(),
        TransferSaved::HeldByAnother
    );
    let second = stored(&store, second.id).await;
    assert_eq!(second.status, Submitting);
    assert_eq!(second.provider_transfer_id, None);
    assert_eq!(history_count(&db.raw().await, second.id).await, 0);
    assert_eq!(
        store
            .find_transfer_by_provider_id(provider)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(first.id)
    );
}

async fn eight_concurrent_saves_of_one_alpaca_id_save_exactly_one(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut claimed = Vec::new();
    for i in 0..8 {
        let transfer = deposit(&store, link, account, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        claimed.push((transfer.id, fence));
    }
    let provider = provider_id();
    let tasks: Vec<_> = claimed
        .into_iter()
        .map(|(id, fence)| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .save_submitted(&fence, id, provider, submitted(t0()))
                    .await
            })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no save fails"))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == TransferSaved::Saved)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == TransferSaved::HeldByAnother)
            .count(),
        7,
        "{outcomes:?}"
    );
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "transfers",
            Expr::col("provider_transfer_id").eq(provider.as_uuid())
        )
        .await,
        1
    );
    assert_eq!(
        count(&raw, "transfers", Expr::col("status").eq("SUBMITTING")).await,
        7
    );
    assert_eq!(
        count(&raw, "transfer_status_history", Expr::value(true)).await,
        1
    );
}

async fn an_unsubmitted_transfer_ends_failed_once(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let mut failing = change(Submitting, Failed, None, t0() + seconds(5));
    failing.reason = Some("insufficient buying power".to_owned());
    failing.source = "alpaca:create".to_owned();

    assert!(matches!(
        store
            .end_unsubmitted(
                &stale(&fence),
                transfer.id,
                failing.clone(),
                Some("alpaca/invalid_input/40310000".into())
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, transfer.id).await.status, Submitting);

    assert!(
        store
            .end_unsubmitted(
                &fence,
                transfer.id,
                failing.clone(),
                Some("alpaca/invalid_input/40310000".into())
            )
            .await
            .unwrap()
    );
    let failed = stored(&store, transfer.id).await;
    assert_eq!(failed.status, Failed);
    assert_eq!(
        failed.status_reason.as_deref(),
        Some("insufficient buying power")
    );
    assert_eq!(
        failed.failure_code.as_deref(),
        Some("alpaca/invalid_input/40310000")
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // Already ended: nothing moves.
    assert!(
        !store
            .end_unsubmitted(&fence, transfer.id, failing, None)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, failed);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // Cancelled locally, without a failure code.
    let other = deposit(&store, link, account, "k2").await;
    let fence = claim_submit(&store, other.id).await;
    let cancel = change(Submitting, Canceled, None, t0() + seconds(6));
    assert!(
        store
            .end_unsubmitted(&fence, other.id, cancel, None)
            .await
            .unwrap()
    );
    let canceled = stored(&store, other.id).await;
    assert_eq!(canceled.status, Canceled);
    assert_eq!(canceled.failure_code, None);

    // Only FAILED or CANCELED end an unsubmitted transfer.
    let third = deposit(&store, link, account, "k3").await;
    let fence = claim_submit(&store, third.id).await;
    assert!(
        store
            .end_unsubmitted(
                &fence,
                third.id,
                change(Submitting, Rejected, None, t0()),
                None
            )
            .await
            .is_err()
    );
}

async fn the_sweep_unparks_transfer_events_parked_after_alpacas_id_was_stored(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (_, provider) = queued(&store, link, account, "k", t0()).await;
    // Parked although the id is stored: a park is refused once it is (store test
    // `inbox_sweep::an_alpaca_event_is_not_parked_once_its_subject_is_stored`), but a database
    // written before that may hold such events. A foreign transfer stays parked.
    store
        .store_events(
            STREAM,
            vec![
                transfer_event("e1", provider),
                transfer_event("e2", provider),
                transfer_event("e3", provider_id()),
            ],
            None,
        )
        .await
        .unwrap();
    execute(
        db,
        "UPDATE inbox_events SET state = 'parked_no_subject' WHERE state = 'pending'",
    )
    .await;
    assert!(pending_ids(&store).await.is_empty());
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 2);
    assert_eq!(pending_ids(&store).await, vec!["e1", "e2"]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
}

on_both_backends!(
    the_submit_request_is_recorded_only_while_submitting_and_fenced,
    saving_alpacas_id_moves_the_transfer_and_unparks_its_events,
    alpacas_id_held_by_another_transfer_is_refused,
    eight_concurrent_saves_of_one_alpaca_id_save_exactly_one,
    an_unsubmitted_transfer_ends_failed_once,
    the_sweep_unparks_transfer_events_parked_after_alpacas_id_was_stored,
);
