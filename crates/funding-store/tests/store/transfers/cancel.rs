//! Cancelling a transfer here: an unsent one is cancelled and a sent one is not, and a cancel
//! racing the submit request lets exactly one of them win.

use chrono::{DateTime, Utc};
use funding_core::ports::{TransferChange, TransferStore as _};
use funding_domain::AlpacaTransferStatus::{Canceled, Submitting};

use crate::support::transfers::{change, claim_submit, deposit, history_count, link, stored};
use crate::support::{TestDb, seconds, t0};

fn local_cancel(at: DateTime<Utc>) -> TransferChange {
    TransferChange {
        source: "api:cancel".to_owned(),
        ..change(Submitting, Canceled, None, at)
    }
}

async fn an_unsent_transfer_is_cancelled_and_a_sent_one_is_not(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let unsent = deposit(&store, link, account, "unsent").await;
    assert!(
        store
            .cancel_unsent(unsent.id, local_cancel(t0() + seconds(1)))
            .await
            .unwrap()
    );
    let canceled = stored(&store, unsent.id).await;
    assert_eq!(canceled.status, Canceled);
    assert_eq!(history_count(&db.raw().await, unsent.id).await, 1);
    assert!(
        !store
            .cancel_unsent(unsent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, unsent.id).await, canceled);

    let sent = deposit(&store, link, account, "sent").await;
    let fence = claim_submit(&store, sent.id).await;
    assert!(
        store
            .mark_submit_requested(&fence, sent.id, t0() + seconds(1), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_unsent(sent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap(),
        "its create may have reached Alpaca"
    );
    assert_eq!(stored(&store, sent.id).await.status, Submitting);
    assert_eq!(history_count(&db.raw().await, sent.id).await, 0);
}

async fn a_cancel_racing_the_submit_request_lets_exactly_one_win(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    for i in 0..8 {
        let transfer = deposit(&store, link, account, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        let (marking, canceling) = (store.clone(), store.clone());
        let id = transfer.id;
        let marked = tokio::spawn(async move {
            marking
                .mark_submit_requested(&fence, id, t0() + seconds(1), None)
                .await
        });
        let canceled =
            tokio::spawn(async move { canceling.cancel_unsent(id, local_cancel(t0())).await });
        let marked = marked.await.unwrap().unwrap();
        let canceled = canceled.await.unwrap().unwrap();
        assert!(
            marked != canceled,
            "exactly one of them: {marked} {canceled}"
        );
        let after = stored(&store, id).await;
        if marked {
            assert_eq!(after.status, Submitting);
            assert!(after.submit_requested_at.is_some());
        } else {
            assert_eq!(after.status, Canceled);
            assert_eq!(after.submit_requested_at, None);
        }
    }
}

on_both_backends!(
    an_unsent_transfer_is_cancelled_and_a_sent_one_is_not,
    a_cancel_racing_the_submit_request_lets_exactly_one_win,
);
