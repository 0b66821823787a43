//! Test helpers: a running sandbox with typed Plaid and Alpaca callers, an SSE reader, and a
//! bounded polling loop (tests never assert on wall-clock durations).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use funding_sandbox::{SandboxConfig, SandboxControl, SandboxHandle};
use futures::{Stream, StreamExt};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const CLIENT_ID: &str = "test-client";
pub const SECRET: &str = "test-secret";
pub const KEY: &str = "key-id";
pub const KEY_SECRET: &str = "key-secret";

/// A sandbox plus clients for both providers.
pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub control: SandboxControl,
    pub http: Client,
}

/// Zero delays; heartbeats every 10 s unless a test changes them.
pub async fn spawn_sandbox() -> TestSandbox {
    spawn_with(SandboxConfig::ephemeral()).await
}

pub async fn spawn_with(config: SandboxConfig) -> TestSandbox {
    let handle = funding_sandbox::spawn(config)
        .await
        .expect("sandbox starts");
    let control = handle.control();
    TestSandbox {
        handle,
        control,
        http: Client::new(),
    }
}

/// A link made through the Plaid API: access token, item, and the checking account id.
pub struct Linked {
    pub access_token: String,
    pub item_id: String,
    pub checking_account_id: String,
    pub savings_account_id: String,
}

impl TestSandbox {
    pub fn plaid_url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.plaid_url())
    }

    pub fn alpaca_url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.alpaca_url())
    }

    /// POST to Plaid with credentials in the headers.
    pub async fn plaid(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.plaid_url(path))
            .header("PLAID-CLIENT-ID", CLIENT_ID)
            .header("PLAID-SECRET", SECRET)
            .header("Plaid-Version", "2020-09-14")
            .json(&body)
            .send()
            .await
            .expect("plaid answers");
        let status = response.status();
        (status, response.json().await.expect("plaid answers JSON"))
    }

    /// POST to Plaid and insist on 200.
    pub async fn plaid_ok(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.plaid(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    pub async fn public_token(&self) -> String {
        let body = self
            .plaid_ok(
                "/sandbox/public_token/create",
                json!({"institution_id": "ins_109508", "initial_products": ["auth", "identity"]}),
            )
            .await;
        body["public_token"].as_str().unwrap().to_owned()
    }

    pub async fn link(&self) -> Linked {
        let public_token = self.public_token().await;
        let exchanged = self
            .plaid_ok(
                "/item/public_token/exchange",
                json!({ "public_token": public_token }),
            )
            .await;
        let access_token = exchanged["access_token"].as_str().unwrap().to_owned();
        let accounts = self
            .plaid_ok("/accounts/get", json!({ "access_token": access_token }))
            .await;
        let id_of = |subtype: &str| {
            accounts["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["subtype"] == subtype)
                .unwrap()["account_id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        Linked {
            item_id: exchanged["item_id"].as_str().unwrap().to_owned(),
            checking_account_id: id_of("checking"),
            savings_account_id: id_of("savings"),
            access_token,
        }
    }

    /// A processor token for Alpaca on a fresh link's checking account.
    pub async fn processor_token(&self) -> String {
        let linked = self.link().await;
        let body = self
            .plaid_ok(
                "/processor/token/create",
                json!({
                    "access_token": linked.access_token,
                    "account_id": linked.checking_account_id,
                    "processor": "alpaca",
                }),
            )
            .await;
        body["processor_token"].as_str().unwrap().to_owned()
    }

    pub fn alpaca(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.alpaca_url(path))
            .basic_auth(KEY, Some(KEY_SECRET))
    }

    pub async fn alpaca_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.alpaca(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("alpaca answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    /// Creates an ACH relationship from a fresh processor token; returns its JSON.
    pub async fn relationship(&self, account_id: Uuid) -> Value {
        let token = self.processor_token().await;
        let (status, body) = self
            .alpaca_json(
                reqwest::Method::POST,
                &format!("/v1/accounts/{account_id}/ach_relationships"),
                Some(json!({ "processor_token": token })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn transfer(
        &self,
        account_id: Uuid,
        relationship_id: &str,
        amount: &str,
        direction: &str,
    ) -> (StatusCode, Value) {
        self.alpaca_json(
            reqwest::Method::POST,
            &format!("/v1/accounts/{account_id}/transfers"),
            Some(json!({
                "transfer_type": "ach",
                "relationship_id": relationship_id,
                "amount": amount,
                "direction": direction,
            })),
        )
        .await
    }

    /// A relationship from a fresh processor token, once APPROVED; returns its id.
    pub async fn approved_relationship(&self, account_id: Uuid) -> String {
        let id = self.relationship(account_id).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        eventually("approval", || async {
            (self.relationship_status(account_id, &id).await == "APPROVED").then_some(())
        })
        .await;
        id
    }

    /// A call to the HTTP control API (`/_sandbox{path}` on the Alpaca listener): status and JSON
    /// (null when the body is empty).
    pub async fn control_http(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.alpaca_url(&format!("/_sandbox{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Current status of a relationship, via the list endpoint.
    pub async fn relationship_status(&self, account_id: Uuid, id: &str) -> String {
        let (_, list) = self
            .alpaca_json(
                reqwest::Method::GET,
                &format!("/v1/accounts/{account_id}/ach_relationships"),
                None,
            )
            .await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Current JSON of a transfer, via the list endpoint.
    pub async fn find_transfer(&self, account_id: Uuid, id: &str) -> Value {
        let (_, list) = self
            .alpaca_json(
                reqwest::Method::GET,
                &format!("/v1/accounts/{account_id}/transfers"),
                None,
            )
            .await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Opens the funding event stream with a query string (may be empty).
    pub async fn events(&self, query: &str) -> EventStream {
        let response = self
            .alpaca(
                reqwest::Method::GET,
                &format!("/v2/events/funding/status{query}"),
            )
            .send()
            .await
            .expect("stream opens");
        EventStream::new(response)
    }
}

/// Polls `check` until it returns `Some`, for at most a bounded number of attempts.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// A reader of SSE frames (`data: …` and `:comment` blocks separated by a blank line).
pub struct EventStream {
    pub status: StatusCode,
    pub content_type: String,
    body: ByteStream,
    buffer: String,
    pub ended: bool,
}

/// Generous bound on how long one frame may take to arrive before a test gives up.
const FRAME_WAIT: Duration = Duration::from_secs(10);

impl EventStream {
    fn new(response: Response) -> Self {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Self {
            status: response.status(),
            content_type,
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            ended: false,
        }
    }

    /// The next raw frame (without its trailing blank line), or `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> Option<String> {
        loop {
            if let Some(index) = self.buffer.find("\n\n") {
                let frame = self.buffer[..index].to_owned();
                self.buffer.drain(..index + 2);
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout(FRAME_WAIT, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => self.ended = true,
                Err(_) => panic!("no frame arrived; buffer: {:?}", self.buffer),
            }
        }
    }

    /// The next event's JSON, skipping comments; `None` at the end of the stream.
    pub async fn next_event(&mut self) -> Option<Value> {
        loop {
            let frame = self.next_frame().await?;
            if let Some(data) = frame.strip_prefix("data: ") {
                return Some(serde_json::from_str(data).expect("event data is JSON"));
            }
        }
    }

    /// Reads events until one matches `wanted`, returning everything read (in order).
    pub async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(event) = self.next_event().await {
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("stream ended before the wanted event; saw {seen:?}");
    }
}

/// Does the event concern `entity` and reach `status`?
pub fn is_event(event: &Value, entity: &str, status: &str) -> bool {
    event["entity_id"] == entity && event["status_to"] == status
}

/// One webhook as a receiver got it: headers and the exact body bytes.
pub struct ReceivedWebhook {
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
}

/// A local HTTP server that records every POST and answers `status` (after `delay`).
pub struct WebhookReceiver {
    pub url: String,
    received: tokio::sync::mpsc::UnboundedReceiver<ReceivedWebhook>,
    _server: tokio::task::JoinHandle<()>,
}

/// Bound on how long a test waits for one webhook.
const WEBHOOK_WAIT: Duration = Duration::from_secs(10);

impl WebhookReceiver {
    /// Answers 200 at once.
    pub async fn start() -> Self {
        Self::answering(StatusCode::OK, Duration::ZERO).await
    }

    pub async fn answering(status: StatusCode, delay: Duration) -> Self {
        use axum::routing::post;
        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
        let status = axum::http::StatusCode::from_u16(status.as_u16()).unwrap();
        let app = axum::Router::new().route(
            "/hooks",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let sender = sender.clone();
                    async move {
                        let _ = sender.send(ReceivedWebhook { headers, body });
                        tokio::time::sleep(delay).await;
                        status
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            received,
            _server: server,
        }
    }

    /// The next webhook; panics after a generous bound.
    pub async fn next(&mut self) -> ReceivedWebhook {
        tokio::time::timeout(WEBHOOK_WAIT, self.received.recv())
            .await
            .expect("a webhook arrives")
            .expect("the receiver runs")
    }

    /// A webhook that already arrived, if any.
    pub fn try_next(&mut self) -> Option<ReceivedWebhook> {
        self.received.try_recv().ok()
    }
}
