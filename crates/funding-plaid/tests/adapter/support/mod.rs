//! Shared test setup: a wiremock Plaid, a client pointed at it with tiny retry delays, the
//! credentials and tokens the tests use, and checks on what the client sent. The processor rail's
//! requests and endpoints are in [`bank_transfers`], the webhook tests' signer, key endpoint and
//! clock in [`webhook`].

use std::time::Duration;

use funding_domain::{AccessToken, PlaidAccountId, ProcessorToken, PublicToken};
use funding_plaid::{PlaidClient, PlaidConfig, RetryPolicy};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub mod bank_transfers;
pub mod webhook;

pub const CLIENT_ID: &str = "client-id-5f1a";
pub const SECRET: &str = "secret-d81c2e0b7a";
pub const PUBLIC_TOKEN: &str = "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d";
pub const ACCESS_TOKEN: &str = "access-sandbox-de3ce8ef-33f8-4b6a-9a6b-0123456789ab";
pub const PROCESSOR_TOKEN: &str = "processor-sandbox-0asd1-a92nc";
pub const ACCOUNT_ID: &str = "blgvvBlXw3cq5GMPwqB6s6q4dLKB9WcVqGDGo";
pub const ITEM_ID: &str = "M5eVJqLnv3tbzdngLDp9FL5OlDNxlNhlE55op";
pub const INSTITUTION_ID: &str = "ins_109508";
pub const MAX_ATTEMPTS: u32 = 3;

/// The identifying parts of every secret, none of which may ever be printed.
pub const SECRET_PARTS: &[&str] = &[SECRET, "b0e2c4ee", "de3ce8ef", "0asd1"];

/// Retries as in production, only much faster.
pub fn tiny_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: MAX_ATTEMPTS,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

pub fn config(base_url: &str) -> PlaidConfig {
    crate::logs::captured();
    let mut config = PlaidConfig::new(base_url, CLIENT_ID, SecretString::from(SECRET));
    config.retry = tiny_retry();
    config.request_timeout = Duration::from_secs(5);
    config
}

/// A fake Plaid and a client for it.
pub async fn plaid() -> (MockServer, PlaidClient) {
    crate::logs::captured();
    let server = MockServer::start().await;
    let client = PlaidClient::new(config(&server.uri())).unwrap();
    (server, client)
}

/// Answers `POST path` with `response`.
pub fn on(endpoint: &str, response: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(response)
}

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Everything the fake Plaid received at `endpoint`.
pub async fn received(server: &MockServer, endpoint: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path() == endpoint)
        .collect()
}

/// The one request the fake Plaid received, checked for method and headers.
pub async fn the_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "expected exactly one request");
    let request = requests.remove(0);
    assert_plaid_headers(&request);
    request
}

/// `POST`, `PLAID-CLIENT-ID`, `PLAID-SECRET`, `Plaid-Version: 2020-09-14`, JSON content type.
pub fn assert_plaid_headers(request: &Request) {
    assert_eq!(request.method.as_str(), "POST");
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("PLAID-CLIENT-ID"), CLIENT_ID);
    assert_eq!(header("PLAID-SECRET"), SECRET);
    assert_eq!(header("Plaid-Version"), "2020-09-14");
    assert_eq!(header("Content-Type"), "application/json");
}

/// The request body as JSON, checked to carry no credentials.
pub fn body(request: &Request) -> Value {
    let body: Value = serde_json::from_slice(&request.body).expect("the body is JSON");
    let object = body.as_object().expect("the body is a JSON object");
    assert!(
        !object.contains_key("client_id"),
        "client_id must travel in a header"
    );
    assert!(
        !object.contains_key("secret"),
        "secret must travel in a header"
    );
    body
}

pub fn public_token() -> PublicToken {
    PublicToken::parse(PUBLIC_TOKEN).unwrap()
}

pub fn access_token() -> AccessToken {
    AccessToken::parse(ACCESS_TOKEN).unwrap()
}

pub fn processor_token() -> ProcessorToken {
    ProcessorToken::parse(PROCESSOR_TOKEN).unwrap()
}

pub fn account_id() -> PlaidAccountId {
    PlaidAccountId::parse(ACCOUNT_ID).unwrap()
}
