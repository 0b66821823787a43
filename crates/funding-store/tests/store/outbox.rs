//! The outbox: every status change writes a row in its own transaction; published rows are pruned
//! after their retention, unpublished ones never.

use chrono::Utc;
use funding_core::ports::{LinkStatusStore as _, OutboxStore as _};
use funding_domain::AchRelationshipStatus::{Creating, Failed};
use sea_orm::sea_query::Expr;

use crate::support::{TestDb, account, change, claim_link, count, created_link};

async fn outbox_rows(db: &TestDb) -> i64 {
    count(&db.raw().await, "outbox", Expr::value(true)).await
}

async fn published_rows_are_pruned_after_their_retention_and_unpublished_ones_never(db: &TestDb) {
    let store = db.store().await;
    for key in ["a", "b", "c"] {
        let link = created_link(&store, account(), key).await;
        let fence = claim_link(&store, link.id).await;
        let moved = store
            .fail_link(
                &fence,
                link.id,
                change(Creating, Failed, None),
                "X".into(),
                false,
            )
            .await
            .unwrap();
        assert!(moved);
    }
    let rows = outbox_rows(db).await;
    assert!(rows >= 3, "each move wrote an outbox row: {rows}");
    let pending = store.unpublished_outbox(1000).await.unwrap();
    assert_eq!(i64::try_from(pending.len()).unwrap(), rows);

    // Nothing is published yet: nothing is pruned, however old.
    let later = Utc::now() + chrono::Duration::days(365);
    assert_eq!(store.prune_outbox(later, 1000).await.unwrap(), 0);

    let published_at = Utc::now() - chrono::Duration::hours(2);
    for entry in &pending[..2] {
        store
            .mark_outbox_published(&entry.id, published_at)
            .await
            .unwrap();
    }
    // Within the retention: kept.
    let cutoff = Utc::now() - chrono::Duration::hours(3);
    assert_eq!(store.prune_outbox(cutoff, 1000).await.unwrap(), 0);
    // Past it: the two published rows go, one batch at a time, oldest first.
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(store.prune_outbox(cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.prune_outbox(cutoff, 1000).await.unwrap(), 1);
    assert_eq!(store.prune_outbox(cutoff, 1000).await.unwrap(), 0);
    assert_eq!(outbox_rows(db).await, rows - 2);
    let left = store.unpublished_outbox(1000).await.unwrap();
    assert_eq!(left.len(), pending.len() - 2, "every unpublished row stays");
    assert_eq!(left[0].id, pending[2].id);
}

on_both_backends!(published_rows_are_pruned_after_their_retention_and_unpublished_ones_never);
