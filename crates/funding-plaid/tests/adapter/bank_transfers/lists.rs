//! The list endpoints: bank transfers and their events listed with every filter given, an empty
//! filter sent as an empty body, and counts kept within Plaid's range.

use chrono::{TimeZone, Utc};
use funding_core::ports::{
    BankTransferGateway, PlaidBankTransferEventFilter, PlaidBankTransferListFilter,
};
use funding_domain::{
    AchReturnCode, BankTransferDirection, BankTransferType, PlaidBankTransferStatus,
};
use serde_json::json;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::bank_transfers::transfer_id;
use crate::support::*;

#[tokio::test]
async fn bank_transfers_are_listed_with_every_filter_given() {
    let (server, client) = plaid().await;
    on("/bank_transfer/list", ok(fixtures::bank_transfer_list()))
        .mount(&server)
        .await;
    let filter = PlaidBankTransferListFilter {
        start_date: Some(Utc.with_ymd_and_hms(2019, 12, 6, 22, 35, 49).unwrap()),
        end_date: Some(Utc.with_ymd_and_hms(2019, 12, 31, 0, 0, 0).unwrap()),
        count: Some(10),
        offset: Some(20),
        origination_account_id: Some("8945fedc-e703-463d-86b1-dc0607b55460".into()),
        direction: Some(BankTransferDirection::Outbound),
    };

    let transfers = client.list_bank_transfers(&filter).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/list");
    assert_eq!(
        body(&request),
        json!({
            "start_date": "2019-12-06T22:35:49Z",
            "end_date": "2019-12-31T00:00:00Z",
            "count": 10,
            "offset": 20,
            "origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460",
            "direction": "outbound"
        })
    );
    assert_eq!(transfers.len(), 2);
    assert_eq!(transfers[0].id.as_str(), BANK_TRANSFER_ID);
    let second = &transfers[1];
    assert_eq!(second.status, PlaidBankTransferStatus::Reversed);
    assert!(!second.cancellable);
    assert_eq!(second.direction, None);
    assert!(second.metadata.is_empty());
    let failure = second.failure_reason.as_ref().unwrap();
    assert_eq!(failure.ach_return_code, Some(AchReturnCode::parse("R13")));
}

#[tokio::test]
async fn an_empty_list_filter_sends_an_empty_body_and_counts_are_kept_within_plaids_range() {
    for (count, expected) in [
        (None, json!({})),
        (Some(0), json!({"count": 1})),
        (Some(200), json!({"count": 25})),
    ] {
        let (server, client) = plaid().await;
        on("/bank_transfer/list", ok(fixtures::bank_transfer_list()))
            .mount(&server)
            .await;
        let filter = PlaidBankTransferListFilter {
            count,
            ..Default::default()
        };

        client.list_bank_transfers(&filter).await.unwrap();

        assert_eq!(body(&the_request(&server).await), expected, "{count:?}");
    }
}

#[tokio::test]
async fn bank_transfer_events_are_listed_with_every_filter_given() {
    let (server, client) = plaid().await;
    on("/bank_transfer/event/list", ok(fixtures::event_list()))
        .mount(&server)
        .await;
    let filter = PlaidBankTransferEventFilter {
        start_date: Some(Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()),
        end_date: Some(Utc.with_ymd_and_hms(2024, 3, 2, 0, 0, 0).unwrap()),
        bank_transfer_id: Some(transfer_id()),
        account_id: Some("6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B".into()),
        bank_transfer_type: Some(BankTransferType::Debit),
        event_types: vec![
            PlaidBankTransferStatus::Posted,
            PlaidBankTransferStatus::Reversed,
        ],
        count: Some(99),
        offset: Some(0),
        origination_account_id: Some("8945fedc-e703-463d-86b1-dc0607b55460".into()),
        direction: Some(BankTransferDirection::Inbound),
    };

    let events = client.list_bank_transfer_events(&filter).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/event/list");
    assert_eq!(
        body(&request),
        json!({
            "start_date": "2024-03-01T00:00:00Z",
            "end_date": "2024-03-02T00:00:00Z",
            "bank_transfer_id": BANK_TRANSFER_ID,
            "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
            "bank_transfer_type": "debit",
            "event_types": ["posted", "reversed"],
            "count": 25,
            "offset": 0,
            "origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460",
            "direction": "inbound"
        })
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id, 9);
}

#[tokio::test]
async fn an_empty_event_filter_sends_an_empty_body() {
    let (server, client) = plaid().await;
    on("/bank_transfer/event/list", ok(fixtures::event_list()))
        .mount(&server)
        .await;

    client
        .list_bank_transfer_events(&PlaidBankTransferEventFilter::default())
        .await
        .unwrap();

    assert_eq!(body(&the_request(&server).await), json!({}));
}
