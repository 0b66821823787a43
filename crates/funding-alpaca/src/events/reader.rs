//! The funding event stream as the port wants it: it connects, yields events, and on any
//! interruption (disconnect, idle timeout, dropped messages, 429, 5xx) reconnects with exponential
//! backoff and jitter, resuming with `since_id` = the last event it yielded. The backoff starts over
//! after each successful connection. Ids already yielded (and the starting cursor) are skipped, so
//! the replay after a reconnect never yields an event twice. A refusal that retrying cannot fix
//! (401, 403, a bad cursor) ends the stream with one error.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use eventsource_stream::EventStreamError;
use funding_core::ports::{FundingEventStream, IncomingEvent, ProviderError};
use futures::StreamExt;
use tracing::Instrument;

use super::comments::Signal;
use super::connection::{ConnectFailure, Connection, Interruption};
use super::recent::{RecentIds, WINDOW};
use super::wire::{parse_event, status_is_known};
use crate::client::AlpacaClient;

/// The longest wait a 429 may impose on the stream.
const MAX_ASKED_WAIT: Duration = Duration::from_secs(300);

/// The stream of events after `since_event_id`.
pub(crate) fn funding_events(
    client: AlpacaClient,
    since_event_id: Option<String>,
) -> FundingEventStream {
    let span = tracing::info_span!(
        "funding_events",
        started_after = since_event_id.as_deref().unwrap_or("live")
    );
    let reader = Reader::new(client, since_event_id);
    futures::stream::unfold(reader, move |mut reader| {
        async move {
            let item = reader.next().await?;
            Some((item, reader))
        }
        .instrument(span.clone())
    })
    .boxed()
}

struct Reader {
    client: AlpacaClient,
    /// The last event id yielded (or the one the caller started from).
    cursor: Option<String>,
    recent: RecentIds,
    backoff: ExponentialBackoff,
    connection: Option<Connection>,
    /// Set when a reconnect is due: at least this long (a 429's `retry_after`), or the backoff's wait.
    reconnect_after: Option<Duration>,
    finished: bool,
}

impl Reader {
    fn new(client: AlpacaClient, since_event_id: Option<String>) -> Self {
        let mut recent = RecentIds::new(WINDOW);
        if let Some(cursor) = &since_event_id {
            recent.insert(cursor);
        }
        let backoff = backoff(&client);
        Self {
            client,
            cursor: since_event_id,
            recent,
            backoff,
            connection: None,
            reconnect_after: None,
            finished: false,
        }
    }

    /// The next event, the one fatal error, or `None` after it.
    async fn next(&mut self) -> Option<Result<IncomingEvent, ProviderError>> {
        loop {
            if self.finished {
                return None;
            }
            let Some(connection) = self.connection.as_mut() else {
                if let Err(error) = self.connect().await {
                    self.finished = true;
                    return Some(Err(error));
                }
                continue;
            };
            match connection.next().await {
                Some(Ok(message)) => {
                    if let Some(event) = self.accept(&message.id, &message.data) {
                        return Some(Ok(event));
                    }
                }
                Some(Err(EventStreamError::Transport(Interruption::Signal(Signal::DataLost(
                    comment,
                ))))) => {
                    tracing::warn!(
                        comment = %comment,
                        since_id = self.cursor.as_deref().unwrap_or(""),
                        "Alpaca dropped funding events; reconnecting from the last event id"
                    );
                    self.disconnect();
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "funding event stream interrupted; reconnecting");
                    self.disconnect();
                }
                None => {
                    tracing::info!("funding event stream closed by Alpaca; reconnecting");
                    self.disconnect();
                }
            }
        }
    }

    /// Waits if a reconnect is due, then tries once. `Err` only for a fatal refusal.
    async fn connect(&mut self) -> Result<(), ProviderError> {
        if let Some(asked) = self.reconnect_after.take() {
            let max = self.client.inner.stream.reconnect_max_delay;
            let delay = self
                .backoff
                .next()
                .unwrap_or(max)
                .max(asked.min(MAX_ASKED_WAIT));
            tracing::debug!(
                delay_ms = delay.as_millis() as u64,
                "waiting before reconnecting to the funding event stream"
            );
            tokio::time::sleep(delay).await;
        }
        match self
            .client
            .open_funding_stream(self.cursor.as_deref())
            .await
        {
            Ok(connection) => {
                tracing::info!(
                    since_id = self.cursor.as_deref().unwrap_or(""),
                    "connected to Alpaca's funding event stream"
                );
                self.connection = Some(connection);
                self.backoff = backoff(&self.client);
                Ok(())
            }
            Err(ConnectFailure::Retry(error)) => {
                tracing::warn!(kind = ?error.kind, code = %error.code, http_status = ?error.http_status, "funding event stream connection failed; retrying");
                self.reconnect_after = Some(error.retry_after.unwrap_or_default());
                Ok(())
            }
            Err(ConnectFailure::Fatal(error)) => {
                tracing::error!(kind = ?error.kind, code = %error.code, http_status = ?error.http_status, "funding event stream refused; giving up");
                Err(error)
            }
        }
    }

    fn disconnect(&mut self) {
        self.connection = None;
        self.reconnect_after = Some(Duration::ZERO);
    }

    /// The event in `data` with its raw payload, unless it was already yielded. An unreadable one
    /// is yielded too, to be kept: under its event id if it has one, else the SSE id, else a digest
    /// of its bytes.
    fn accept(&mut self, sse_id: &str, data: &str) -> Option<IncomingEvent> {
        let event = match parse_event(data) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(error = %error, bytes = data.len(), "a funding event cannot be read; it is kept raw");
                let event_id = unreadable_event_id(sse_id, data);
                if !self.recent.insert(&event_id) {
                    return None;
                }
                return Some(IncomingEvent {
                    event_id,
                    raw: data.to_owned(),
                    event: Err(error.to_string()),
                });
            }
        };
        if !self.recent.insert(&event.event_id) {
            tracing::debug!(event_id = %event.event_id, "skipping a funding event already yielded");
            return None;
        }
        if !status_is_known(&event) {
            tracing::warn!(
                event_id = %event.event_id,
                entity = ?event.entity,
                status = %event.status_to,
                "funding event with a status this service does not know; passed on as given"
            );
        }
        self.cursor = Some(event.event_id.clone());
        Some(IncomingEvent {
            event_id: event.event_id.clone(),
            raw: data.to_owned(),
            event: Ok(event),
        })
    }
}

/// The key an unreadable event is kept under: its `event_id` if one can be read from it, else the
/// SSE `id:`, else a digest of the payload (so the same bytes are kept once).
fn unreadable_event_id(sse_id: &str, data: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|value| value.get("event_id")?.as_str().map(str::to_owned))
        .filter(|id| !id.is_empty() && id.len() <= 64);
    if let Some(id) = from_json {
        return format!("unreadable:{id}");
    }
    if !sse_id.is_empty() && sse_id.len() <= 64 {
        return format!("unreadable:{sse_id}");
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    format!("unreadable:{:016x}-{}", hasher.finish(), data.len())
}

fn backoff(client: &AlpacaClient) -> ExponentialBackoff {
    let policy = client.inner.stream;
    ExponentialBuilder::default()
        .with_min_delay(policy.reconnect_base_delay)
        .with_max_delay(policy.reconnect_max_delay)
        .without_max_times()
        .with_jitter()
        .build()
}
