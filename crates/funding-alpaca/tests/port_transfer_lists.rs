//! Transfer lists through the `Broker` port: every page until an empty one (a short page is not the
//! end), oldest first, each transfer once; a server ignoring `offset` stopped; the lookup by id;
//! the amounts (requested amount and fee too); the list retried as a read; and a transfer that
//! cannot be read or used skipped, never failing the list.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{
    BASIC_AUTH, Paged, account, alpaca_error, broker, listed, transfer_id, transfer_json,
    transfers_path,
};
use funding_core::ports::{ProviderErrorKind, TransferDirection};
use funding_domain::{AlpacaTransferId, AlpacaTransferStatus};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGE_SIZE: usize = funding_alpaca::TRANSFER_PAGE_SIZE as usize;

/// A server listing `elements` as Alpaca pages them, at most `cap` a page.
async fn alpaca_listing(elements: Vec<Value>, cap: usize) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .respond_with(Paged { elements, cap })
        .mount(&server)
        .await;
    server
}

/// The `offset` of each request the server saw.
async fn offsets(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            request
                .url
                .query_pairs()
                .find(|(key, _)| key == "offset")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

fn ids(transfers: &[funding_core::ports::AlpacaTransfer]) -> Vec<Uuid> {
    transfers.iter().map(|t| t.id.as_uuid()).collect()
}

#[tokio::test]
async fn pages_shorter_than_the_limit_do_not_end_the_list() {
    // Alpaca answers 2 a page although 100 were asked for: six transfers in three pages.
    let six: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let elements = six
        .iter()
        .enumerate()
        .map(|(minutes, id)| listed(*id, minutes as i64))
        .collect();
    let server = alpaca_listing(elements, 2).await;

    let transfers = broker(&server.uri())
        .list_transfers(account(), None)
        .await
        .unwrap();

    assert_eq!(ids(&transfers), six, "all six, oldest first");
    assert_eq!(offsets(&server).await, ["0", "2", "4", "6"]);
    for request in server.received_requests().await.unwrap() {
        let limit = request.url.query_pairs().find(|(key, _)| key == "limit");
        assert_eq!(limit.unwrap().1, PAGE_SIZE.to_string());
    }
}

#[tokio::test]
async fn the_list_reads_every_page_and_gives_the_transfers_oldest_first() {
    // Alpaca's emulator lists newest first: minutes PAGE_SIZE … 0.
    let ids_oldest_first: Vec<Uuid> = (0..=PAGE_SIZE).map(|_| Uuid::new_v4()).collect();
    let newest_first: Vec<Value> = ids_oldest_first
        .iter()
        .enumerate()
        .rev()
        .map(|(minutes, id)| listed(*id, minutes as i64))
        .collect();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .and(header("authorization", BASIC_AUTH))
        .and(query_param("direction", "INCOMING"))
        .respond_with(Paged::new(newest_first))
        .mount(&server)
        .await;

    let transfers = broker(&server.uri())
        .list_transfers(account(), Some(TransferDirection::Deposit))
        .await
        .unwrap();

    assert_eq!(ids(&transfers), ids_oldest_first, "every transfer once");
    assert_eq!(offsets(&server).await, ["0", "100", "101"]);
    for request in server.received_requests().await.unwrap() {
        assert_eq!(request.method.as_str(), "GET");
        assert_eq!(request.url.query_pairs().count(), 3);
    }
}

#[tokio::test]
async fn a_transfer_pushed_onto_the_next_page_is_kept_once() {
    let page: Vec<Value> = (0..PAGE_SIZE)
        .map(|minutes| listed(Uuid::new_v4(), minutes as i64))
        .collect();
    let newer = listed(Uuid::new_v4(), 500);
    // A transfer made while the list was read pushed the last of page one onto page two (a page of
    // nothing new, once), and the next page has the rest.
    let server = MockServer::start().await;
    for (offset, answer) in [
        ("0", json!(page)),
        ("100", json!([page[PAGE_SIZE - 1].clone()])),
        ("101", json!([page[PAGE_SIZE - 1].clone(), newer])),
        ("103", json!([])),
    ] {
        Mock::given(method("GET"))
            .and(query_param("offset", offset))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&server)
            .await;
    }
    let transfers = broker(&server.uri())
        .list_transfers(account(), None)
        .await
        .unwrap();
    assert_eq!(transfers.len(), PAGE_SIZE + 1);
}

#[tokio::test]
async fn a_server_ignoring_offset_is_a_decode_error_not_an_endless_read() {
    for size in [PAGE_SIZE, 2] {
        let page: Vec<Value> = (0..size)
            .map(|minutes| listed(Uuid::new_v4(), minutes as i64))
            .collect();
        let stuck = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(page)))
            .mount(&stuck)
            .await;
        let error = broker(&stuck.uri())
            .list_transfers(account(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode, "{size}");
        assert_eq!(error.code, "PAGING", "{size}");
        // The first page, then two pages of nothing new.
        assert_eq!(stuck.received_requests().await.unwrap().len(), 3, "{size}");
    }
}

#[tokio::test]
async fn a_return_reason_and_an_unknown_status_are_kept() {
    let mut returned = transfer_json("RETURNED", "INCOMING");
    returned["reason"] = json!("R01 insufficient funds");
    let mut odd = listed(Uuid::new_v4(), 1);
    odd["status"] = json!("SETTLED");
    let server = alpaca_listing(vec![returned, odd], usize::MAX).await;

    let transfers = broker(&server.uri())
        .list_transfers(account(), None)
        .await
        .unwrap();
    assert_eq!(transfers.len(), 2);
    assert_eq!(transfers[0].status, AlpacaTransferStatus::Returned);
    assert_eq!(
        transfers[0].reason.as_deref(),
        Some("R01 insufficient funds")
    );
    assert_eq!(
        transfers[1].status,
        AlpacaTransferStatus::Unknown("SETTLED".into())
    );
}

/// Good transfers with, between them, every kind of element the port cannot carry.
fn good_and_odd() -> (Vec<Value>, Vec<Uuid>, Vec<Uuid>) {
    let good: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let odd: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let mut sideways = listed(odd[0], 10);
    sideways["direction"] = json!("SIDEWAYS");
    let mut wire = listed(odd[1], 11);
    wire["type"] = json!("wire");
    wire["direction"] = json!("OUTGOING");
    wire["relationship_id"] = Value::Null;
    wire["bank_id"] = json!(Uuid::new_v4());
    let mut bad_amount = listed(odd[2], 12);
    bad_amount["amount"] = json!("a lot");
    let mut no_date = listed(odd[3], 13);
    no_date.as_object_mut().unwrap().remove("created_at");
    let elements = vec![
        listed(good[0], 0),
        sideways,
        listed(good[1], 1),
        wire,
        json!("a new shape"),
        bad_amount,
        listed(good[2], 2),
        json!({"id": 42, "amount": {"value": "1"}}),
        no_date,
        listed(good[3], 3),
    ];
    (elements, good, odd)
}

#[tokio::test]
async fn odd_transfers_between_good_ones_are_skipped_and_the_good_ones_returned() {
    let (elements, good, _) = good_and_odd();
    for cap in [usize::MAX, 3] {
        let server = alpaca_listing(elements.clone(), cap).await;
        let transfers = broker(&server.uri())
            .list_transfers(account(), None)
            .await
            .unwrap();
        assert_eq!(ids(&transfers), good, "cap {cap}");
    }
}

#[tokio::test]
async fn the_inherent_list_skips_only_what_cannot_be_read() {
    let (elements, good, odd) = good_and_odd();
    let server = alpaca_listing(elements, usize::MAX).await;
    let client = common::client(&server.uri());
    let transfers = client.list_all_transfers(account(), None).await.unwrap();
    let listed: Vec<Uuid> = transfers.iter().map(|t| t.id.as_uuid()).collect();
    // Alpaca's own shape keeps the odd direction and the wire; the unreadable ones are left out.
    assert_eq!(
        listed,
        vec![good[0], good[1], good[2], good[3], odd[0], odd[1]]
    );
    let page = client
        .list_transfers(account(), &funding_alpaca::TransferQuery::default())
        .await
        .unwrap();
    assert_eq!(page.len(), 6);
}

#[tokio::test]
async fn get_transfer_says_when_the_transfer_asked_for_cannot_be_read() {
    let (elements, good, odd) = good_and_odd();
    let server = alpaca_listing(elements, usize::MAX).await;
    let client = broker(&server.uri());
    let found = client
        .get_transfer(account(), AlpacaTransferId::from_uuid(good[2]))
        .await
        .unwrap();
    assert_eq!(found.unwrap().id.as_uuid(), good[2]);
    for id in odd {
        let error = client
            .get_transfer(account(), AlpacaTransferId::from_uuid(id))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode, "{id}");
    }
}

#[tokio::test]
async fn get_transfer_finds_the_id_in_the_list_and_none_when_it_is_not_there() {
    let other = Uuid::new_v4();
    let server = alpaca_listing(
        vec![
            listed(other, 2),
            transfer_json("SENT_TO_CLEARING", "OUTGOING"),
        ],
        usize::MAX,
    )
    .await;
    let client = broker(&server.uri());

    let found = client
        .get_transfer(account(), transfer_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, transfer_id());
    assert_eq!(found.status, AlpacaTransferStatus::SentToClearing);
    assert_eq!(found.direction, TransferDirection::Withdrawal);
    // Alpaca's sample: 500 asked for, a fee of 2, 498 received.
    assert_eq!(found.amount, Decimal::from(498));
    assert_eq!(found.requested_amount, Some(Decimal::from(500)));
    assert_eq!(found.fee, Some(Decimal::from(2)));
    assert_eq!(found.requested(), Decimal::from(500));
    let missing = client
        .get_transfer(account(), AlpacaTransferId::from_uuid(Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(missing, None);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.method.as_str() == "GET" && r.url.path() == transfers_path()),
        "no GET by id: Alpaca has none"
    );
}

#[tokio::test]
async fn the_list_is_a_read_retried_on_429_and_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(alpaca_error(42910000, "rate limit exceeded")),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_json(alpaca_error(50310000, "x")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(Paged::new(vec![transfer_json("COMPLETE", "INCOMING")]))
        .mount(&server)
        .await;
    let transfers = broker(&server.uri())
        .list_transfers(account(), None)
        .await
        .unwrap();
    assert_eq!(transfers.len(), 1);
    // 429, 503, the page, the empty page after it.
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}
