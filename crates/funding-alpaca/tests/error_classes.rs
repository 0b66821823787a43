//! Every row of `funding_alpaca::ERROR_CLASSES`, driven through the real client against a server
//! that fails that way: a read (`GET` ACH relationships) and a create (`POST` transfer) each end in
//! the row's kind, are tried as often as the row says (a create exactly once), and report an
//! outcome that agrees with the row. One test per row; a further test fails when a row is added
//! without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{account, alpaca_error, amount, relationship_id};
use funding_alpaca::{AlpacaClient, Condition, ERROR_CLASSES, ErrorClass, Outcome};
use funding_core::ports::{Broker, ProviderError, ProviderErrorKind, TransferDirection};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `max_attempts` of the tests' retry policy.
const MAX_ATTEMPTS: usize = 3;

/// One call, read or create, to `base_url`, with `timeout` as the request timeout.
async fn call(base_url: &str, create: bool, timeout: Duration) -> Result<(), ProviderError> {
    let mut config = common::config(base_url);
    config.request_timeout = timeout;
    let client = AlpacaClient::new(config).unwrap();
    let broker: &dyn Broker = &client;
    if create {
        broker
            .create_transfer(
                account(),
                relationship_id(),
                &amount("100"),
                TransferDirection::Deposit,
            )
            .await
            .map(drop)
    } else {
        broker.list_ach_relationships(account()).await.map(drop)
    }
}

/// The error of a call answered by `template`, and how many requests reached the server.
async fn answered(template: ResponseTemplate, create: bool) -> (ProviderError, Option<usize>) {
    let server = MockServer::start().await;
    Mock::given(method(if create { "POST" } else { "GET" }))
        .respond_with(template)
        .mount(&server)
        .await;
    let timeout = Duration::from_millis(300);
    let error = call(&server.uri(), create, timeout).await.unwrap_err();
    (error, Some(server.received_requests().await.unwrap().len()))
}

/// An address where nothing listens.
fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}

/// How a [`dropping_server`] ends each connection after reading the whole request.
#[derive(Clone, Copy, Debug)]
enum Break {
    /// Closes it without a word.
    Close,
    /// Starts a 200 answer and closes it half way through the body.
    CutBody,
}

/// A server that reads each request whole and then breaks the connection; counts connections.
fn dropping_server(how: Break) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            read_request(&mut stream);
            if let Break::CutBody = how {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
                let _ = stream.write_all(format!("{head}[{{\"id\":").as_bytes());
                let _ = stream.flush();
            }
        }
    });
    (url, connections)
}

/// Reads the head and the `content-length` bytes of body of one request.
fn read_request(stream: &mut std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// Statuses that stand for a row: its own, or a few of its range that no other row claims.
fn statuses(condition: Condition) -> Vec<u16> {
    let claimed = |status: u16| {
        ERROR_CLASSES
            .iter()
            .any(|class| class.condition == Condition::Status(status))
    };
    match condition {
        Condition::Status(status) => vec![status],
        Condition::StatusRange { from, to } => {
            let unclaimed: Vec<u16> = (from..=to).filter(|s| !claimed(*s)).collect();
            let mut picked = vec![unclaimed[0], unclaimed[unclaimed.len() - 1]];
            for common in [301, 302, 307, 405, 410, 413, 415, 502, 503, 504] {
                if unclaimed.contains(&common) {
                    picked.push(common);
                }
            }
            picked
        }
        _ => vec![],
    }
}

/// Every way to meet `condition` on one call: a label, the error, and the requests the server saw
/// (`None` where nothing could count them).
async fn observe(
    condition: Condition,
    create: bool,
) -> Vec<(String, ProviderError, Option<usize>)> {
    let mut seen = Vec::new();
    match condition {
        Condition::Status(_) | Condition::StatusRange { .. } => {
            for status in statuses(condition) {
                let template = ResponseTemplate::new(status)
                    .set_body_json(alpaca_error(40010000 + u64::from(status), "refused"));
                let (error, requests) = answered(template, create).await;
                assert_eq!(error.http_status, Some(status));
                seen.push((format!("HTTP {status}"), error, requests));
            }
        }
        Condition::ConnectionNotMade => {
            let address = closed_address();
            let error = call(&format!("http://{address}"), create, Duration::from_secs(2))
                .await
                .unwrap_err();
            assert_eq!(error.code, "CONNECT");
            seen.push(("refused".to_owned(), error, None));
        }
        Condition::Timeout => {
            let template = ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(10));
            let (error, requests) = answered(template, create).await;
            assert_eq!(error.code, "TIMEOUT");
            seen.push(("timeout".to_owned(), error, requests));
        }
        Condition::ConnectionLost => {
            for how in [Break::Close, Break::CutBody] {
                let (url, connections) = dropping_server(how);
                let error = call(&url, create, Duration::from_secs(2))
                    .await
                    .unwrap_err();
                assert_eq!(error.code, "TRANSPORT", "{how:?}");
                let count = connections.load(Ordering::SeqCst);
                seen.push((format!("{how:?}"), error, Some(count)));
            }
        }
        Condition::UnreadableSuccess => {
            for body in ["not json", r#"{"id": "not-a-transfer"}"#] {
                let template = ResponseTemplate::new(200).set_body_string(body);
                let (error, requests) = answered(template, create).await;
                assert_eq!(error.http_status, Some(200));
                seen.push((format!("200 {body}"), error, requests));
            }
        }
    }
    seen
}

/// A connection refused at first, with Alpaca up by the time of a retry: a read gets through on
/// its retry, a create is never sent again. Returns the call's result and the requests Alpaca saw.
async fn refused_then_up(create: bool) -> (Result<(), ProviderError>, usize) {
    let address = closed_address();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let listener = TcpListener::bind(address).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(common::transfer_json("QUEUED", "INCOMING")),
            )
            .mount(&server)
            .await;
        server
    });
    let mut config = common::config(&format!("http://{address}"));
    // The first retry comes well after the server is up.
    config.retry.base_delay = Duration::from_millis(300);
    config.retry.max_delay = Duration::from_millis(600);
    let client = AlpacaClient::new(config).unwrap();
    let broker: &dyn Broker = &client;
    let result = if create {
        broker
            .create_transfer(
                account(),
                relationship_id(),
                &amount("100"),
                TransferDirection::Deposit,
            )
            .await
            .map(drop)
    } else {
        broker.list_ach_relationships(account()).await.map(drop)
    };
    let server = late.await.unwrap();
    (result, server.received_requests().await.unwrap().len())
}

async fn check_row(index: usize, condition: Condition) {
    let class: &ErrorClass = &ERROR_CLASSES[index];
    assert_eq!(
        class.condition, condition,
        "row {index} moved: rename its test"
    );
    for create in [false, true] {
        let call = if create { "create" } else { "read" };
        let retried = if create {
            class.retried_on_create
        } else {
            class.retried_on_read
        };
        for (label, error, requests) in observe(class.condition, create).await {
            let what = format!("row {index} ({:?}), {label}, {call}", class.condition);
            assert_eq!(error.kind, class.kind, "{what}: {error}");
            if let Some(requests) = requests {
                let expected = if retried { MAX_ATTEMPTS } else { 1 };
                assert_eq!(requests, expected, "{what}: attempts");
            }
            match class.outcome {
                Outcome::NotDone => assert!(!error.outcome_unknown(), "{what}"),
                Outcome::Unknown if class.kind != ProviderErrorKind::Decode => {
                    assert!(error.outcome_unknown(), "{what}");
                }
                Outcome::Unknown | Outcome::DoneUnreadable => {}
            }
            assert_eq!(
                error.is_retryable(),
                matches!(
                    class.kind,
                    ProviderErrorKind::RateLimited
                        | ProviderErrorKind::Unavailable
                        | ProviderErrorKind::Transport
                        | ProviderErrorKind::NotProcessed
                ),
                "{what}"
            );
        }
        if class.condition == Condition::ConnectionNotMade {
            let (result, requests) = refused_then_up(create).await;
            if retried {
                assert!(result.is_ok(), "row {index}, {call}: {result:?}");
                assert_eq!(requests, 1, "row {index}, {call}: the retry got through");
            } else {
                let error = result.unwrap_err();
                assert_eq!(error.kind, class.kind, "row {index}, {call}");
                assert_eq!(requests, 0, "row {index}, {call}: never sent again");
            }
        }
    }
}

macro_rules! row_tests {
    ($($name:ident = $index:expr, $condition:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                check_row($index, $condition).await;
            }
        )*

        #[test]
        fn every_row_of_the_table_has_its_test() {
            let tested = [$($index),*];
            assert_eq!(tested.len(), ERROR_CLASSES.len(), "a row without a test, or a test without a row");
            for (expected, index) in tested.into_iter().enumerate() {
                assert_eq!(index, expected);
            }
        }
    };
}

row_tests! {
    row_00_bad_request = 0, Condition::Status(400);
    row_01_unauthorized = 1, Condition::Status(401);
    row_02_forbidden = 2, Condition::Status(403);
    row_03_not_found = 3, Condition::Status(404);
    row_04_request_timeout = 4, Condition::Status(408);
    row_05_conflict = 5, Condition::Status(409);
    row_06_unprocessable = 6, Condition::Status(422);
    row_07_rate_limited = 7, Condition::Status(429);
    row_08_other_4xx = 8, Condition::StatusRange { from: 400, to: 499 };
    row_09_5xx = 9, Condition::StatusRange { from: 500, to: 599 };
    row_10_3xx = 10, Condition::StatusRange { from: 300, to: 399 };
    row_11_connection_never_made = 11, Condition::ConnectionNotMade;
    row_12_timeout = 12, Condition::Timeout;
    row_13_connection_lost = 13, Condition::ConnectionLost;
    row_14_unreadable_success = 14, Condition::UnreadableSuccess;
}
