//! Stream cursors: saved, loaded and overwritten, one per stream.

use funding_core::ports::CursorStore as _;

use crate::support::TestDb;

async fn a_cursor_is_saved_loaded_and_overwritten(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.load_cursor("alpaca:funding").await.unwrap(), None);
    store
        .save_cursor("alpaca:funding", "01J5Z8Q9Y7X6W5V4T3S2R1P0NM")
        .await
        .unwrap();
    assert_eq!(
        store
            .load_cursor("alpaca:funding")
            .await
            .unwrap()
            .as_deref(),
        Some("01J5Z8Q9Y7X6W5V4T3S2R1P0NM")
    );
    store
        .save_cursor("alpaca:funding", "01J5Z8QA00000000000000000")
        .await
        .unwrap();
    store
        .save_cursor("plaid:bank_transfer", "42")
        .await
        .unwrap();
    assert_eq!(
        store
            .load_cursor("alpaca:funding")
            .await
            .unwrap()
            .as_deref(),
        Some("01J5Z8QA00000000000000000")
    );
    assert_eq!(
        store
            .load_cursor("plaid:bank_transfer")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );
    let reopened = db.store().await;
    assert_eq!(
        reopened
            .load_cursor("plaid:bank_transfer")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );
}

on_both_backends!(a_cursor_is_saved_loaded_and_overwritten);
