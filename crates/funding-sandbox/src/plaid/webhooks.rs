//! Signed Plaid webhooks. After every new bank transfer event the emulator POSTs
//! `BANK_TRANSFERS_EVENTS_UPDATE` to the configured webhook URL (if any), and
//! `/sandbox/bank_transfer/fire_webhook` sends one to the URL it is given; Item webhooks (see
//! `item_webhooks`) go to the Item's own webhook URL, else the configured one. The body is Plaid's,
//! pretty-printed with 2-space indentation; the `Plaid-Verification` header is an ES256 JWT
//! (`kid` = the current key) whose claims are `iat` (emulator clock) and `request_body_sha256`
//! (lowercase hex of the exact body bytes). `/webhook_verification_key/get` serves the keys.
//!
//! Handlers only put an [`Outgoing`] in the outbox (never blocking, lock or not); one dispatcher
//! task reads it, takes the URL, the current key and any [`WebhookFault`] under the state lock,
//! releases it, signs, and spawns the delivery. A delivery that fails (no connection, timeout,
//! non-2xx) is logged, recorded in the delivery log and dropped: no retries.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use super::error::PlaidError;
use super::request::serve;
use super::schema::{Field, Kind, required};
use super::webhook_keys::{SigningKey, WebhookKeys};
use crate::control::faults::{WebhookFault, WebhookFaultBook};
use crate::error::SandboxError;
use crate::state::Shared;

/// Header carrying the JWT.
pub(crate) const VERIFICATION_HEADER: &str = "Plaid-Verification";
/// `webhook_code` of every webhook the emulator sends.
const EVENTS_UPDATE: &str = "BANK_TRANSFERS_EVENTS_UPDATE";
/// How long one delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// `WebhookVerificationKeyGetRequest`.
const KEY_GET: &[Field] = &[required("key_id", Kind::Str)];
/// `SandboxBankTransferFireWebhookRequest`.
const FIRE: &[Field] = &[required("webhook", Kind::Str)];

/// What the dispatcher is asked to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A bank transfer event was recorded: tell the configured URL, if there is one.
    EventsUpdated,
    /// `/sandbox/bank_transfer/fire_webhook`: tell this URL.
    FireTo(String),
    /// An Item webhook (`webhook_type` `ITEM`), already serialized: to `url` (the Item's
    /// webhook), else to the configured URL, else nowhere.
    Item {
        url: Option<String>,
        item_id: String,
        code: &'static str,
        body: Vec<u8>,
    },
}

/// The sending end, held by [`Shared`].
pub(crate) type Outbox = mpsc::UnboundedSender<Outgoing>;
/// The dispatcher's end.
pub(crate) type Inbox = mpsc::UnboundedReceiver<Outgoing>;

/// One webhook delivery attempt, as the emulator saw it (a duplicated webhook is two).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    /// Where it was sent.
    pub url: String,
    /// `BANK_TRANSFERS_EVENTS_UPDATE`, or an Item webhook's code (`ERROR`, `LOGIN_REPAIRED`, …).
    pub webhook_code: String,
    /// The Item an Item webhook is about; `None` for bank transfer webhooks.
    pub item_id: Option<String>,
    /// `kid` of the key that signed it.
    pub key_id: String,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Why it failed (connection error or non-2xx status); `None` on success.
    pub error: Option<String>,
}

/// Webhook state, part of the world.
#[derive(Debug)]
pub(crate) struct WebhookBook {
    /// Where events updates go; `None` sends none.
    pub url: Option<String>,
    pub keys: WebhookKeys,
    pub faults: WebhookFaultBook,
    pub deliveries: Vec<WebhookDelivery>,
}

impl WebhookBook {
    /// Checks the configured URL and makes the first key (created at `now`, unix seconds).
    pub(crate) fn new(url: Option<&str>, now: i64) -> Result<Self, SandboxError> {
        let url = url
            .map(|url| {
                check_url(url)
                    .map_err(|error| SandboxError::Setup(format!("plaid_webhook_url: {error}")))
            })
            .transpose()?;
        Ok(Self {
            url,
            keys: WebhookKeys::generate(now).map_err(SandboxError::Setup)?,
            faults: WebhookFaultBook::default(),
            deliveries: Vec::new(),
        })
    }
}

/// An absolute `http` or `https` URL with a host, returned as given.
pub(crate) fn check_url(text: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(text).map_err(|_| format!("{text:?} is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{text:?} is not an http or https URL"));
    }
    Ok(text.to_owned())
}

/// `BankTransfersEventsUpdateWebhook`, in Plaid's field order.
#[derive(Serialize)]
struct EventsUpdateBody {
    webhook_type: &'static str,
    webhook_code: &'static str,
    environment: &'static str,
}

/// The exact bytes sent (and hashed): pretty JSON with 2-space indentation, as Plaid sends.
pub(crate) fn events_update_body() -> Vec<u8> {
    let body = EventsUpdateBody {
        webhook_type: "BANK_TRANSFERS",
        webhook_code: EVENTS_UPDATE,
        environment: "sandbox",
    };
    serde_json::to_vec_pretty(&body).unwrap_or_default()
}

/// The HTTP client deliveries use.
pub(crate) fn client() -> Result<reqwest::Client, SandboxError> {
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .map_err(|error| SandboxError::Setup(format!("cannot build the webhook client: {error}")))
}

/// One webhook, ready to go.
struct Job {
    url: String,
    key: SigningKey,
    fault: Option<WebhookFault>,
    code: String,
    item_id: Option<String>,
    body: Vec<u8>,
}

/// The dispatcher task; ends when the emulator shuts down.
pub(crate) async fn run(shared: Arc<Shared>, mut inbox: Inbox, client: reqwest::Client) {
    loop {
        let next = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            next = inbox.recv() => next,
        };
        let Some(next) = next else { break };
        let job = {
            let mut world = shared.world();
            let (url, code, item_id, body) = match next {
                Outgoing::EventsUpdated => (
                    world.webhooks.url.clone(),
                    EVENTS_UPDATE.to_owned(),
                    None,
                    events_update_body(),
                ),
                Outgoing::FireTo(url) => (
                    Some(url),
                    EVENTS_UPDATE.to_owned(),
                    None,
                    events_update_body(),
                ),
                Outgoing::Item {
                    url,
                    item_id,
                    code,
                    body,
                } => (
                    url.or_else(|| world.webhooks.url.clone()),
                    code.to_owned(),
                    Some(item_id),
                    body,
                ),
            };
            url.map(|url| Job {
                url,
                key: world.webhooks.keys.current().clone(),
                fault: world.webhooks.faults.take(),
                code,
                item_id,
                body,
            })
        };
        let Some(job) = job else { continue };
        let iat = shared.clock.now().timestamp();
        let shared = Arc::clone(&shared);
        let client = client.clone();
        tokio::spawn(async move {
            let stop = shared.shutdown.clone();
            tokio::select! {
                () = stop.cancelled() => {}
                () = deliver(&shared, &client, job, iat) => {}
            }
        });
    }
}

/// Signs now, waits out any delay, then POSTs (twice for a duplicate).
async fn deliver(shared: &Shared, client: &reqwest::Client, job: Job, iat: i64) {
    let body = job.body;
    let jwt = match job.key.sign(&body, iat) {
        Ok(jwt) => jwt,
        Err(error) => {
            tracing::error!(%error, "cannot sign a Plaid webhook; dropped");
            return;
        }
    };
    let fault = job.fault.unwrap_or(WebhookFault {
        times: 0,
        duplicate: false,
        delay: Duration::ZERO,
    });
    if !fault.delay.is_zero() {
        tokio::time::sleep(fault.delay).await;
    }
    let copies = if fault.duplicate { 2 } else { 1 };
    for _ in 0..copies {
        let outcome = client
            .post(&job.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(VERIFICATION_HEADER, &jwt)
            .body(body.clone())
            .send()
            .await;
        let (status, error) = match outcome {
            Ok(response) => {
                let status = response.status();
                let error =
                    (!status.is_success()).then(|| format!("the receiver answered {status}"));
                (Some(status.as_u16()), error)
            }
            Err(error) => (None, Some(error_chain(&error))),
        };
        match &error {
            Some(error) => {
                tracing::warn!(url = %job.url, %error, "Plaid webhook delivery failed; dropped");
            }
            None => tracing::debug!(url = %job.url, "Plaid webhook delivered"),
        }
        shared.world().webhooks.deliveries.push(WebhookDelivery {
            url: job.url.clone(),
            webhook_code: job.code.clone(),
            item_id: job.item_id.clone(),
            key_id: job.key.kid.clone(),
            status,
            error,
        });
    }
}

/// An error and its causes, `: `-separated (reqwest's own message is only the outer layer).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Deserialize)]
struct KeyGet {
    key_id: String,
}

#[derive(Deserialize)]
struct Fire {
    webhook: String,
}

fn invalid_key_id() -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
        "invalid key_id provided",
    )
}

pub(crate) async fn webhook_verification_key_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, KEY_GET, |shared, request: KeyGet| {
        let world = shared.world();
        let key = world
            .webhooks
            .keys
            .find(&request.key_id)
            .ok_or_else(invalid_key_id)?;
        Ok(json!({ "key": key.to_jwk() }))
    })
    .await
}

pub(crate) async fn sandbox_fire_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, FIRE, |shared, request: Fire| {
        let url = check_url(&request.webhook)
            .map_err(|error| PlaidError::invalid_field(format!("webhook: {error}")))?;
        shared.announce(Outgoing::FireTo(url));
        Ok(json!({}))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_plaids_pretty_printed_json_in_field_order() {
        let body = String::from_utf8(events_update_body()).unwrap();
        assert_eq!(
            body,
            "{\n  \"webhook_type\": \"BANK_TRANSFERS\",\n  \"webhook_code\": \"BANK_TRANSFERS_EVENTS_UPDATE\",\n  \"environment\": \"sandbox\"\n}"
        );
    }

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(check_url("http://127.0.0.1:9000/hooks").is_ok());
        assert!(check_url("https://example.com").is_ok());
        for bad in [
            "",
            "not a url",
            "ftp://example.com/x",
            "/relative",
            "mailto:a@b.c",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
