//! The Plaid webhook listener (`--webhook-listen`): `POST /plaid/webhook`. Every webhook is verified
//! as Plaid documents (ES256 JWT in `Plaid-Verification`, its key fetched by `kid`, `iat` at most
//! five minutes old, the body's SHA-256) before anything happens; one that fails gets 401 and
//! changes nothing, and the answer never says why (the log and the metric do). A verified
//! `BANK_TRANSFERS_EVENTS_UPDATE` asks for a sync of Plaid's bank-transfer events at once (one
//! syncer per replica; a burst of webhooks makes one more sync, not one each); the answer does not
//! wait for it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use funding_core::BankLinks;
use funding_core::bank_transfers::BankTransfers;
use funding_plaid::webhook::WebhookVerifier;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The path Plaid is configured to send to.
pub const WEBHOOK_PATH: &str = "/plaid/webhook";

/// Plaid's webhook bodies are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
struct Receiver {
    verifier: Arc<WebhookVerifier>,
    /// Asks the syncer for a sync; webhooks that arrive while one runs make one more, not one each.
    sync: Arc<tokio::sync::Notify>,
    /// Item webhooks move the links' health.
    links: BankLinks,
}

/// Serves the webhook endpoint until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    verifier: Arc<WebhookVerifier>,
    transfers: BankTransfers,
    links: BankLinks,
    shutdown: CancellationToken,
) {
    let sync = Arc::new(tokio::sync::Notify::new());
    let syncer_stop = shutdown.child_token();
    let syncer = tokio::spawn(sync_on_request(
        transfers,
        sync.clone(),
        syncer_stop.clone(),
    ));
    let app = Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Receiver {
            verifier,
            sync,
            links,
        });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!("the webhook listener failed: {error}");
    }
    syncer_stop.cancel();
    let _ = syncer.await;
}

/// Syncs once per request; requests made while a sync runs are coalesced into the next one.
async fn sync_on_request(
    transfers: BankTransfers,
    requested: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = requested.notified() => {}
        }
        match transfers.sync().await {
            Ok(report) => tracing::info!(
                stored = report.stored,
                applied = report.applied,
                cursor = report.cursor,
                "synced Plaid's bank-transfer events on a webhook"
            ),
            Err(error) => tracing::warn!(
                "the sync a webhook asked for failed (the periodic sync will catch up): {error}"
            ),
        }
    }
}

#[derive(serde::Deserialize)]
struct Webhook {
    webhook_type: String,
    webhook_code: String,
    /// `ITEM` webhooks.
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    error: Option<WebhookError>,
}

#[derive(serde::Deserialize)]
struct WebhookError {
    #[serde(default)]
    error_code: Option<String>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verification = headers
        .get("plaid-verification")
        .and_then(|value| value.to_str().ok());
    if let Err(rejection) = receiver.verifier.verify(verification, &body).await {
        tracing::warn!(
            reason = rejection.as_str(),
            "refused a Plaid webhook: {rejection}"
        );
        metrics::counter!("funding_webhooks_total", "outcome" => "refused", "reason" => rejection.as_str()).increment(1);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(webhook) = serde_json::from_slice::<Webhook>(&body) else {
        tracing::warn!(
            bytes = body.len(),
            "a verified Plaid webhook has no webhook_type/webhook_code; ignored"
        );
        metrics::counter!("funding_webhooks_total", "outcome" => "unreadable", "reason" => "")
            .increment(1);
        return StatusCode::OK;
    };
    if webhook.webhook_type == "BANK_TRANSFERS"
        && webhook.webhook_code == "BANK_TRANSFERS_EVENTS_UPDATE"
    {
        metrics::counter!("funding_webhooks_total", "outcome" => "sync", "reason" => "")
            .increment(1);
        receiver.sync.notify_one();
    } else if webhook.webhook_type == "ITEM"
        && let Some(item_id) = webhook.item_id.as_deref()
    {
        let error_code = webhook
            .error
            .as_ref()
            .and_then(|error| error.error_code.as_deref());
        match receiver
            .links
            .apply_item_webhook(item_id, &webhook.webhook_code, error_code, &body)
            .await
        {
            Ok(moved) => {
                metrics::counter!("funding_webhooks_total", "outcome" => "item", "reason" => "")
                    .increment(1);
                tracing::info!(webhook_code = %webhook.webhook_code, moved, "applied an ITEM webhook");
            }
            Err(error) => {
                // Plaid retries a webhook that is not acknowledged.
                tracing::warn!("cannot apply an ITEM webhook now: {error}");
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    } else {
        tracing::info!(webhook_type = %webhook.webhook_type, webhook_code = %webhook.webhook_code, "a Plaid webhook this service does not act on");
        metrics::counter!("funding_webhooks_total", "outcome" => "ignored", "reason" => "")
            .increment(1);
    }
    StatusCode::OK
}
