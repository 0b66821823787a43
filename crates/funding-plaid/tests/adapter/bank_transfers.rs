//! The processor rail's ports on the wire — every Bank Transfers endpoint of
//! [`BankTransferGateway`] and [`BankTransferSandbox`] pinned to its path and exact JSON body —
//! and Plaid's bank transfer, event, balance and key objects read field by field into the core's
//! types, enum strings exactly as Plaid sent them.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use funding_core::ports::{
    BankTransferFailure, BankTransferGateway, BankTransferSandbox, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, ProviderErrorKind, SimulatedBankTransferEvent,
};
use funding_domain::{
    AchReturnCode, BankTransferDraft, BankTransferId, BankTransferRequest, BankTransferUserDraft,
    PlaidBankTransferStatus,
};
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::*;

/// A request with every optional field set.
pub fn full_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-1".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "credit".into(),
        network: "same-day-ach".into(),
        amount: "12.3".into(),
        iso_currency_code: "USD".into(),
        description: "Payout".into(),
        ach_class: Some("ppd".into()),
        user: BankTransferUserDraft {
            legal_name: "John Smith".into(),
            email_address: Some("plaid@plaid.com".into()),
            routing_number: None,
        },
        custom_tag: Some("my tag".into()),
        metadata: vec![
            ("key1".into(), "value1".into()),
            ("key2".into(), "value2".into()),
        ],
        origination_account_id: Some("11111111-1111-1111-1111-111111111111".into()),
    })
    .unwrap()
}

/// A wire transfer with no optional field set.
pub fn minimal_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-2".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "debit".into(),
        network: "wire".into(),
        amount: "1000".into(),
        iso_currency_code: "USD".into(),
        description: "Deposit".into(),
        ach_class: None,
        user: BankTransferUserDraft {
            legal_name: "Acme Inc".into(),
            email_address: None,
            routing_number: None,
        },
        custom_tag: None,
        metadata: vec![],
        origination_account_id: None,
    })
    .unwrap()
}

pub fn transfer_id() -> BankTransferId {
    BankTransferId::parse(BANK_TRANSFER_ID).unwrap()
}

#[tokio::test]
async fn a_bank_transfer_create_sends_every_field_and_never_a_routing_number() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    client.create_bank_transfer(&full_request()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/processor/bank_transfer/create");
    let sent = body(&request);
    assert_eq!(
        sent,
        json!({
            "idempotency_key": "key-1",
            "processor_token": PROCESSOR_TOKEN,
            "type": "credit",
            "network": "same-day-ach",
            "amount": "12.30",
            "iso_currency_code": "USD",
            "description": "Payout",
            "ach_class": "ppd",
            "user": {"legal_name": "John Smith", "email_address": "plaid@plaid.com"},
            "custom_tag": "my tag",
            "metadata": {"key1": "value1", "key2": "value2"},
            "origination_account_id": "11111111-1111-1111-1111-111111111111"
        })
    );
    assert!(sent["user"].get("routing_number").is_none());
}

#[tokio::test]
async fn a_bank_transfer_create_leaves_out_every_unset_optional_field() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    client
        .create_bank_transfer(&minimal_request())
        .await
        .unwrap();

    assert_eq!(
        body(&the_request(&server).await),
        json!({
            "idempotency_key": "key-2",
            "processor_token": PROCESSOR_TOKEN,
            "type": "debit",
            "network": "wire",
            "amount": "1000.00",
            "iso_currency_code": "USD",
            "description": "Deposit",
            "user": {"legal_name": "Acme Inc"}
        })
    );
}

#[tokio::test]
async fn the_bank_transfer_plaid_returns_is_read_field_by_field() {
    let (server, client) = plaid().await;
    on(
        "/processor/bank_transfer/create",
        ok(fixtures::bank_transfer()),
    )
    .mount(&server)
    .await;

    let transfer = client.create_bank_transfer(&full_request()).await.unwrap();

    assert_eq!(transfer.id.as_str(), BANK_TRANSFER_ID);
    assert_eq!(transfer.ach_class.as_deref(), Some("ppd"));
    assert_eq!(transfer.account_id, "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B");
    assert_eq!(transfer.transfer_type, "credit");
    assert_eq!(transfer.user_legal_name, "John Smith");
    assert_eq!(
        transfer.user_email_address.as_deref(),
        Some("plaid@plaid.com")
    );
    assert_eq!(transfer.user_routing_number.as_deref(), Some("111111111"));
    assert_eq!(transfer.amount.to_string(), "12.34");
    assert_eq!(transfer.iso_currency_code, "USD");
    assert_eq!(transfer.description, "Testing2");
    assert_eq!(
        transfer.created,
        Utc.with_ymd_and_hms(2020, 8, 6, 17, 27, 15).unwrap()
    );
    assert_eq!(transfer.status, PlaidBankTransferStatus::Pending);
    assert_eq!(transfer.network, "ach");
    assert!(transfer.cancellable);
    assert_eq!(transfer.failure_reason, None);
    assert_eq!(transfer.custom_tag.as_deref(), Some("my tag"));
    assert_eq!(
        transfer.metadata,
        BTreeMap::from([
            ("key1".to_owned(), "value1".to_owned()),
            ("key2".to_owned(), "value2".to_owned())
        ])
    );
    assert_eq!(
        transfer.origination_account_id.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    assert_eq!(transfer.direction.as_deref(), Some("outbound"));
}

#[tokio::test]
async fn a_bank_transfer_is_fetched_by_id_and_values_plaid_added_later_are_kept_as_sent() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::bank_transfer();
    let transfer = &mut answer["bank_transfer"];
    transfer["status"] = json!("settled");
    transfer["network"] = json!("rtp");
    transfer["ach_class"] = json!("iat");
    transfer["type"] = json!("refund");
    transfer["direction"] = json!("sideways");
    transfer["failure_reason"] =
        json!({"ach_return_code": "R99", "description": "new", "extra": 1});
    transfer["metadata"] = json!(null);
    transfer["originator_client_id"] = json!("569ed2f36b3a3a021713abc1");
    on("/bank_transfer/get", ok(answer)).mount(&server).await;

    let transfer = client.get_bank_transfer(&transfer_id()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/get");
    assert_eq!(
        body(&request),
        json!({"bank_transfer_id": BANK_TRANSFER_ID})
    );
    assert_eq!(
        transfer.status,
        PlaidBankTransferStatus::Unknown("settled".into())
    );
    assert_eq!(transfer.network, "rtp");
    assert_eq!(transfer.ach_class.as_deref(), Some("iat"));
    assert_eq!(transfer.transfer_type, "refund");
    assert_eq!(transfer.direction.as_deref(), Some("sideways"));
    assert!(transfer.metadata.is_empty());
    assert_eq!(
        transfer.failure_reason,
        Some(BankTransferFailure {
            ach_return_code: Some(AchReturnCode::Unknown("R99".into())),
            description: Some("new".into()),
        })
    );
}

#[tokio::test]
async fn a_bank_transfer_is_cancelled_by_id() {
    let (server, client) = plaid().await;
    on("/bank_transfer/cancel", ok(fixtures::request_id_only()))
        .mount(&server)
        .await;

    client.cancel_bank_transfer(&transfer_id()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/bank_transfer/cancel");
    assert_eq!(
        body(&request),
        json!({"bank_transfer_id": BANK_TRANSFER_ID})
    );
}

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
        direction: Some("outbound".into()),
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
        bank_transfer_type: Some("debit".into()),
        event_types: vec![
            PlaidBankTransferStatus::Posted,
            PlaidBankTransferStatus::Reversed,
        ],
        count: Some(99),
        offset: Some(0),
        origination_account_id: Some("8945fedc-e703-463d-86b1-dc0607b55460".into()),
        direction: Some("inbound".into()),
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
        assert_eq!(event.bank_transfer_type, "debit");
        assert_eq!(event.direction.as_deref(), Some("inbound"));
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
    assert_eq!(first.bank_transfer_type, "credit");
    assert_eq!(first.bank_transfer_amount.to_string(), "12.34");
    assert_eq!(first.bank_transfer_iso_currency_code, "USD");
    assert_eq!(first.origination_account_id.as_deref(), Some(""));
    assert_eq!(first.direction.as_deref(), Some("outbound"));
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

#[tokio::test]
async fn the_balance_is_read_for_the_origination_account_given_or_the_only_one() {
    for (account, expected) in [
        (
            Some("8945fedc-e703-463d-86b1-dc0607b55460"),
            json!({"origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460"}),
        ),
        (None, json!({})),
    ] {
        let (server, client) = plaid().await;
        on("/bank_transfer/balance/get", ok(fixtures::balance()))
            .mount(&server)
            .await;

        let balance = client.bank_transfer_balance(account).await.unwrap();

        let request = the_request(&server).await;
        assert_eq!(request.url.path(), "/bank_transfer/balance/get");
        assert_eq!(body(&request), expected);
        assert_eq!(balance.available, Decimal::new(172170, 2));
        assert_eq!(balance.transactable, Decimal::new(72170, 2));
        assert_eq!(
            balance.origination_account_id.as_deref(),
            Some("8945fedc-e703-463d-86b1-dc0607b55460")
        );
    }
}

#[tokio::test]
async fn a_webhook_verification_key_is_fetched_by_key_id_and_read_field_by_field() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::webhook_verification_key();
    answer["key"]["expired_at"] = json!(1700000000);
    answer["key"]["brand_new_field"] = json!("x");
    on("/webhook_verification_key/get", ok(answer))
        .mount(&server)
        .await;

    let key = client
        .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/webhook_verification_key/get");
    assert_eq!(body(&request), json!({"key_id": fixtures::WEBHOOK_KEY_ID}));
    assert_eq!(key.alg, "ES256");
    assert_eq!(key.crv, "P-256");
    assert_eq!(key.kid, fixtures::WEBHOOK_KEY_ID);
    assert_eq!(key.kty, "EC");
    assert_eq!(key.key_use, "sig");
    assert_eq!(key.x, "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ");
    assert_eq!(key.y, "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys");
    assert_eq!(key.created_at, 1560466150);
    assert_eq!(key.expired_at, Some(1700000000));
}

#[tokio::test]
async fn a_key_that_has_not_expired_has_no_expiry() {
    let (server, client) = plaid().await;
    on(
        "/webhook_verification_key/get",
        ok(fixtures::webhook_verification_key()),
    )
    .mount(&server)
    .await;

    let key = client
        .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
        .await
        .unwrap();

    assert_eq!(key.expired_at, None);
}

#[tokio::test]
async fn a_sandbox_processor_token_is_created_for_an_institution() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/processor_token/create",
        ok(fixtures::sandbox_processor_token()),
    )
    .mount(&server)
    .await;

    let token = BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, None)
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/sandbox/processor_token/create");
    assert_eq!(body(&request), json!({"institution_id": INSTITUTION_ID}));
    assert_eq!(token.expose_secret(), PROCESSOR_TOKEN);
}

#[tokio::test]
async fn a_sandbox_processor_token_for_a_chosen_account_is_refused_without_asking_plaid() {
    // The spec's request has `institution_id` and `options` (test credentials) only.
    let (server, client) = plaid().await;

    let error =
        BankTransferSandbox::create_processor_token(&client, INSTITUTION_ID, Some(ACCOUNT_ID))
            .await
            .unwrap_err();

    assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
    assert_eq!(error.code, funding_plaid::ACCOUNT_SELECTION_UNSUPPORTED);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_sandbox_simulation_sends_the_event_and_only_the_failure_fields_given() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/bank_transfer/simulate",
        ok(fixtures::request_id_only()),
    )
    .mount(&server)
    .await;
    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".into()),
    };
    let code_only = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R10")),
        description: None,
    };

    client
        .simulate_bank_transfer(
            &transfer_id(),
            SimulatedBankTransferEvent::Reversed,
            Some(&failure),
        )
        .await
        .unwrap();
    client
        .simulate_bank_transfer(&transfer_id(), SimulatedBankTransferEvent::Posted, None)
        .await
        .unwrap();
    client
        .simulate_bank_transfer(
            &transfer_id(),
            SimulatedBankTransferEvent::Failed,
            Some(&code_only),
        )
        .await
        .unwrap();

    let requests = received(&server, "/sandbox/bank_transfer/simulate").await;
    assert_eq!(requests.len(), 3);
    requests.iter().for_each(assert_plaid_headers);
    assert_eq!(
        body(&requests[0]),
        json!({
            "bank_transfer_id": BANK_TRANSFER_ID,
            "event_type": "reversed",
            "failure_reason": {"ach_return_code": "R01", "description": "Insufficient funds"}
        })
    );
    assert_eq!(
        body(&requests[1]),
        json!({"bank_transfer_id": BANK_TRANSFER_ID, "event_type": "posted"})
    );
    assert_eq!(
        body(&requests[2]),
        json!({
            "bank_transfer_id": BANK_TRANSFER_ID,
            "event_type": "failed",
            "failure_reason": {"ach_return_code": "R10"}
        })
    );
}

#[tokio::test]
async fn a_sandbox_webhook_is_fired_at_the_url_given() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/bank_transfer/fire_webhook",
        ok(fixtures::request_id_only()),
    )
    .mount(&server)
    .await;

    client
        .fire_webhook("https://funding.example/webhooks/plaid")
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/sandbox/bank_transfer/fire_webhook");
    assert_eq!(
        body(&request),
        json!({"webhook": "https://funding.example/webhooks/plaid"})
    );
}

/// Each documented refusal of the rail's endpoints, with the kind the port promises for it; none
/// is retried.
#[tokio::test]
async fn each_documented_refusal_maps_to_its_kind_and_code_and_is_not_retried() {
    use ProviderErrorKind::*;
    let cases: &[(&str, u16, &str, &str, ProviderErrorKind)] = &[
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_LIMIT_EXCEEDED",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_INVALID_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_ACCOUNT_BLOCKED",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_INSUFFICIENT_FUNDS",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "INVALID_PROCESSOR_TOKEN",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_REQUEST",
            "MISSING_FIELDS",
            InvalidRequest,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
            Unauthorized,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "UNAUTHORIZED_ROUTE_ACCESS",
            Forbidden,
        ),
        (
            "/bank_transfer/get",
            404,
            "INVALID_REQUEST",
            "NOT_FOUND",
            NotFound,
        ),
        (
            "/bank_transfer/cancel",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_NOT_CANCELLABLE",
            InvalidInput,
        ),
        (
            "/bank_transfer/list",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/event/list",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/event/sync",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/balance/get",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/bank_transfer/balance/get",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_UNSUPPORTED_ENVIRONMENT",
            InvalidInput,
        ),
        (
            "/webhook_verification_key/get",
            400,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            InvalidInput,
        ),
        (
            "/sandbox/processor_token/create",
            400,
            "INVALID_INPUT",
            "INVALID_INSTITUTION",
            InvalidInput,
        ),
        (
            "/sandbox/processor_token/create",
            400,
            "INVALID_REQUEST",
            "SANDBOX_ONLY",
            InvalidRequest,
        ),
        (
            "/sandbox/bank_transfer/simulate",
            400,
            "SANDBOX_ERROR",
            "SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID",
            InvalidInput,
        ),
        (
            "/sandbox/bank_transfer/fire_webhook",
            400,
            "SANDBOX_ERROR",
            "SANDBOX_WEBHOOK_INVALID",
            InvalidInput,
        ),
    ];
    for &(endpoint, status, error_type, code, kind) in cases {
        let (server, client) = plaid().await;
        let refusal = fixtures::plaid_error(error_type, code, "refused", "req-refused");
        on(
            endpoint,
            ResponseTemplate::new(status).set_body_json(refusal),
        )
        .mount(&server)
        .await;

        let error = call_endpoint(&client, endpoint).await.unwrap_err();

        let what = format!("{endpoint} {code}");
        assert_eq!(error.kind, kind, "{what}");
        assert_eq!(error.code, code, "{what}");
        assert_eq!(error.http_status, Some(status), "{what}");
        assert_eq!(error.request_id.as_deref(), Some("req-refused"), "{what}");
        assert!(!error.is_retryable(), "{what}");
        assert_eq!(received(&server, endpoint).await.len(), 1, "{what}");
    }
}

/// Every endpoint of the rail's two ports.
pub const RAIL_ENDPOINTS: &[&str] = &[
    "/processor/bank_transfer/create",
    "/bank_transfer/get",
    "/bank_transfer/cancel",
    "/bank_transfer/list",
    "/bank_transfer/event/list",
    "/bank_transfer/event/sync",
    "/bank_transfer/balance/get",
    "/webhook_verification_key/get",
    "/sandbox/processor_token/create",
    "/sandbox/bank_transfer/simulate",
    "/sandbox/bank_transfer/fire_webhook",
];

/// Calls the port method behind `endpoint` (one of [`RAIL_ENDPOINTS`]) with typical arguments.
pub async fn call_endpoint(
    client: &funding_plaid::PlaidClient,
    endpoint: &str,
) -> Result<(), funding_core::ports::ProviderError> {
    match endpoint {
        "/processor/bank_transfer/create" => {
            client.create_bank_transfer(&full_request()).await.map(drop)
        }
        "/bank_transfer/get" => client.get_bank_transfer(&transfer_id()).await.map(drop),
        "/bank_transfer/cancel" => client.cancel_bank_transfer(&transfer_id()).await,
        "/bank_transfer/list" => client
            .list_bank_transfers(&PlaidBankTransferListFilter::default())
            .await
            .map(drop),
        "/bank_transfer/event/list" => client
            .list_bank_transfer_events(&PlaidBankTransferEventFilter::default())
            .await
            .map(drop),
        "/bank_transfer/event/sync" => client.sync_bank_transfer_events(0, 25).await.map(drop),
        "/bank_transfer/balance/get" => client.bank_transfer_balance(None).await.map(drop),
        "/webhook_verification_key/get" => client
            .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
            .await
            .map(drop),
        "/sandbox/processor_token/create" => {
            BankTransferSandbox::create_processor_token(client, INSTITUTION_ID, None)
                .await
                .map(drop)
        }
        "/sandbox/bank_transfer/simulate" => {
            client
                .simulate_bank_transfer(&transfer_id(), SimulatedBankTransferEvent::Posted, None)
                .await
        }
        "/sandbox/bank_transfer/fire_webhook" => {
            client
                .fire_webhook("https://funding.example/webhooks/plaid")
                .await
        }
        other => panic!("no port method for {other}"),
    }
}
