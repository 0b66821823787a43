//! Status only moves along the table (DESIGN §4.4) for bank links: an event replayed after the
//! stream reconnects, a late event, and an unknown status change nothing; every move is in the history
//! once, with its source event.

use std::time::Duration;

use funding_client::v1::BankLinkStatus;
use funding_tests::TestApp;

#[tokio::test]
async fn replayed_late_and_unknown_events_change_nothing() {
    let app = TestApp::spawn().await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    let history = app.count_rows("bank_link_status_history").await;
    let relationship = link.ach_relationship_id.parse().unwrap();

    // The stream drops; the follower reconnects from its cursor, and Alpaca replays from there.
    app.sandbox.disconnect_streams();
    // A late PENDING, and a status nobody knows, arrive after APPROVED.
    app.sandbox
        .set_relationship_status(relationship, "PENDING", None)
        .unwrap();
    app.sandbox
        .set_relationship_status(relationship, "ON_HOLD_FOR_REVIEW", None)
        .unwrap();
    // Then a legal move, so we know the follower has read past the others.
    app.sandbox
        .set_relationship_status(relationship, "CANCEL_REQUESTED", None)
        .unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::CancelRequested)
        .await;

    assert_eq!(
        app.count_rows("bank_link_status_history").await,
        history + 1,
        "only the legal move was recorded"
    );
    let unique = app.count_distinct_event_ids().await;
    assert_eq!(
        unique,
        app.count_rows_where("bank_link_status_history", "event_id IS NOT NULL")
            .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.get_link(&link.id).await.status(),
        BankLinkStatus::CancelRequested
    );
    app.stop().await;
}
