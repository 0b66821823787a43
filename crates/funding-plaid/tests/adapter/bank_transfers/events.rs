//! Plaid's events: read with receiver details and unknown fields, synced after a cursor with their
//! failure reasons, a sync page read event by event (an unreadable event kept raw), and a sync's
//! count always sent within Plaid's range.

use chrono::{TimeZone, Utc};
use funding_core::ports::{BankTransferGateway, PlaidBankTransferEventFilter};
use funding_domain::OrUnknown::Known;
use funding_domain::{
    AchReturnCode, BankTransferDirection, BankTransferType, PlaidBankTransferStatus,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::*;

#[tokio::test]
async fn an_event_with_receiver_details_and_unknown_fields_is_read() {
    // plaid-python 46 requires `receiver_details` on every event; this adapter reads past it
    // and past anything newer still, through both event endpoints.
    let (server, client) = plaid().await;
    on("/bank_transfer/event/list", ok(fixtures::event_list()))
        .mount(&server)
        .await;
    on(
        "/bank_transfer/event/sync",
        ok(json!({
            "bank_transfer_events": [fixtures::event_with_receiver_details(41)],
            "request_id": "r-sync",
            "has_more": false
        })),
    )
    .mount(&server)
    .await;

    let listed = client
        .list_bank_transfer_events(&PlaidBankTransferEventFilter::default())
        .await
        .unwrap();
    let synced = client.sync_bank_transfer_events(40, 25).await.unwrap();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].event_id, Some(41));
    let synced = vec![synced[0].event.clone().expect("read")];

    for (events, event_id) in [(listed, 9), (synced, 41)] {
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_id, event_id);
        assert_eq!(event.event_type, PlaidBankTransferStatus::Posted);
        assert_eq!(event.bank_transfer_type, Known(BankTransferType::Debit));
        assert_eq!(event.direction, Some(Known(BankTransferDirection::Inbound)));
        assert_eq!(event.bank_transfer_amount, Decimal::new(10000, 2));
        assert_eq!(
            event.timestamp,
            Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap()
        );
        assert_eq!(
            event.origination_account_id.as_deref(),
            Some("8945fedc-e703-463d-86b1-dc0607b55460")
        );
        assert_eq!(event.failure_reason, None);
    }
}

#[tokio::test]
async fn events_are_synced_after_a_cursor_and_read_with_their_failure_reasons() {
    let (server, client) = plaid().await;
    on("/bank_transfer/event/sync", ok(fixtures::event_sync()))
        .mount(&server)
        .await;

    let events = client.sync_bank_transfer_events(0, 25).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/event/sync");
    assert_eq!(body(&request), json!({"after_id": 0, "count": 25}));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_id, Some(1));
    assert!(
        events[0].raw.contains(r#""event_type""#),
        "kept as Plaid sent it"
    );
    let (first, second) = (
        events[0].event.as_ref().expect("read"),
        events[1].event.as_ref().expect("read"),
    );
    assert_eq!(first.event_id, 1);
    assert_eq!(first.event_type, PlaidBankTransferStatus::Pending);
    assert_eq!(first.bank_transfer_id.as_str(), BANK_TRANSFER_ID);
    assert_eq!(first.bank_transfer_type, Known(BankTransferType::Credit));
    assert_eq!(first.bank_transfer_amount.to_string(), "12.34");
    assert_eq!(first.bank_transfer_iso_currency_code, "USD");
    assert_eq!(first.origination_account_id.as_deref(), Some(""));
    assert_eq!(
        first.direction,
        Some(Known(BankTransferDirection::Outbound))
    );
    assert_eq!(second.event_type, PlaidBankTransferStatus::Reversed);
    assert_eq!(second.direction, None);
    assert_eq!(second.origination_account_id, None);
    let failure = second.failure_reason.as_ref().unwrap();
    assert_eq!(failure.ach_return_code, Some(AchReturnCode::parse("R01")));
    assert_eq!(failure.description.as_deref(), Some("Insufficient funds"));
}

#[tokio::test]
async fn a_sync_page_is_read_event_by_event_and_an_unreadable_event_is_kept_raw() {
    // One malformed event (an amount that is not a decimal string), one of a shape this adapter
    // cannot read (no `event_id` it can read), and one with an `event_type` Plaid added later,
    // between good ones: the page is not refused, each event stands on its own.
    let good = |id: u64| {
        let mut event = fixtures::event_with_receiver_details(id);
        event["bank_transfer_id"] = json!(BANK_TRANSFER_ID);
        event
    };
    let mut malformed = good(2);
    malformed["bank_transfer_amount"] = json!({"secret-looking": "12.34"});
    let mut without_id = good(0);
    without_id["event_id"] = json!("three");
    let mut settled = good(4);
    settled["event_type"] = json!("settled");
    let (server, client) = plaid().await;
    on(
        "/bank_transfer/event/sync",
        ok(json!({
            "bank_transfer_events": [good(1), malformed, without_id, settled, good(5)],
            "request_id": "r-sync"
        })),
    )
    .mount(&server)
    .await;

    let events = client.sync_bank_transfer_events(0, 25).await.unwrap();

    assert_eq!(events.len(), 5, "nothing dropped");
    let ids: Vec<_> = events.iter().map(|event| event.event_id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), None, Some(4), Some(5)]);
    for read in [&events[0], &events[3], &events[4]] {
        let event = read.event.as_ref().expect("a good event is read");
        assert_eq!(Some(event.event_id), read.event_id);
    }
    assert_eq!(
        events[3].event.as_ref().unwrap().event_type,
        PlaidBankTransferStatus::Unknown("settled".into()),
        "a new event_type is kept as Plaid sent it, not dropped"
    );
    for unreadable in [&events[1], &events[2]] {
        let error = unreadable.event.as_ref().expect_err("kept raw");
        assert!(
            error.contains("BankTransferEvent"),
            "why it could not be read: {error}"
        );
        assert!(
            !error.contains("secret-looking"),
            "no value in the error: {error}"
        );
        let raw: serde_json::Value = serde_json::from_str(&unreadable.raw).unwrap();
        assert_eq!(
            raw["account_id"], "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
            "kept whole"
        );
    }
    assert!(
        events[1].raw.contains(r#""secret-looking""#),
        "exactly as sent"
    );
}

#[tokio::test]
async fn a_sync_page_that_is_not_a_list_of_events_is_still_an_error() {
    let (server, client) = plaid().await;
    on(
        "/bank_transfer/event/sync",
        ok(json!({"bank_transfer_events": {"not": "a list"}, "request_id": "r"})),
    )
    .mount(&server)
    .await;

    client
        .sync_bank_transfer_events(0, 25)
        .await
        .expect_err("an unreadable page");
}

#[tokio::test]
async fn a_sync_always_sends_its_count_kept_within_plaids_range() {
    for (count, expected) in [
        (0, json!({"after_id": 7, "count": 1})),
        (10, json!({"after_id": 7, "count": 10})),
        (200, json!({"after_id": 7, "count": 25})),
    ] {
        let (server, client) = plaid().await;
        on("/bank_transfer/event/sync", ok(fixtures::event_sync()))
            .mount(&server)
            .await;

        client.sync_bank_transfer_events(7, count).await.unwrap();

        assert_eq!(body(&the_request(&server).await), expected, "{count}");
    }
}
