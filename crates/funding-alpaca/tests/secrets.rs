//! The Alpaca secret, the key id, the Basic header and Plaid processor tokens never show in a
//! `Debug`, a `Display`, an error or a log line, even when Alpaca echoes them back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::sse::{Ending, Script, SseServer};
use common::{BASIC_AUTH, KEY_ID, SECRET, TOKEN, account, alpaca_error, client, config, token};
use funding_alpaca::AlpacaClient;
use funding_core::ports::{Broker, ProviderError};
use futures::StreamExt;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Everything that must never be printed.
const FORBIDDEN: [&str; 5] = [SECRET, KEY_ID, TOKEN, "161c86dd", BASIC_AUTH];

fn assert_clean(what: &str, text: &str) {
    let base64_credentials = BASIC_AUTH.trim_start_matches("Basic ");
    for secret in FORBIDDEN.iter().chain([&base64_credentials]) {
        assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
    }
}

fn assert_error_clean(error: &ProviderError) {
    assert_clean("Display", &error.to_string());
    assert_clean("Debug", &format!("{error:?}"));
    assert_clean("message", &error.message);
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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn the_configuration_and_the_client_never_show_the_credentials() {
    let config = config("https://broker-api.sandbox.alpaca.markets");
    assert_clean("AlpacaConfig", &format!("{config:?}"));
    assert_clean("AlpacaConfig", &format!("{config:#?}"));
    let client = AlpacaClient::new(config).unwrap();
    assert_clean("AlpacaClient", &format!("{client:?}"));
    assert_clean("ProcessorToken", &format!("{:?} {}", token(), token()));
}

#[tokio::test]
async fn an_error_echoing_the_token_and_credentials_is_scrubbed() {
    let server = MockServer::start().await;
    let echo = format!("processor token {TOKEN} is invalid for key {KEY_ID} with secret {SECRET}");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(alpaca_error(42210000, &echo)))
        .mount(&server)
        .await;
    let error = client(&server.uri())
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    assert_error_clean(&error);
    assert!(
        error.message.contains("processor-sandbox-[REDACTED]"),
        "{}",
        error.message
    );
}

/// A full bank account number, as a relationship answer may carry it.
const ACCOUNT_NUMBER: &str = "1111222233330000";

fn assert_no_account_number(what: &str, text: &str) {
    assert!(
        !text.contains(ACCOUNT_NUMBER) && !text.contains("111122223333"),
        "{what} shows the account number: {text}"
    );
}

fn relationship_with_number(number: serde_json::Value) -> serde_json::Value {
    let mut answer = common::relationship_json("QUEUED");
    answer["bank_account_type"] = json!("CHECKING");
    answer["bank_account_number"] = number;
    answer["bank_routing_number"] = json!("011401533");
    answer
}

#[tokio::test]
async fn the_full_account_number_shows_in_no_debug_output_error_or_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(relationship_with_number(json!(ACCOUNT_NUMBER))),
        )
        .mount(&server)
        .await;
    // A list whose second element is unreadable (a bad id), and whose numbers come as a string
    // and as a JSON number: the unreadable one is skipped, and its log line quotes neither.
    let mut broken = relationship_with_number(json!(ACCOUNT_NUMBER));
    broken["id"] = json!("not-a-uuid");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            relationship_with_number(json!(1_111_222_233_330_000_u64)),
            broken,
        ])))
        .mount(&server)
        .await;
    let client = client(&server.uri());

    let created = client
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap();
    assert_eq!(created.bank_account_mask.as_deref(), Some("0000"));
    assert_no_account_number("Debug", &format!("{created:?}"));
    assert_no_account_number("Debug", &format!("{created:#?}"));

    let listed = client.list_ach_relationships(account()).await.unwrap();
    assert_eq!(listed.len(), 1, "the unreadable relationship is skipped");
    assert_eq!(listed[0].bank_account_mask.as_deref(), Some("0000"));
    assert_no_account_number("Debug", &format!("{listed:?}"));

    // A page that is not a list at all is an error, and quotes nothing of it either.
    let broken_page = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "bank_account_number": ACCOUNT_NUMBER,
            "processor_token": TOKEN
        })))
        .mount(&broken_page)
        .await;
    let error = common::client(&broken_page.uri())
        .list_ach_relationships(account())
        .await
        .unwrap_err();
    assert_no_account_number("Display", &error.to_string());
    assert_no_account_number("Debug", &format!("{error:?}"));
    assert_no_account_number("message", &error.message);
    assert_error_clean(&error);

    // A type mismatch on the number itself is no error either (so none can quote it).
    let odd_server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([relationship_with_number(json!([ACCOUNT_NUMBER])),])),
        )
        .mount(&odd_server)
        .await;
    let listed = common::client(&odd_server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap();
    assert_eq!(listed[0].bank_account_mask, None);
    assert_no_account_number("Debug", &format!("{listed:?}"));

    assert_no_account_number("logs", &captured.text());
}

#[tokio::test]
async fn transport_errors_never_show_the_credentials() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = client(&format!("http://{address}"))
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    assert_error_clean(&error);
}

#[tokio::test]
async fn no_log_line_carries_a_secret_through_retries_failures_and_the_event_stream() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    let echo = format!("bad token {TOKEN}");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(alpaca_error(42210000, &echo)))
        .mount(&server)
        .await;
    // A read is retried (and the retry logged); a create never is.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_json(alpaca_error(42900000, &echo)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "id": common::RELATIONSHIP, "account_id": common::ACCOUNT, "created_at": "2021-04-08T23:01:53Z",
            "updated_at": "2021-04-08T23:01:53Z", "status": "NEW_STATUS", "account_owner_name": "John Doe",
            "processor_token": TOKEN, "bank_account_number": "123456789abc"
        }])))
        .mount(&server)
        .await;
    let client = client(&server.uri());
    client
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap_err();
    client.list_ach_relationships(account()).await.unwrap();

    let stream_server = SseServer::start(vec![
        Script::events(
            vec!["data: {\"processor_token\": \"x\"}\n\n".into()],
            Ending::Abort,
        ),
        Script::refusal(401, alpaca_error(40110000, &echo)),
    ])
    .await;
    let mut events = common::client(&stream_server.url).funding_events(None);
    // An unreadable event is passed on raw, to be kept in the inbox; it is never logged.
    let unreadable = events.next().await.unwrap().unwrap();
    assert!(unreadable.event.is_err());
    let error = events.next().await.unwrap().unwrap_err();
    assert_error_clean(&error);

    let logs = captured.text();
    assert!(logs.contains("retrying"), "the retry was logged: {logs}");
    assert!(
        logs.contains("NEW_STATUS"),
        "the unknown status was logged: {logs}"
    );
    assert_clean("logs", &logs);
    assert!(
        !logs.contains("123456789abc"),
        "an account number reached the logs"
    );
}
