//! The follower of Alpaca's funding event stream. Exactly one replica reads the stream at a time:
//! it holds a lease on it in the store, renews it while reading, and gives it up on shutdown; the
//! others wait and take over when the lease runs out. What it reads is stored in the inbox, in
//! batches, in the same transaction that advances the cursor, so a restart or a takeover neither
//! skips nor loses an event; then the [`InboxApplier`] applies the pending events.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::inbox::InboxApplier;
use crate::links::BankLinks;
use crate::ports::{Broker, Clock, CursorStore, InboxStore, IncomingEvent, StoreError};
use crate::transfers::Transfers;

/// The cursor's and the lease's name in the store.
pub const FUNDING_STREAM: &str = "alpaca:funding_status";

const RETRY_PAUSE: Duration = Duration::from_secs(1);
const FATAL_PAUSE: Duration = Duration::from_secs(30);
/// Events stored in one transaction at most.
const BATCH: usize = 256;
/// How long the first event of a batch waits for more to join it. Alpaca's stream may hand over
/// one event at a time even when thousands are queued behind it; without this wait every event
/// cost two commits of its own (stored, then applied) and a burst was applied at a few hundred
/// events a second. A lone event is applied this much later, no more.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// With no stored cursor (a new deployment), reading starts this far back rather than live, so an
/// event emitted before the first connection is not missed; replayed events are no-ops.
const FIRST_READ_LOOKBACK: Duration = Duration::from_secs(3600);

/// Who follows, and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct FollowerSettings {
    /// This replica's name in the lease.
    pub owner: String,
    /// How long the lease lasts; it is renewed every third of it, and another replica takes over
    /// this long after a holder dies.
    pub lease: Duration,
    /// How often the reader looks for pending events it did not store itself (events the inbox
    /// sweep made pending, or another holder left): one indexed read.
    pub apply_interval: Duration,
}

pub struct FundingEventFollower {
    broker: Arc<dyn Broker>,
    applier: InboxApplier,
    cursors: Arc<dyn CursorStore>,
    clock: Arc<dyn Clock>,
    settings: FollowerSettings,
}

/// Why reading stopped.
enum Stop {
    /// Read again after this pause.
    Pause(Duration),
    /// Another replica holds the stream now.
    LostLease,
}

impl FundingEventFollower {
    pub fn new(
        broker: Arc<dyn Broker>,
        links: BankLinks,
        transfers: Option<Transfers>,
        inbox: Arc<dyn InboxStore>,
        cursors: Arc<dyn CursorStore>,
        clock: Arc<dyn Clock>,
        settings: FollowerSettings,
    ) -> Self {
        Self {
            broker,
            applier: InboxApplier {
                links,
                transfers,
                inbox,
            },
            cursors,
            clock,
            settings,
        }
    }

    /// Follows the stream, whenever this replica holds it, until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pause = tokio::select! {
                () = &mut shutdown => break,
                pause = self.turn() => pause,
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(error) = self
            .cursors
            .release_stream(FUNDING_STREAM, &self.settings.owner)
            .await
        {
            tracing::warn!("cannot release the funding stream: {error}");
        }
    }

    /// Takes the stream if it is free and reads it; returns how long to wait before trying again.
    async fn turn(&self) -> Duration {
        match self.claim().await {
            Ok(true) => {}
            Ok(false) => return self.settings.lease / 2,
            Err(error) => {
                tracing::warn!("cannot claim the funding stream: {error}");
                return RETRY_PAUSE;
            }
        }
        match self.follow_once().await {
            Stop::Pause(pause) => pause,
            Stop::LostLease => {
                tracing::warn!("another replica holds the funding stream now; stopped reading");
                self.settings.lease / 2
            }
        }
    }

    async fn claim(&self) -> Result<bool, StoreError> {
        self.cursors
            .claim_stream(FUNDING_STREAM, &self.settings.owner, self.settings.lease)
            .await
    }

    /// A ULID cursor that sorts before every event since `FIRST_READ_LOOKBACK` ago (event ids are
    /// ULIDs, ordered by time).
    fn first_cursor(&self) -> String {
        let start =
            self.clock.now() - chrono::Duration::from_std(FIRST_READ_LOOKBACK).unwrap_or_default();
        let millis = u64::try_from(start.timestamp_millis()).unwrap_or(0);
        ulid::Ulid::from_parts(millis, 0).to_string()
    }

    /// Reads the stream from the stored cursor into the inbox and applies it, until the stream
    /// ends, the inbox cannot be written, or the lease cannot be renewed.
    async fn follow_once(&self) -> Stop {
        let cursor = match self.cursors.load_cursor(FUNDING_STREAM).await {
            Ok(cursor) => cursor.unwrap_or_else(|| self.first_cursor()),
            Err(error) => {
                tracing::warn!("cannot read the funding stream cursor: {error}");
                return Stop::Pause(RETRY_PAUSE);
            }
        };
        tracing::info!(since = %cursor, owner = %self.settings.owner, "following Alpaca funding events");
        // Whatever an earlier holder stored but did not apply goes first.
        let mut more = self.applier.apply_pending().await;
        // The batch lives in the stream, not in `next()`'s future: the select below may drop that
        // future (a lease renewal, a look for pending events) without losing what was gathered.
        let events = tokio_stream::StreamExt::chunks_timeout(
            self.broker.funding_events(Some(cursor)),
            BATCH,
            BATCH_WINDOW,
        );
        let mut events = std::pin::pin!(events);
        let mut renew = tokio::time::interval(self.settings.lease / 3);
        renew.tick().await;
        let mut look = tokio::time::interval(self.settings.apply_interval);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        look.tick().await;
        loop {
            if more {
                look.reset_immediately();
            }
            let chunk = tokio::select! {
                chunk = events.next() => chunk,
                _ = renew.tick() => {
                    match self.claim().await {
                        Ok(true) => continue,
                        Ok(false) => return Stop::LostLease,
                        Err(error) => {
                            tracing::warn!("cannot renew the funding stream lease: {error}");
                            return Stop::Pause(RETRY_PAUSE);
                        }
                    }
                }
                _ = look.tick() => {
                    more = self.applier.apply_pending().await;
                    continue;
                }
            };
            more = false;
            let Some(chunk) = chunk else {
                return Stop::Pause(RETRY_PAUSE);
            };
            let mut batch: Vec<IncomingEvent> = Vec::with_capacity(chunk.len());
            let mut fatal = None;
            for item in chunk {
                match item {
                    Ok(event) => batch.push(event),
                    Err(error) => {
                        fatal = Some(error);
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                // The cursor moves to the last event that carries a stream id (readable ones do).
                let cursor = batch
                    .iter()
                    .rev()
                    .find_map(|event| event.event.as_ref().ok().map(|e| e.event_id.clone()));
                let last_at = batch
                    .iter()
                    .rev()
                    .find_map(|event| event.event.as_ref().ok().map(|e| e.at));
                let count = batch.len();
                let unreadable = batch.iter().filter(|event| event.event.is_err()).count();
                if unreadable > 0 {
                    metrics::counter!(
                        "funding_provider_events_unreadable_total",
                        "stream" => FUNDING_STREAM
                    )
                    .increment(unreadable as u64);
                }
                match self
                    .applier
                    .inbox
                    .store_events(FUNDING_STREAM, batch, cursor.as_deref())
                    .await
                {
                    Ok(new) => {
                        metrics::counter!("funding_inbox_stored_total", "stream" => FUNDING_STREAM)
                            .increment(new);
                        crate::observe::stream_advanced(FUNDING_STREAM, self.clock.now(), last_at);
                        tracing::debug!(count, new, "stored funding events");
                    }
                    Err(error) => {
                        tracing::warn!(
                            "cannot store funding events, will read them again: {error}"
                        );
                        return Stop::Pause(RETRY_PAUSE);
                    }
                }
                more = self.applier.apply_pending().await;
            }
            if let Some(error) = fatal {
                tracing::error!("the funding event stream stopped: {error}");
                return Stop::Pause(FATAL_PAUSE);
            }
        }
    }
}
