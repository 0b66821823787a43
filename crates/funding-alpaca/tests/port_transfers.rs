//! Transfer creates and cancels through the `Broker` port: exactly the documented request, the full
//! answer read (requested amount and fee too), the documented refusals (403, 422, 404), a create
//! sent once whatever the failure (a 500 reported as outcome-unknown, a 429 and a connection never
//! made as not done); and no credential in any error or log line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{
    ACCOUNT, BASIC_AUTH, KEY_ID, RELATIONSHIP, SECRET, TRANSFER, account, alpaca_error, amount, at,
    broker, relationship_id, trading_path, transfer_id, transfer_json, transfers_path,
};
use funding_core::ports::{ProviderErrorKind, TransferDirection};
use funding_domain::AlpacaTransferStatus;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn deposit(server: &MockServer) -> funding_core::ports::ProviderError {
    broker(&server.uri())
        .create_transfer(
            account(),
            relationship_id(),
            &amount("100"),
            TransferDirection::Deposit,
        )
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_deposit_is_exactly_the_documented_request_and_the_full_answer_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .and(header("authorization", BASIC_AUTH))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(body_json(json!({
            "transfer_type": "ach",
            "relationship_id": RELATIONSHIP,
            "amount": "100.00",
            "direction": "INCOMING"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "INCOMING")))
        .expect(1)
        .mount(&server)
        .await;

    let created = broker(&server.uri())
        .create_transfer(
            account(),
            relationship_id(),
            &amount("100"),
            TransferDirection::Deposit,
        )
        .await
        .unwrap();

    assert_eq!(created.id, transfer_id());
    assert_eq!(created.account_id, account());
    assert_eq!(created.relationship_id, Some(relationship_id()));
    assert_eq!(created.amount, Decimal::from(498));
    assert_eq!(created.requested_amount, Some(Decimal::from(500)));
    assert_eq!(created.fee, Some(Decimal::from(2)));
    assert_eq!(created.requested(), Decimal::from(500));
    assert_eq!(created.direction, TransferDirection::Deposit);
    assert_eq!(created.status, AlpacaTransferStatus::Queued);
    assert_eq!(created.reason, None);
    assert_eq!(created.created_at, at("2021-05-05T07:55:31.190788Z"));
    assert_eq!(created.updated_at, Some(at("2021-05-05T08:13:33.029539Z")));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.query(), None);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 4);
    assert!(body.get("timing").is_none(), "timing is never sent");
}

#[tokio::test]
async fn a_withdrawal_is_outgoing_and_an_answer_without_the_optional_fields_is_read() {
    let server = MockServer::start().await;
    let sparse = json!({
        "id": TRANSFER, "account_id": ACCOUNT, "type": "ach", "status": "QUEUED",
        "amount": "12.34", "direction": "OUTGOING", "created_at": "2025-04-11T19:52:24Z"
    });
    Mock::given(method("POST"))
        .and(path(transfers_path()))
        .and(body_json(json!({
            "transfer_type": "ach",
            "relationship_id": RELATIONSHIP,
            "amount": "12.34",
            "direction": "OUTGOING"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(sparse))
        .expect(1)
        .mount(&server)
        .await;
    let created = broker(&server.uri())
        .create_transfer(
            account(),
            relationship_id(),
            &amount("12.34"),
            TransferDirection::Withdrawal,
        )
        .await
        .unwrap();
    assert_eq!(created.direction, TransferDirection::Withdrawal);
    assert_eq!(created.amount, Decimal::new(1234, 2));
    assert_eq!(created.requested_amount, None);
    assert_eq!(created.fee, None);
    assert_eq!(
        created.requested(),
        Decimal::new(1234, 2),
        "without requested_amount, amount"
    );
    assert_eq!(created.relationship_id, None);
    assert_eq!(created.reason, None);
    assert_eq!(created.updated_at, None);
    assert_eq!(created.created_at, at("2025-04-11T19:52:24Z"));
}

#[tokio::test]
async fn a_forbidden_deposit_or_withdrawal_is_forbidden_with_alpacas_message() {
    for (direction, message) in [
        (
            TransferDirection::Deposit,
            "deposits are not permitted for this account",
        ),
        (
            TransferDirection::Withdrawal,
            "withdrawals are not permitted for this account",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-request-id", "req-403")
                    .set_body_json(alpaca_error(40310000, message)),
            )
            .mount(&server)
            .await;
        let error = broker(&server.uri())
            .create_transfer(account(), relationship_id(), &amount("5"), direction)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Forbidden);
        assert_eq!(error.message, message);
        assert_eq!(error.code, "40310000");
        assert_eq!(error.http_status, Some(403));
        assert_eq!(error.request_id.as_deref(), Some("req-403"));
        assert!(!error.outcome_unknown());
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_invalid_relationship_is_invalid_input_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(alpaca_error(42210000, "invalid relationship_id")),
        )
        .mount(&server)
        .await;
    let error = deposit(&server).await;
    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert_eq!(error.message, "invalid relationship_id");
    assert!(!error.outcome_unknown() && !error.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_500_on_create_is_not_resent_and_leaves_the_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(alpaca_error(50010000, "internal server error occurred")),
        )
        .mount(&server)
        .await;
    let error = deposit(&server).await;
    assert_eq!(error.kind, ProviderErrorKind::Unavailable);
    assert!(error.outcome_unknown());
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a create whose outcome is unknown is never resent"
    );
}

#[tokio::test]
async fn a_429_on_create_is_answered_once_and_not_retried_by_the_adapter() {
    // Alpaca did not process it, but a create without an idempotency key is only ever sent again
    // by the engine, under a live claim (DESIGN §9): never by the adapter's own loop.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(alpaca_error(42910000, "rate limit exceeded")),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer_json("QUEUED", "INCOMING")))
        .mount(&server)
        .await;
    let error = deposit(&server).await;
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert!(error.is_retryable() && !error.outcome_unknown());
    assert_eq!(error.code, "42910000");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_create_that_could_not_connect_is_not_processed_and_sent_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = broker(&format!("http://{address}"))
        .create_transfer(
            account(),
            relationship_id(),
            &amount("1"),
            TransferDirection::Deposit,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotProcessed);
    assert_eq!(error.code, "CONNECT");
    assert!(error.is_retryable() && !error.outcome_unknown());
}

#[tokio::test]
async fn cancelling_is_a_delete_answered_204_and_an_unknown_transfer_is_not_found() {
    let server = MockServer::start().await;
    let transfer_path = format!("{}/{TRANSFER}", transfers_path());
    Mock::given(method("DELETE"))
        .and(path(transfer_path.as_str()))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(transfer_path.as_str()))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(alpaca_error(40410000, "Transfer Not Found")),
        )
        .mount(&server)
        .await;
    let client = broker(&server.uri());

    client
        .cancel_transfer(account(), transfer_id())
        .await
        .unwrap();
    let error = client
        .cancel_transfer(account(), transfer_id())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(error.message, "Transfer Not Found");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].body.is_empty());
}

/// Captures every log line at every level on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_error_or_log_line_of_the_transfer_calls_shows_a_credential() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    let echo = format!("key {KEY_ID} secret {SECRET} refused");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(alpaca_error(40310000, &echo)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .respond_with(ResponseTemplate::new(503).set_body_json(alpaca_error(50310000, &echo)))
        .mount(&server)
        .await;
    let mut unknown = transfer_json("ON_HOLD", "INCOMING");
    unknown["id"] = json!(Uuid::new_v4());
    Mock::given(method("GET"))
        .and(path(trading_path()))
        .respond_with(ResponseTemplate::new(422).set_body_json(alpaca_error(42210000, &echo)))
        .mount(&server)
        .await;
    let client = broker(&server.uri());

    let errors = [
        deposit(&server).await,
        client.list_transfers(account(), None).await.unwrap_err(),
        client.account_funds(account()).await.unwrap_err(),
    ];
    let credentials = BASIC_AUTH.trim_start_matches("Basic ");
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}")] {
            for secret in [KEY_ID, SECRET, credentials] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }

    // A transfer skipped as unreadable: its log line must not quote what it choked on.
    let mut unreadable = transfer_json("QUEUED", "INCOMING");
    unreadable["id"] = json!(Uuid::new_v4());
    unreadable["amount"] = json!(format!("{KEY_ID} {SECRET}"));
    let logs_server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(common::Paged::new(vec![unknown, unreadable]))
        .mount(&logs_server)
        .await;
    broker(&logs_server.uri())
        .list_transfers(account(), None)
        .await
        .unwrap();

    // Only absences are asserted here: other tests of this binary share the log callsites,
    // which makes a thread-local subscriber miss lines now and then (the unknown status is
    // seen logged by a unit test of src/transfers.rs, the retry by tests/secrets.rs).
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    for secret in [KEY_ID, SECRET, credentials] {
        assert!(!logs.contains(secret), "the logs show {secret}");
    }
}
