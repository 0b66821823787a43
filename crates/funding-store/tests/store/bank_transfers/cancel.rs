//! Cancelling a bank transfer here: an unsent one is cancelled and a sent one is not, and a cancel
//! racing the submit request lets exactly one of them win.

use chrono::{DateTime, Utc};
use funding_core::ports::{BankTransferChange, BankTransferStore as _};
use funding_domain::PlaidBankTransferStatus::{Cancelled, Failed, Submitting};

use crate::support::bank_transfers::{change, claim_submit, created, history_count, stored};
use crate::support::{TestDb, seconds, t0};

fn local_cancel(at: DateTime<Utc>) -> BankTransferChange {
    BankTransferChange {
        source: "api:cancel".to_owned(),
        ..change(Submitting, Cancelled, None, at)
    }
}

async fn an_unsent_bank_transfer_is_cancelled_and_a_sent_one_is_not(db: &TestDb) {
    let store = db.store().await;
    let unsent = created(&store, "unsent").await;
    assert!(
        store
            .cancel_unsent_bank_transfer(unsent.id, local_cancel(t0() + seconds(1)))
            .await
            .unwrap()
    );
    let cancelled = stored(&store, unsent.id).await;
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(history_count(&db.raw().await, unsent.id).await, 2);
    assert!(
        !store
            .cancel_unsent_bank_transfer(unsent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, unsent.id).await, cancelled);

    let sent = created(&store, "sent").await;
    let fence = claim_submit(&store, sent.id).await;
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, sent.id, t0() + seconds(1), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_unsent_bank_transfer(sent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap(),
        "its create may have reached Plaid"
    );
    assert_eq!(stored(&store, sent.id).await.status, Submitting);
    assert_eq!(history_count(&db.raw().await, sent.id).await, 1);
    // Only to CANCELLED.
    assert!(
        store
            .cancel_unsent_bank_transfer(
                created(&store, "third").await.id,
                change(Submitting, Failed, None, t0())
            )
            .await
            .is_err()
    );
}

async fn a_cancel_racing_the_submit_request_lets_exactly_one_win(db: &TestDb) {
    let store = db.store().await;
    for i in 0..8 {
        let transfer = created(&store, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        let (marking, cancelling) = (store.clone(), store.clone());
        let id = transfer.id;
        let marked = tokio::spawn(async move {
            marking
                .mark_bank_transfer_submit_requested(&fence, id, t0() + seconds(1), None)
                .await
        });
        let cancelled = tokio::spawn(async move {
            cancelling
                .cancel_unsent_bank_transfer(id, local_cancel(t0()))
                .await
        });
        let marked = marked.await.unwrap().unwrap();
        let cancelled = cancelled.await.unwrap().unwrap();
        assert!(
            marked != cancelled,
            "exactly one of them: {marked} {cancelled}"
        );
        let after = stored(&store, id).await;
        if marked {
            assert_eq!(after.status, Submitting);
            assert!(after.submit_requested_at.is_some());
        } else {
            assert_eq!(after.status, Cancelled);
            assert_eq!(after.submit_requested_at, None);
        }
    }
}

on_both_backends!(
    an_unsent_bank_transfer_is_cancelled_and_a_sent_one_is_not,
    a_cancel_racing_the_submit_request_lets_exactly_one_win,
);
