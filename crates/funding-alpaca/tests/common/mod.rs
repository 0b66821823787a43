//! Shared test setup: credentials, a client for a local server with fast retries, and response
//! fixtures shaped like Alpaca's (the conformance test checks them against the spec).
#![allow(dead_code)]

pub mod sse;

use std::time::Duration;

use chrono::{DateTime, Utc};
use funding_alpaca::{AlpacaClient, AlpacaConfig, RetryPolicy, StreamPolicy};
use funding_core::ports::Broker;
use funding_domain::{AccountId, AchRelationshipId, AlpacaTransferId, Amount, ProcessorToken};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const KEY_ID: &str = "CKTESTKEY0123456789";
pub const SECRET: &str = "s3cr3t-Alpaca-Value-42";
/// `Basic base64(KEY_ID:SECRET)`, computed independently of the adapter.
pub const BASIC_AUTH: &str = "Basic Q0tURVNUS0VZMDEyMzQ1Njc4OTpzM2NyM3QtQWxwYWNhLVZhbHVlLTQy";
pub const TOKEN: &str = "processor-sandbox-161c86dd-d470-47e9-a741-d381c2b2cb6f";
pub const ACCOUNT: &str = "9d587d7a-7b2c-494f-8ad8-5796bfca0866";
pub const RELATIONSHIP: &str = "794c3c51-71a8-4186-b5d0-247b6fb4045e";
pub const TRANSFER: &str = "be3c368a-4c7c-4384-808e-f02c9f5a8afe";

pub fn config(base_url: &str) -> AlpacaConfig {
    AlpacaConfig {
        base_url: base_url.to_owned(),
        key_id: KEY_ID.to_owned(),
        secret: SecretString::from(SECRET),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        },
        stream: StreamPolicy {
            reconnect_base_delay: Duration::from_millis(5),
            reconnect_max_delay: Duration::from_millis(50),
            idle_timeout: Duration::from_secs(5),
        },
    }
}

pub fn client(base_url: &str) -> AlpacaClient {
    AlpacaClient::new(config(base_url)).unwrap()
}

/// The client as the port: the inherent calls of the same names take other arguments.
pub fn broker(base_url: &str) -> Box<dyn Broker> {
    Box::new(client(base_url))
}

pub fn amount(text: &str) -> Amount {
    Amount::parse(text).unwrap()
}

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

pub fn account() -> AccountId {
    AccountId::parse(ACCOUNT).unwrap()
}

pub fn relationship_id() -> AchRelationshipId {
    AchRelationshipId::parse(RELATIONSHIP).unwrap()
}

pub fn transfer_id() -> AlpacaTransferId {
    AlpacaTransferId::parse(TRANSFER).unwrap()
}

pub fn token() -> ProcessorToken {
    ProcessorToken::parse(TOKEN).unwrap()
}

pub fn relationships_path() -> String {
    format!("/v1/accounts/{ACCOUNT}/ach_relationships")
}

pub fn transfers_path() -> String {
    format!("/v1/accounts/{ACCOUNT}/transfers")
}

pub fn trading_path() -> String {
    format!("/v1/trading/accounts/{ACCOUNT}/account")
}

/// A processor-token relationship as Alpaca answers it (the reference's example).
pub fn relationship_json(status: &str) -> Value {
    json!({
        "id": RELATIONSHIP,
        "account_id": ACCOUNT,
        "created_at": "2021-04-08T23:01:53.35743328Z",
        "updated_at": "2021-04-08T23:01:54.123456789Z",
        "status": status,
        "account_owner_name": "John Doe",
        "nickname": "Bank of America Checking"
    })
}

/// The old docs' transfer sample: amounts without decimals, `reason: null`.
pub fn transfer_json(status: &str, direction: &str) -> Value {
    json!({
        "id": TRANSFER,
        "relationship_id": RELATIONSHIP,
        "account_id": ACCOUNT,
        "type": "ach",
        "status": status,
        "reason": null,
        "amount": "498",
        "direction": direction,
        "created_at": "2021-05-05T07:55:31.190788Z",
        "updated_at": "2021-05-05T08:13:33.029539Z",
        "expires_at": "2021-05-12T07:55:31.190719Z",
        "requested_amount": "500",
        "fee": "2",
        "fee_payment_method": "user"
    })
}

/// A transfer of the account with its own id, created `minutes` after a fixed instant.
pub fn listed(id: uuid::Uuid, minutes: i64) -> Value {
    let mut transfer = transfer_json("COMPLETE", "INCOMING");
    transfer["id"] = json!(id);
    let created = at("2025-01-01T00:00:00Z") + chrono::Duration::minutes(minutes);
    transfer["created_at"] = json!(created.to_rfc3339());
    transfer
}

pub fn alpaca_error(code: u64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// A `StatusFundingEvent` as Alpaca sends it.
pub fn event_json(
    event_id: &str,
    entity_type: &str,
    status_from: Option<&str>,
    status_to: &str,
) -> Value {
    let mut event = json!({
        "account_id": ACCOUNT,
        "at": "2025-04-11T19:52:24.066998Z",
        "correspondent": "LPCA",
        "entity_id": RELATIONSHIP,
        "entity_type": entity_type,
        "event_id": event_id,
        "status_to": status_to
    });
    if let Some(from) = status_from {
        event["status_from"] = json!(from);
    }
    event
}

/// One SSE message carrying `event`.
pub fn sse_data(event: &Value) -> String {
    format!("data: {event}\n\n")
}

/// Answers `GET …/transfers` as Alpaca pages it: the elements from `offset`, at most `limit` of
/// them and never more than `cap` (Alpaca may answer fewer than asked before the end).
pub struct Paged {
    pub elements: Vec<Value>,
    pub cap: usize,
}

impl Paged {
    pub fn new(elements: Vec<Value>) -> Self {
        Self {
            elements,
            cap: usize::MAX,
        }
    }
}

impl wiremock::Respond for Paged {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let param = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(key, _)| key == name)
                .and_then(|(_, value)| value.parse::<usize>().ok())
        };
        let offset = param("offset").unwrap_or(0).min(self.elements.len());
        let take = param("limit").unwrap_or(usize::MAX).min(self.cap);
        let page: Vec<Value> = self.elements[offset..].iter().take(take).cloned().collect();
        wiremock::ResponseTemplate::new(200).set_body_json(page)
    }
}
