//! The follower of Alpaca's funding event stream. Exactly one replica reads the stream at a time: it
//! holds a lease on it in the store, renews it while reading, and gives it up on shutdown; the others
//! wait and take over when the lease runs out. The reader starts from the stored cursor, applies each
//! event, and stores the cursor after the event is applied, so a restart or a takeover neither skips
//! nor loses an event (a replayed one is a no-op).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::links::{BankLinks, EventOutcome};
use crate::ports::{Broker, Clock, CursorStore};

/// The cursor's and the lease's name in the store.
pub const FUNDING_STREAM: &str = "alpaca:funding_status";

const RETRY_PAUSE: Duration = Duration::from_secs(1);
const FATAL_PAUSE: Duration = Duration::from_secs(30);

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
}

pub struct FundingEventFollower {
    broker: Arc<dyn Broker>,
    links: BankLinks,
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
        cursors: Arc<dyn CursorStore>,
        clock: Arc<dyn Clock>,
        settings: FollowerSettings,
    ) -> Self {
        Self {
            broker,
            links,
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

    async fn claim(&self) -> Result<bool, crate::ports::StoreError> {
        let lease = chrono::Duration::from_std(self.settings.lease)
            .unwrap_or(chrono::Duration::seconds(15));
        self.cursors
            .claim_stream(
                FUNDING_STREAM,
                &self.settings.owner,
                self.clock.now() + lease,
            )
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

    /// Reads the stream from the stored cursor until it ends, an event cannot be applied, or the
    /// lease cannot be renewed.
    async fn follow_once(&self) -> Stop {
        let cursor = match self.cursors.load_cursor(FUNDING_STREAM).await {
            Ok(cursor) => cursor.unwrap_or_else(|| self.first_cursor()),
            Err(error) => {
                tracing::warn!("cannot read the funding stream cursor: {error}");
                return Stop::Pause(RETRY_PAUSE);
            }
        };
        tracing::info!(since = %cursor, owner = %self.settings.owner, "following Alpaca funding events");
        let mut events = self.broker.funding_events(Some(cursor));
        let mut renew = tokio::time::interval(self.settings.lease / 3);
        renew.tick().await;
        loop {
            let item = tokio::select! {
                item = events.next() => item,
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
            };
            let Some(item) = item else {
                return Stop::Pause(RETRY_PAUSE);
            };
            let event = match item {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!("the funding event stream stopped: {error}");
                    return Stop::Pause(FATAL_PAUSE);
                }
            };
            let outcome = self.links.apply_event(&event).await;
            let label = match &outcome {
                Ok(EventOutcome::Moved { .. }) => "moved",
                Ok(EventOutcome::Ignored(_)) => "ignored",
                Ok(EventOutcome::UnknownStatus(_)) => "unknown_status",
                Ok(EventOutcome::NoSuchLink) => "no_such_link",
                Ok(EventOutcome::NotMine) => "not_mine",
                Err(_) => "error",
            };
            metrics::counter!("funding_alpaca_events_total", "outcome" => label).increment(1);
            if let Err(error) = outcome {
                tracing::warn!(event_id = %event.event_id, "cannot apply funding event, will read it again: {error}");
                return Stop::Pause(RETRY_PAUSE);
            }
            if let Err(error) = self
                .cursors
                .save_cursor(FUNDING_STREAM, &event.event_id)
                .await
            {
                tracing::warn!(event_id = %event.event_id, "cannot store the funding stream cursor: {error}");
                return Stop::Pause(RETRY_PAUSE);
            }
        }
    }
}
