//! Every row of `funding_plaid::ERROR_CLASSES`, driven through the real client against a fake Plaid
//! that fails that way, on four endpoints that stand for the four retry classes: the single-use
//! public token exchange, a read, a create carrying an idempotency key, and a cancel. Each ends in
//! the row's kind, tried as often as the row says. Then what Plaid documents as not processed,
//! retried on every endpoint; one test per row, and one that fails when a row has none.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use funding_core::ports::{PlaidGateway, ProviderError, ProviderErrorKind};
use funding_plaid::{Condition, ERROR_CLASSES, PlaidClient, Processed, RetriedOn};
use wiremock::{MockServer, ResponseTemplate};

use crate::fixtures::{self, plaid_error};
use crate::support::bank_transfers::call_endpoint;
use crate::support::*;

/// The four retry classes: (endpoint, safe to repeat after an unknown outcome).
const PROBES: [(&str, bool); 4] = [
    ("/item/public_token/exchange", false),
    ("/accounts/get", true),
    ("/processor/bank_transfer/create", true),
    ("/bank_transfer/cancel", false),
];

/// Calls the port method behind `endpoint` (any endpoint of `fixtures::all_responses`).
pub async fn call(client: &PlaidClient, endpoint: &str) -> Result<(), ProviderError> {
    match endpoint {
        "/item/public_token/exchange" => client
            .exchange_public_token(&public_token())
            .await
            .map(drop),
        "/processor/token/create" => {
            PlaidGateway::create_processor_token(client, &access_token(), &account_id())
                .await
                .map(drop)
        }
        "/accounts/get" => client.list_accounts(&access_token()).await.map(drop),
        "/sandbox/public_token/create" => client
            .sandbox_create_public_token(INSTITUTION_ID)
            .await
            .map(drop),
        other => call_endpoint(client, other).await,
    }
}

fn client_for(base_url: &str, timeout: Duration) -> PlaidClient {
    let mut config = config(base_url);
    config.request_timeout = timeout;
    PlaidClient::new(config).unwrap()
}

/// The error of a call to `endpoint` answered by `template`, and the requests Plaid saw.
async fn answered(endpoint: &str, template: ResponseTemplate) -> (ProviderError, usize) {
    let server = MockServer::start().await;
    on(endpoint, template).mount(&server).await;
    let client = client_for(&server.uri(), Duration::from_millis(300));
    let error = call(&client, endpoint).await.unwrap_err();
    (error, received(&server, endpoint).await.len())
}

fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}

/// A server that reads each request whole, then closes the connection (after half an answer
/// when `cut` is set); counts connections.
fn dropping_server(cut: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            read_request(&mut stream);
            if cut {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
                let _ = stream.write_all(format!("{head}{{\"request_id\":").as_bytes());
                let _ = stream.flush();
            }
        }
    });
    (url, connections)
}

fn read_request(stream: &mut std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
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

/// Every way to meet `condition` on `endpoint`: a label, the error, and the requests Plaid saw
/// (`None` where nothing could count them).
async fn observe(
    condition: Condition,
    endpoint: &str,
) -> Vec<(String, ProviderError, Option<usize>)> {
    let mut seen = Vec::new();
    match condition {
        Condition::Plaid {
            error_type,
            error_codes,
            http_status,
        } => {
            let codes: &[&str] = if error_codes.is_empty() {
                &["RATE_LIMIT", "ACCOUNTS_LIMIT", "INSTITUTION_RATE_LIMIT"]
            } else {
                error_codes
            };
            for code in codes {
                let body = plaid_error(error_type, code, "refused", "req-class");
                let template = ResponseTemplate::new(http_status).set_body_json(body);
                let (error, requests) = answered(endpoint, template).await;
                assert_eq!(error.code, *code);
                assert_eq!(error.http_status, Some(http_status));
                assert_eq!(error.request_id.as_deref(), Some("req-class"));
                seen.push((format!("{error_type} {code}"), error, Some(requests)));
            }
        }
        Condition::Bare { http_statuses } => {
            for status in http_statuses {
                let template = ResponseTemplate::new(*status).set_body_string("<html>oops</html>");
                let (error, requests) = answered(endpoint, template).await;
                assert_eq!(error.code, format!("HTTP_{status}"));
                seen.push((format!("HTTP {status}"), error, Some(requests)));
            }
        }
        Condition::ConnectionNotMade => {
            let client = client_for(
                &format!("http://{}", closed_address()),
                Duration::from_secs(2),
            );
            let error = call(&client, endpoint).await.unwrap_err();
            assert_eq!(error.code, "CONNECTION_FAILED");
            seen.push(("refused".to_owned(), error, None));
        }
        Condition::Timeout => {
            let template = ok(serde_json::json!({})).set_delay(Duration::from_secs(10));
            let (error, requests) = answered(endpoint, template).await;
            assert_eq!(error.code, "TIMEOUT");
            seen.push(("timeout".to_owned(), error, Some(requests)));
        }
        Condition::ConnectionLost => {
            for cut in [false, true] {
                let (url, connections) = dropping_server(cut);
                let client = client_for(&url, Duration::from_secs(2));
                let error = call(&client, endpoint).await.unwrap_err();
                assert_eq!(error.code, "TRANSPORT", "cut: {cut}");
                let count = connections.load(Ordering::SeqCst);
                seen.push((format!("lost (cut: {cut})"), error, Some(count)));
            }
        }
        Condition::UnreadableSuccess => {
            let (error, requests) = answered(endpoint, ok(serde_json::json!([1, 2]))).await;
            assert_eq!(error.code, "HTTP_200");
            seen.push(("200 [1, 2]".to_owned(), error, Some(requests)));
        }
    }
    seen
}

/// A connection refused at first, with Plaid up before the first retry: the call's result and the
/// requests Plaid saw.
async fn refused_then_up(endpoint: &'static str) -> (Result<(), ProviderError>, usize) {
    let address = closed_address();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let server = MockServer::builder()
            .listener(TcpListener::bind(address).unwrap())
            .start()
            .await;
        for (path, answer) in fixtures::all_responses() {
            on(path, ok(answer)).mount(&server).await;
        }
        server
    });
    let mut config = config(&format!("http://{address}"));
    config.retry.base_delay = Duration::from_millis(300);
    config.retry.max_delay = Duration::from_millis(600);
    let client = PlaidClient::new(config).unwrap();
    let result = call(&client, endpoint).await;
    let server = late.await.unwrap();
    (result, received(&server, endpoint).await.len())
}

async fn check_row(index: usize, condition: Condition) {
    let class = &ERROR_CLASSES[index];
    assert_eq!(
        class.condition, condition,
        "row {index} moved: rename its test"
    );
    for (endpoint, repeatable) in PROBES {
        let retried = match class.retried {
            RetriedOn::EveryEndpoint => true,
            RetriedOn::RepeatableEndpoints => repeatable,
            RetriedOn::Never => false,
        };
        for (label, error, requests) in observe(class.condition, endpoint).await {
            let what = format!("row {index} ({label}) on {endpoint}");
            assert_eq!(error.kind, class.kind, "{what}: {error}");
            if let Some(requests) = requests {
                let expected = if retried { MAX_ATTEMPTS as usize } else { 1 };
                assert_eq!(requests, expected, "{what}: attempts");
            }
            match class.processed {
                Processed::No => assert!(!error.outcome_unknown(), "{what}"),
                Processed::Unknown if class.kind != ProviderErrorKind::Decode => {
                    assert!(error.outcome_unknown(), "{what}");
                }
                Processed::Unknown | Processed::Yes => {}
            }
        }
        if class.condition == Condition::ConnectionNotMade {
            let (result, requests) = refused_then_up(endpoint).await;
            assert!(result.is_ok(), "row {index} on {endpoint}: {result:?}");
            assert_eq!(
                requests, 1,
                "row {index} on {endpoint}: the retry got through"
            );
        }
    }
}

fn plaid(
    error_type: &'static str,
    error_codes: &'static [&'static str],
    http_status: u16,
) -> Condition {
    Condition::Plaid {
        error_type,
        error_codes,
        http_status,
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
    row_00_planned_maintenance = 0, plaid("API_ERROR", &["PLANNED_MAINTENANCE"], 503);
    row_01_rate_limit_exceeded = 1, plaid("RATE_LIMIT_EXCEEDED", &[], 429);
    row_02_bare_429 = 2, Condition::Bare { http_statuses: &[429] };
    row_03_connection_never_made = 3, Condition::ConnectionNotMade;
    row_04_internal_server_error = 4, plaid("API_ERROR", &["INTERNAL_SERVER_ERROR"], 500);
    row_05_bare_gateway_errors = 5, Condition::Bare { http_statuses: &[500, 502, 503, 504] };
    row_06_bare_other_5xx = 6, Condition::Bare { http_statuses: &[501, 505, 599] };
    row_07_timeout = 7, Condition::Timeout;
    row_08_connection_lost = 8, Condition::ConnectionLost;
    row_09_invalid_api_keys = 9, plaid("INVALID_INPUT", &["INVALID_API_KEYS"], 400);
    row_10_unauthorized_environment = 10, plaid("INVALID_INPUT", &["UNAUTHORIZED_ENVIRONMENT", "UNAUTHORIZED_ROUTE_ACCESS"], 400);
    row_11_not_found = 11, plaid("INVALID_REQUEST", &["NOT_FOUND"], 404);
    row_12_invalid_request = 12, plaid("INVALID_REQUEST", &["MISSING_FIELDS", "UNKNOWN_FIELDS", "INVALID_FIELD", "INVALID_BODY"], 400);
    row_13_invalid_input = 13, plaid("INVALID_INPUT", &["INVALID_PUBLIC_TOKEN", "INVALID_ACCESS_TOKEN", "INVALID_ACCOUNT_ID", "INVALID_PRODUCT"], 400);
    row_14_item_error = 14, plaid("ITEM_ERROR", &["ITEM_LOGIN_REQUIRED", "ITEM_NOT_FOUND", "NO_AUTH_ACCOUNTS"], 400);
    row_15_institution_error = 15, plaid("INSTITUTION_ERROR", &["INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING"], 400);
    row_16_bank_transfer_error = 16, plaid("BANK_TRANSFER_ERROR", &["BANK_TRANSFER_LIMIT_EXCEEDED", "BANK_TRANSFER_NOT_CANCELLABLE"], 400);
    row_17_transfer_error = 17, plaid("TRANSFER_ERROR", &["TRANSFER_LIMIT_REACHED"], 400);
    row_18_unknown_error_type = 18, plaid("QUANTUM_ERROR", &["ANY_NEW_CODE"], 400);
    row_19_bare_4xx = 19, Condition::Bare { http_statuses: &[400, 403, 404, 418] };
    row_20_unreadable_success = 20, Condition::UnreadableSuccess;
}
