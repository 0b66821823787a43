//! Reading links back: by id, by relationship, and an account's links oldest first, page by page.

use funding_core::ports::{BankLinkStore as _, LinkPageRequest};
use funding_domain::{AchRelationshipId, BankLinkId};
use uuid::Uuid;

use crate::support::{TestDb, account, created_link};

async fn an_accounts_links_are_listed_oldest_first_page_by_page(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(created_link(&store, account, &format!("k{i}")).await.id);
    }
    created_link(&store, crate::support::account(), "someone-else").await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_links(account, LinkPageRequest { size: 2, after })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|link| link.id));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let exact = store
        .list_links(
            account,
            LinkPageRequest {
                size: 5,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 5);
    assert_eq!(exact.next_after, None, "no empty page after a full one");
}

async fn missing_links_are_none(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.get_link(BankLinkId::generate()).await.unwrap(), None);
    assert_eq!(
        store
            .find_link_by_relationship(AchRelationshipId::from_uuid(Uuid::new_v4()))
            .await
            .unwrap(),
        None
    );
    let empty = store
        .list_links(
            account(),
            LinkPageRequest {
                size: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_after.is_none());
}

on_both_backends!(
    an_accounts_links_are_listed_oldest_first_page_by_page,
    missing_links_are_none,
);
