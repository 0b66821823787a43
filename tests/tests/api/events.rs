//! Status only moves along the table (DESIGN §4.4) for bank links: an event replayed after the
//! stream reconnects, a late event, and an unknown status change nothing; every move is in the history
//! once, with its source event.

use std::time::Duration;

use funding_client::v1::BankLinkStatus;
use funding_tests::{AppOptions, Backend, TestApp};

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

/// Polls until `condition` holds (bounded).
async fn eventually(app: &TestApp, sql_condition: &str, table: &str) {
    for _ in 0..200 {
        if app.count_rows_where(table, sql_condition).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {table} where {sql_condition}");
}

async fn an_unreadable_event_is_kept_raw_and_the_events_after_it_are_applied(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    app.sandbox
        .emit_raw_funding_event(r#"{"event_id": "not-a-ulid", "status_to": 7}"#);
    app.sandbox
        .set_relationship_status(
            link.ach_relationship_id.parse().unwrap(),
            "CANCEL_REQUESTED",
            None,
        )
        .unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::CancelRequested)
        .await;
    assert_eq!(
        app.count_rows_where(
            "inbox_events",
            "state = 'unreadable' AND payload LIKE '%not-a-ulid%' AND error IS NOT NULL"
        )
        .await,
        1,
        "the unreadable event is kept, raw, with why"
    );
    app.stop().await;
}

async fn an_event_that_fails_to_apply_is_parked_with_its_error_and_later_events_still_flow(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let broken = app.create_link(app.create_request().await).await.unwrap();
    let healthy = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&broken.id, BankLinkStatus::Approved)
        .await;
    app.wait_for_link_status(&healthy.id, BankLinkStatus::Approved)
        .await;
    // Damage the first link's row so that reading it fails.
    app.execute(&format!(
        "UPDATE bank_links SET plaid_account_id = 'not valid!' WHERE ach_relationship_id = '{}'",
        broken.ach_relationship_id
    ))
    .await;
    let damaged = app
        .count_rows_where("bank_links", "plaid_account_id = 'not valid!'")
        .await;
    if damaged == 0 {
        // SQLite keeps UUIDs as blobs: match the row by its id's bytes instead.
        app.execute(&format!(
            "UPDATE bank_links SET plaid_account_id = 'not valid!' WHERE hex(ach_relationship_id) = '{}'",
            broken.ach_relationship_id.replace('-', "").to_uppercase()
        ))
        .await;
    }
    assert_eq!(
        app.count_rows_where("bank_links", "plaid_account_id = 'not valid!'")
            .await,
        1
    );
    app.sandbox
        .set_relationship_status(
            broken.ach_relationship_id.parse().unwrap(),
            "CANCEL_REQUESTED",
            None,
        )
        .unwrap();
    app.sandbox
        .set_relationship_status(
            healthy.ach_relationship_id.parse().unwrap(),
            "CANCEL_REQUESTED",
            None,
        )
        .unwrap();
    app.wait_for_link_status(&healthy.id, BankLinkStatus::CancelRequested)
        .await;
    eventually(
        &app,
        &format!(
            "state = 'parked_error' AND error LIKE '%corrupt%' AND entity_id = '{}'",
            broken.ach_relationship_id
        ),
        "inbox_events",
    )
    .await;
    app.stop().await;
}

async fn the_reconciler_moves_a_link_whose_events_never_arrive(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    // The event stream is down for the whole test.
    app.sandbox.inject_fault(
        funding_sandbox::Fault::new(funding_sandbox::Host::Alpaca, "/v2/events", 500)
            .times(100_000),
    );
    app.sandbox.disconnect_streams();
    let link = app.create_link(app.create_request().await).await.unwrap();
    assert_eq!(link.status(), BankLinkStatus::Queued);
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.count_rows_where(
            "bank_link_status_history",
            "source = 'reconciler' AND to_status = 'APPROVED'"
        )
        .await,
        1
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    an_unreadable_event_is_kept_raw_and_the_events_after_it_are_applied,
    an_event_that_fails_to_apply_is_parked_with_its_error_and_later_events_still_flow,
    the_reconciler_moves_a_link_whose_events_never_arrive,
);
