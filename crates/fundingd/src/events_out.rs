//! Events out (DESIGN §9): the publisher of the transactional outbox to NATS JetStream, with
//! `nats_url` set. Every status-history entry of a link, a transfer or a bank transfer has an outbox
//! row written in the transaction of the change; this task reads the unpublished rows oldest first
//! (a batch at a time, woken every `nats_poll_interval_ms`), publishes each on
//! `<prefix>.<resource>.<status>` (`funding.v1.transfer.complete`) with the header `Nats-Msg-Id` =
//! the row's id, awaits JetStream's acknowledgement, then marks the row published. A crash between
//! the acknowledgement and the mark republishes the row under the same id, which JetStream drops
//! as a duplicate (within the stream's duplicate window, 2 minutes by default).
//!
//! Several replicas may run it at once: no row is claimed, so two replicas may publish the same
//! row, and JetStream keeps one (the id is the deduplication key). Each replica publishes in the
//! rows' order and stops its batch at the first failure, so a resource's changes reach the stream
//! in the order of its history.
//!
//! The payload: the resource's `funding.v1` protobuf message (BankLink, Transfer, BankTransfer;
//! prost; `Content-Type: application/protobuf`), or JSON with `nats_payload = "json"`, built from
//! the resource as stored with the row's status and time. The header `Funding-Resource-Id` names
//! the resource.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use funding_core::ports::{
    BankLinkStore, BankTransferStore, OutboxEntry, OutboxResource, OutboxStore, StoreError,
    TransferStore,
};
use funding_domain::{
    AchRelationshipStatus, AlpacaTransferStatus, BankLinkId, BankTransferId,
    PlaidBankTransferStatus, TransferId,
};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

/// The client the publisher uses, for the tests' consumers.
pub use async_nats;

/// Rows published per poll.
const BATCH: u32 = 100;
/// How long a failed connection, stream creation or publish waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How often published rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per statement.
const PRUNE_BATCH: u32 = 1000;

/// Where and how the outbox is published.
#[derive(Debug, Clone)]
pub struct EventsOutSettings {
    pub url: String,
    /// `funding.v1`: subjects are `<prefix>.<resource>.<status>`.
    pub subject_prefix: String,
    /// The stream created (if missing) on `<prefix>.>`.
    pub stream: String,
    pub poll_interval: Duration,
    /// Published rows older than this are deleted (a batch at a time, once a minute).
    pub retention: Duration,
    /// Links and transfers as JSON rather than protobuf (`nats_payload = "json"`).
    pub json: bool,
}

/// The subject of a change: `<prefix>.<resource>.<status>`.
pub fn subject(prefix: &str, resource: OutboxResource, status: &str) -> String {
    format!("{prefix}.{}.{status}", resource.as_str())
}

/// The publisher and what it reads the resources from.
pub struct EventsOut {
    pub settings: EventsOutSettings,
    pub outbox: Arc<dyn OutboxStore>,
    pub links: Arc<dyn BankLinkStore>,
    pub transfers: Arc<dyn TransferStore>,
    pub bank_transfers: Arc<dyn BankTransferStore>,
    /// Accounts' frozen state (a freeze's message).
    pub risk: Arc<dyn funding_core::ports::RiskStore>,
}

impl EventsOut {
    /// Publishes until `shutdown`, reconnecting as needed.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(context) = self.connect(&shutdown).await else {
            return;
        };
        let mut ticks: u32 = 0;
        let mut pruned_at: Option<std::time::Instant> = None;
        loop {
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(std::time::Instant::now());
                self.prune().await;
            }
            let (published, full) = match self.publish_batch(&context).await {
                Ok(done) => done,
                Err(error) => {
                    // NATS away, the stream deleted, the database busy: the batch is retried
                    // (from its first unmarked row, so nothing is reordered) after a pause.
                    tracing::warn!("the outbox publisher failed a batch, retrying: {error}");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RETRY) => {}
                    }
                    if let Err(error) = self.ensure_stream(&context).await {
                        tracing::warn!("{error}");
                    }
                    continue;
                }
            };
            if published > 0 || ticks.is_multiple_of(25) {
                self.refresh_gauge().await;
            }
            ticks = ticks.wrapping_add(1);
            if full {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Deletes the rows published longer than `retention` ago, a batch at a time.
    async fn prune(&self) {
        let Ok(retention) = chrono::Duration::from_std(self.settings.retention) else {
            return;
        };
        let before = chrono::Utc::now() - retention;
        loop {
            match self.outbox.prune_outbox(before, PRUNE_BATCH).await {
                Ok(deleted) if deleted >= u64::from(PRUNE_BATCH) => continue,
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::debug!(deleted, "published outbox rows pruned");
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!("pruning the outbox failed (retried later): {error}");
                    return;
                }
            }
        }
    }

    /// Connects and makes sure the stream exists; `None` when shut down first.
    async fn connect(&self, shutdown: &CancellationToken) -> Option<jetstream::Context> {
        let settings = &self.settings;
        loop {
            let attempt = async {
                let client = async_nats::connect(settings.url.as_str())
                    .await
                    .map_err(|e| format!("cannot connect to NATS at {}: {e}", settings.url))?;
                let context = jetstream::new(client);
                self.ensure_stream(&context).await?;
                Ok::<_, String>(context)
            };
            match attempt.await {
                Ok(context) => {
                    tracing::info!(
                        stream = %settings.stream,
                        "publishing status changes to NATS JetStream on {}.>",
                        settings.subject_prefix
                    );
                    return Some(context);
                }
                Err(error) => tracing::warn!("{error}; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Creates the stream on `<prefix>.>` unless it exists (an existing one is left as it is).
    async fn ensure_stream(&self, context: &jetstream::Context) -> Result<(), String> {
        let settings = &self.settings;
        context
            .get_or_create_stream(jetstream::stream::Config {
                name: settings.stream.clone(),
                subjects: vec![format!("{}.>", settings.subject_prefix)],
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot create the stream {}: {e}", settings.stream))
    }

    /// Publishes one batch in order, stopping at the first failure: (rows published, whether
    /// the batch was full and more may wait).
    async fn publish_batch(&self, context: &jetstream::Context) -> Result<(u32, bool), String> {
        let rows = self
            .outbox
            .unpublished_outbox(BATCH)
            .await
            .map_err(|e| format!("cannot read the outbox: {e}"))?;
        let full = rows.len() == BATCH as usize;
        let mut published = 0;
        for row in rows {
            let (payload, content_type) = self
                .payload(&row)
                .await
                .map_err(|e| format!("cannot build the message of outbox row {}: {e}", row.id))?;
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", row.id.as_str());
            headers.insert("Content-Type", content_type);
            headers.insert("Funding-Resource-Id", row.resource_id.to_string().as_str());
            let subject = subject(&self.settings.subject_prefix, row.resource, &row.status);
            let ack = context
                .publish_with_headers(subject.clone(), headers, payload)
                .await
                .map_err(|e| format!("cannot publish outbox row {} on {subject}: {e}", row.id))?
                .await
                .map_err(|e| format!("no acknowledgement of outbox row {}: {e}", row.id))?;
            if ack.duplicate {
                tracing::debug!(id = %row.id, "JetStream already had this change");
            }
            self.outbox
                .mark_outbox_published(&row.id, chrono::Utc::now())
                .await
                .map_err(|e| format!("cannot mark outbox row {} published: {e}", row.id))?;
            metrics::counter!("funding_outbox_published_total", "resource" => row.resource.as_str())
                .increment(1);
            published += 1;
        }
        Ok((published, full))
    }

    async fn refresh_gauge(&self) {
        if let Ok(pending) = self.outbox.outbox_pending().await {
            metrics::gauge!("funding_outbox_pending").set(pending as f64);
        }
    }

    /// The message of a row: the resource as stored, with the row's status and time.
    async fn payload(&self, row: &OutboxEntry) -> Result<(Bytes, &'static str), StoreError> {
        let at = row.created_at;
        let stored = row.status.to_ascii_uppercase();
        match row.resource {
            OutboxResource::BankLink => {
                let id = BankLinkId::from_uuid(row.resource_id);
                let mut link = self
                    .links
                    .get_link(id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("bank link {id}")))?;
                link.status = AchRelationshipStatus::from_stored(&stored);
                link.updated_at = at;
                let message = funding_grpc::convert::bank_link(&link);
                if self.settings.json {
                    return Ok(json(serde_json::json!({
                        "id": message.id,
                        "account_id": message.account_id,
                        "status": row.status,
                        "status_reason": message.status_reason,
                        "ach_relationship_id": message.ach_relationship_id,
                        "nickname": message.nickname,
                        "health": message.health().as_str_name(),
                        "health_reason": message.health_reason,
                        "plaid_account_id": message.plaid_account_id,
                        "bank_account_type": message.bank_account_type,
                        "bank_account_mask": message.bank_account_mask,
                        "created_at": link.created_at.to_rfc3339(),
                        "updated_at": at.to_rfc3339(),
                    })));
                }
                Ok((message.encode_to_vec().into(), "application/protobuf"))
            }
            OutboxResource::Transfer => {
                let id = TransferId::from_uuid(row.resource_id);
                let mut transfer = self
                    .transfers
                    .get_transfer(id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                transfer.status = AlpacaTransferStatus::from_stored(&stored);
                transfer.updated_at = at;
                let message = funding_grpc::convert::transfer(&transfer);
                if self.settings.json {
                    return Ok(json(serde_json::json!({
                        "id": message.id,
                        "account_id": message.account_id,
                        "bank_link_id": message.bank_link_id,
                        "amount": message.amount,
                        "direction": message.direction().as_str_name(),
                        "status": row.status,
                        "status_reason": message.status_reason,
                        "ach_return_code": message.ach_return_code,
                        "ach_return_description": message.ach_return_description,
                        "provider_transfer_id": message.provider_transfer_id,
                        "created_at": transfer.created_at.to_rfc3339(),
                        "updated_at": at.to_rfc3339(),
                    })));
                }
                Ok((message.encode_to_vec().into(), "application/protobuf"))
            }
            OutboxResource::BankTransfer => {
                let id = BankTransferId::from_uuid(row.resource_id);
                let mut transfer = self
                    .bank_transfers
                    .get_bank_transfer(id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("bank transfer {id}")))?;
                transfer.status = PlaidBankTransferStatus::from_stored(&row.status);
                transfer.updated_at = at;
                let message = funding_grpc::bank_transfer_convert::bank_transfer(&transfer);
                if self.settings.json {
                    let request = &transfer.request;
                    return Ok(json(serde_json::json!({
                        "id": message.id,
                        "status": row.status,
                        "provider_bank_transfer_id": message.provider_bank_transfer_id,
                        "type": request.transfer_type().as_str(),
                        "network": request.network().as_str(),
                        "amount": message.amount,
                        "description": message.description,
                        "cancellable": message.cancellable,
                        "status_reason": message.status_reason,
                        "failure_code": message.failure_code,
                        "ach_return_code": message.failure_reason.as_ref().map(|f| f.ach_return_code.clone()),
                        "created_at": transfer.created_at.to_rfc3339(),
                        "updated_at": at.to_rfc3339(),
                    })));
                }
                Ok((message.encode_to_vec().into(), "application/protobuf"))
            }
            OutboxResource::Account => {
                let account_id = funding_domain::AccountId::from_uuid(row.resource_id);
                let controls = self.risk.account_controls(account_id).await?;
                // The row's status says what happened; the freeze's reason is the account's now
                // (a later unfreeze leaves none).
                let frozen = row.status == "frozen";
                let freeze = controls.frozen.filter(|_| frozen);
                let message = funding_client::v1::GetAccountFundingResponse {
                    account_id: account_id.to_string(),
                    frozen,
                    frozen_reason: freeze
                        .as_ref()
                        .map(|f| f.reason.clone())
                        .unwrap_or_default(),
                    frozen_by: freeze.as_ref().map(|f| f.by.clone()).unwrap_or_default(),
                    frozen_at: freeze
                        .as_ref()
                        .map(|f| funding_grpc::convert::timestamp(f.at)),
                    ..Default::default()
                };
                if self.settings.json {
                    return Ok(json(serde_json::json!({
                        "id": message.account_id,
                        "account_id": message.account_id,
                        "status": row.status,
                        "frozen": frozen,
                        "frozen_reason": message.frozen_reason,
                        "frozen_by": message.frozen_by,
                        "at": at.to_rfc3339(),
                    })));
                }
                Ok((message.encode_to_vec().into(), "application/protobuf"))
            }
        }
    }
}

fn json(value: serde_json::Value) -> (Bytes, &'static str) {
    (value.to_string().into(), "application/json")
}
