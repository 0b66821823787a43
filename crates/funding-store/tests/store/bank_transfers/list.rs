//! Listing bank transfers: Plaid's list filters, and pages in creation order.

use funding_core::model::BankTransfer;
use funding_core::ports::{BankTransferFilter, BankTransferStore as _};
use funding_domain::BankTransferDirection;

use crate::support::bank_transfers::{
    answered, begin, claim_submit, draft, new_from, plaid, plaid_id,
};
use crate::support::{CALLER, TestDb, seconds, t0};

async fn list_filters_and_pages_in_creation_order(db: &TestDb) {
    let store = db.store().await;
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    let mut unanswered = Vec::new();
    for i in 0..4i64 {
        for (list, direction, origination) in [
            (&mut inbound, "inbound", "orig_a"),
            (&mut outbound, "outbound", "orig_b"),
        ] {
            let (claim, new) = new_from(
                CALLER,
                &draft(&format!("{direction}{i}"), "1.00", None),
                t0() + seconds(10 * i),
            );
            let transfer = begin(&store, claim, new).await;
            let fence = claim_submit(&store, transfer.id).await;
            store
                .save_plaid_answer(
                    &fence,
                    transfer.id,
                    plaid(&plaid_id(), Some(origination), Some(direction)),
                    answered(t0()),
                )
                .await
                .unwrap();
            list.push(transfer.id);
        }
        let (claim, new) = new_from(
            CALLER,
            &draft(&format!("u{i}"), "1.00", None),
            t0() + seconds(10 * i),
        );
        unanswered.push(begin(&store, claim, new).await.id);
    }
    // Another caller's transfer is never listed.
    let (claim, new) = new_from("other-service", &draft("o", "1.00", None), t0());
    begin(&store, claim, new).await;

    let ids = |page: &[BankTransfer]| page.iter().map(|t| t.id).collect::<Vec<_>>();
    let mut all: Vec<_> = inbound
        .iter()
        .chain(&outbound)
        .chain(&unanswered)
        .copied()
        .collect();
    all.sort_unstable_by_key(|id| id.as_uuid());
    let every = BankTransferFilter::default;

    let (page, next) = store
        .list_bank_transfers(CALLER, every(), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all);
    assert_eq!(next, None);

    // Page by page, five at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store
            .list_bank_transfers(CALLER, every(), 5, after)
            .await
            .unwrap();
        assert!(page.len() <= 5);
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
        .list_bank_transfers(CALLER, every(), 12, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 12);
    assert_eq!(next, None);
    // A size of 0 is one.
    let (page, next) = store
        .list_bank_transfers(CALLER, every(), 0, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all[..1].to_vec());
    assert_eq!(next, Some(all[0]));

    let list = |filter: BankTransferFilter| {
        let store = store.clone();
        async move {
            ids(&store
                .list_bank_transfers(CALLER, filter, 500, None)
                .await
                .unwrap()
                .0)
        }
    };
    assert_eq!(
        list(BankTransferFilter {
            direction: Some(BankTransferDirection::Inbound),
            ..every()
        })
        .await,
        inbound
    );
    assert_eq!(
        list(BankTransferFilter {
            origination_account_id: Some("orig_b".to_owned()),
            ..every()
        })
        .await,
        outbound
    );
    assert!(
        list(BankTransferFilter {
            origination_account_id: Some("orig_b".to_owned()),
            direction: Some(BankTransferDirection::Inbound),
            ..every()
        })
        .await
        .is_empty()
    );
    // Created at or after `start`, before `end`: the second and third rounds.
    let window = BankTransferFilter {
        start: Some(t0() + seconds(10)),
        end: Some(t0() + seconds(30)),
        ..every()
    };
    let mut expected = vec![inbound[1], outbound[1], unanswered[1]];
    expected.extend([inbound[2], outbound[2], unanswered[2]]);
    expected.sort_unstable_by_key(|id| id.as_uuid());
    assert_eq!(list(window.clone()).await, expected);
    assert_eq!(
        list(BankTransferFilter {
            direction: Some(BankTransferDirection::Outbound),
            ..window
        })
        .await,
        vec![outbound[1], outbound[2]]
    );
    assert_eq!(
        list(BankTransferFilter {
            start: Some(t0() + seconds(30)),
            ..every()
        })
        .await,
        {
            let mut last = vec![inbound[3], outbound[3], unanswered[3]];
            last.sort_unstable_by_key(|id| id.as_uuid());
            last
        }
    );
    let (page, next) = store
        .list_bank_transfers("nobody", every(), 500, None)
        .await
        .unwrap();
    assert!(page.is_empty() && next.is_none());
}

on_both_backends!(list_filters_and_pages_in_creation_order,);
