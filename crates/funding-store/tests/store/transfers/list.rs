//! Listing transfers: filters, and pages in creation order.

use funding_core::model::Transfer;
use funding_core::ports::{TransferDirection, TransferFilter, TransferStore as _};
use funding_domain::AlpacaTransferStatus::{self, Queued, Submitting};

use crate::support::transfers::{claim_submit, created, deposit, link, provider_id, submitted};
use crate::support::{TestDb, created_link, t0};

async fn list_filters_and_pages_in_creation_order(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut deposits = Vec::new();
    let mut withdrawals = Vec::new();
    for i in 0..5 {
        deposits.push(deposit(&store, link, account, &format!("d{i}")).await.id);
        withdrawals.push(
            created(
                &store,
                link,
                account,
                &format!("w{i}"),
                "1.50",
                TransferDirection::Withdrawal,
            )
            .await
            .id,
        );
    }
    // Another account's transfer over another link is never listed.
    let other_account = crate::support::account();
    let other_link = created_link(&store, other_account, "other-link").await.id;
    deposit(&store, other_link, other_account, "o").await;
    // Two withdrawals are QUEUED.
    for id in &withdrawals[1..3] {
        let fence = claim_submit(&store, *id).await;
        store
            .save_submitted(&fence, *id, provider_id(), submitted(t0()))
            .await
            .unwrap();
    }

    let ids = |page: &[Transfer]| page.iter().map(|t| t.id).collect::<Vec<_>>();
    let mut all: Vec<_> = deposits.iter().chain(&withdrawals).copied().collect();
    all.sort_unstable_by_key(|id| id.as_uuid());

    let (page, next) = store
        .list_transfers(account, TransferFilter::default(), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all);
    assert_eq!(next, None);

    // Page by page, four at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store
            .list_transfers(account, TransferFilter::default(), 4, after)
            .await
            .unwrap();
        assert!(page.len() <= 4);
        seen.extend(ids(&page));
        match next {
            Some(next) => {
                assert_eq!(Some(next), page.last().map(|t| t.id));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    // Exactly a page's worth: no next page announced.
    let (page, next) = store
        .list_transfers(account, TransferFilter::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(next, None);
    // A size of 0 is one.
    let (page, next) = store
        .list_transfers(account, TransferFilter::default(), 0, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all[..1].to_vec());
    assert_eq!(next, Some(all[0]));

    let by = |status: Option<AlpacaTransferStatus>, direction: Option<TransferDirection>| {
        TransferFilter { status, direction }
    };
    let (page, _) = store
        .list_transfers(
            account,
            by(None, Some(TransferDirection::Deposit)),
            500,
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), deposits);
    let (page, _) = store
        .list_transfers(account, by(Some(Queued), None), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), withdrawals[1..3].to_vec());
    let (page, _) = store
        .list_transfers(
            account,
            by(Some(Submitting), Some(TransferDirection::Withdrawal)),
            500,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&page),
        vec![withdrawals[0], withdrawals[3], withdrawals[4]]
    );
    let (page, next) = store
        .list_transfers(
            account,
            by(Some(Queued), Some(TransferDirection::Deposit)),
            500,
            None,
        )
        .await
        .unwrap();
    assert!(page.is_empty());
    assert_eq!(next, None);
}

on_both_backends!(list_filters_and_pages_in_creation_order,);
