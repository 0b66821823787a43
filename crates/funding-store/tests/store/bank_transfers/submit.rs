//! The submit work's writes: fenced by its claim, the first submit request kept, Plaid's answer
//! saved once (moving the transfer and unparking its events), Plaid's id held by one transfer
//! only, and a refusal ending the transfer once.

use funding_core::ports::{
    BankTransferChange, BankTransferFilter, BankTransferStore as _, PlaidAnswerSaved, StoreError,
    WorkKind, WorkQueue as _,
};
use funding_domain::PlaidBankTransferStatus::{Failed, Pending, Refused, Submitting};
use funding_domain::{BankTransferDirection, BankTransferId};
use sea_orm::sea_query::{Expr, ExprTrait as _};

use crate::support::bank_transfers::{
    answered, begin, change, claim_submit, created, draft, history_count, micros, new_from, park,
    pending, pending_event_ids, plaid, plaid_event, plaid_id, stored,
};
use crate::support::{CALLER, TestDb, count, seconds, stale, t0};

async fn fenced_writes_are_refused_with_a_stale_claim(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let stale = stale(&fence);
    assert!(matches!(
        store
            .mark_bank_transfer_submit_requested(&stale, transfer.id, t0() + seconds(1), None)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store
            .save_plaid_answer(
                &stale,
                transfer.id,
                plaid(&plaid_id(), None, None),
                answered(t0())
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    let mut refusing = change(Submitting, Refused, None, t0() + seconds(1));
    refusing.reason = Some("limit exceeded".to_owned());
    assert!(matches!(
        store
            .refuse_bank_transfer(&stale, transfer.id, refusing)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(
        stored(&store, transfer.id).await,
        transfer,
        "nothing changed"
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // A claim whose lease ran out is stale too, even with the right generation.
    let expired = store
        .claim(
            WorkKind::BankTransferSubmit,
            created(&store, "k2").await.id.as_uuid(),
            "owner",
            std::time::Duration::from_millis(1),
        )
        .await
        .unwrap()
        .expect("claimable");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let id = BankTransferId::from_uuid(expired.subject_id);
    assert!(matches!(
        store
            .mark_bank_transfer_submit_requested(&expired.claim, id, t0(), None)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, id).await.submit_requested_at, None);
}

async fn the_first_submit_request_is_kept_and_only_while_submitting(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let first = t0() + seconds(2);
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, first, None)
            .await
            .unwrap()
    );
    let marked = stored(&store, transfer.id).await;
    assert_eq!(marked.submit_requested_at.map(micros), Some(micros(first)));
    assert_eq!(micros(marked.updated_at), micros(first));
    // A resend after an unknown outcome: the first time stays.
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, t0() + seconds(9), None)
            .await
            .unwrap()
    );
    assert_eq!(
        stored(&store, transfer.id)
            .await
            .submit_requested_at
            .map(micros),
        Some(micros(first))
    );

    // No longer SUBMITTING: nothing may be sent, and nothing changes.
    let mut refusing = change(Submitting, Refused, None, t0() + seconds(10));
    refusing.source = "plaid:create".to_owned();
    assert!(
        store
            .refuse_bank_transfer(&fence, transfer.id, refusing)
            .await
            .unwrap()
    );
    let before = stored(&store, transfer.id).await;
    assert!(
        !store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, t0() + seconds(11), None)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, before);
}

async fn saving_plaids_answer_moves_the_transfer_and_unparks_its_events(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let ours = plaid_id();
    let stranger = plaid_id();
    // Events that arrived before the create's answer was stored, and one of another Plaid
    // transfer, which stays parked.
    park(
        &store,
        vec![
            plaid_event(7, &ours),
            plaid_event(8, &stranger),
            plaid_event(12, &ours),
        ],
    )
    .await;
    assert!(pending_event_ids(&store).await.is_empty());
    let fence = claim_submit(&store, transfer.id).await;

    let at = t0() + seconds(5);
    let answer = plaid(&ours, Some("orig_plaid"), Some("inbound"));
    assert_eq!(
        store
            .save_plaid_answer(&fence, transfer.id, answer.clone(), answered(at))
            .await
            .unwrap(),
        PlaidAnswerSaved::Saved
    );
    let saved = stored(&store, transfer.id).await;
    assert_eq!(saved.status, Pending);
    assert!(saved.cancellable());
    assert_eq!(saved.plaid, Some(answer));
    assert_eq!(micros(saved.updated_at), micros(at));
    assert_eq!(
        store.find_bank_transfer_by_plaid_id(&ours).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        store
            .find_bank_transfer_by_plaid_id(&stranger)
            .await
            .unwrap(),
        None
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);
    assert_eq!(
        pending_event_ids(&store).await,
        vec![7, 12],
        "only the events parked for that Plaid transfer"
    );
    // Plaid's origination account and direction, for listing, since the request named none.
    let (listed, _) = store
        .list_bank_transfers(
            CALLER,
            BankTransferFilter {
                origination_account_id: Some("orig_plaid".to_owned()),
                direction: Some(BankTransferDirection::Inbound),
                ..BankTransferFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed, vec![saved.clone()]);

    // No longer SUBMITTING: another answer is refused, and nothing changes.
    assert_eq!(
        store
            .save_plaid_answer(
                &fence,
                transfer.id,
                plaid(&plaid_id(), None, None),
                answered(at)
            )
            .await
            .unwrap(),
        PlaidAnswerSaved::NotSubmitting
    );
    assert_eq!(stored(&store, transfer.id).await, saved);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    // The request's origination account is kept when Plaid names another.
    let (claim, new) = new_from(CALLER, &draft("named", "1.00", Some("orig_request")), t0());
    let named = begin(&store, claim, new).await;
    let fence = claim_submit(&store, named.id).await;
    store
        .save_plaid_answer(
            &fence,
            named.id,
            plaid(&plaid_id(), Some("orig_plaid"), Some("outbound")),
            answered(at),
        )
        .await
        .unwrap();
    let by_origination = |origination: &str| BankTransferFilter {
        origination_account_id: Some(origination.to_owned()),
        ..BankTransferFilter::default()
    };
    let (listed, _) = store
        .list_bank_transfers(CALLER, by_origination("orig_request"), 10, None)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![named.id]
    );
    let (listed, _) = store
        .list_bank_transfers(CALLER, by_origination("orig_plaid"), 10, None)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![transfer.id]
    );
}

async fn plaids_id_held_by_another_transfer_is_refused(db: &TestDb) {
    let store = db.store().await;
    let (first, ours) = pending(&store, "first", t0()).await;
    let second = created(&store, "second").await;
    let fence = claim_submit(&store, second.id).await;
    assert_eq!(
        store
            .save_plaid_answer(&fence, second.id, plaid(&ours, None, None), answered(t0()))
            .await
            .unwrap(),
        PlaidAnswerSaved::HeldByAnother
    );
    assert_eq!(stored(&store, second.id).await, second, "nothing written");
    assert_eq!(history_count(&db.raw().await, second.id).await, 1);
    assert_eq!(
        store
            .find_bank_transfer_by_plaid_id(&ours)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(first.id)
    );
}

async fn eight_concurrent_saves_of_one_plaid_id_save_exactly_one(db: &TestDb) {
    let store = db.store().await;
    let mut claimed = Vec::new();
    for i in 0..8 {
        let transfer = created(&store, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        claimed.push((transfer.id, fence));
    }
    let ours = plaid_id();
    let tasks: Vec<_> = claimed
        .into_iter()
        .map(|(id, fence)| {
            let store = store.clone();
            let answer = plaid(&ours, None, None);
            tokio::spawn(async move {
                store
                    .save_plaid_answer(&fence, id, answer, answered(t0()))
                    .await
            })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no save fails"))
        .collect();
    let saved = |what: PlaidAnswerSaved| outcomes.iter().filter(|o| **o == what).count();
    assert_eq!(saved(PlaidAnswerSaved::Saved), 1, "{outcomes:?}");
    assert_eq!(saved(PlaidAnswerSaved::HeldByAnother), 7, "{outcomes:?}");
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "bank_transfers",
            Expr::col("plaid_bank_transfer_id").eq(ours.as_str())
        )
        .await,
        1
    );
    assert_eq!(
        count(&raw, "bank_transfers", Expr::col("status").eq("submitting")).await,
        7
    );
    assert_eq!(
        count(&raw, "bank_transfer_status_history", Expr::value(true)).await,
        8 + 1
    );
}

async fn a_refused_transfer_ends_refused_once(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let refusing = BankTransferChange {
        reason: Some("the transfer exceeds the limit".to_owned()),
        failure_code: Some("plaid/invalid_input/BANK_TRANSFER_LIMIT_EXCEEDED".to_owned()),
        source: "plaid:create".to_owned(),
        ..change(Submitting, Refused, None, t0() + seconds(5))
    };
    assert!(
        store
            .refuse_bank_transfer(&fence, transfer.id, refusing.clone())
            .await
            .unwrap()
    );
    let refused = stored(&store, transfer.id).await;
    assert_eq!(refused.status, Refused);
    assert_eq!(
        refused.status_reason.as_deref(),
        Some("the transfer exceeds the limit")
    );
    assert_eq!(
        refused.failure_code.as_deref(),
        Some("plaid/invalid_input/BANK_TRANSFER_LIMIT_EXCEEDED")
    );
    assert_eq!(refused.plaid, None);
    let history = store.bank_transfer_history(transfer.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].status, Refused);
    assert_eq!(
        history[1].description.as_deref(),
        Some("the transfer exceeds the limit")
    );

    // Already ended: nothing moves.
    assert!(
        !store
            .refuse_bank_transfer(&fence, transfer.id, refusing)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, refused);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    // Only REFUSED, and only from SUBMITTING.
    let other = created(&store, "k2").await;
    let fence = claim_submit(&store, other.id).await;
    assert!(
        store
            .refuse_bank_transfer(&fence, other.id, change(Submitting, Failed, None, t0()))
            .await
            .is_err()
    );
    assert!(
        store
            .refuse_bank_transfer(&fence, other.id, change(Pending, Refused, None, t0()))
            .await
            .is_err()
    );
    assert_eq!(stored(&store, other.id).await.status, Submitting);
}

on_both_backends!(
    fenced_writes_are_refused_with_a_stale_claim,
    the_first_submit_request_is_kept_and_only_while_submitting,
    saving_plaids_answer_moves_the_transfer_and_unparks_its_events,
    plaids_id_held_by_another_transfer_is_refused,
    eight_concurrent_saves_of_one_plaid_id_save_exactly_one,
    a_refused_transfer_ends_refused_once,
);
