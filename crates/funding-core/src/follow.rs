//! The follower of Alpaca's funding event stream: reads from the stored cursor, applies each event,
//! and stores the cursor after the event is applied, so a restart neither skips nor loses an event
//! (a replayed one is a no-op). It runs until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::links::BankLinks;
use crate::ports::{Broker, Clock, CursorStore};

/// The cursor's name in the store.
pub const FUNDING_STREAM: &str = "alpaca:funding_status";

const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// With no stored cursor (a new deployment), reading starts this far back rather than live, so an
/// event emitted before the first connection is not missed; replayed events are no-ops.
const FIRST_READ_LOOKBACK: Duration = Duration::from_secs(3600);
const FATAL_PAUSE: Duration = Duration::from_secs(30);

pub struct FundingEventFollower {
    broker: Arc<dyn Broker>,
    links: BankLinks,
    cursors: Arc<dyn CursorStore>,
    clock: Arc<dyn Clock>,
}

impl FundingEventFollower {
    pub fn new(
        broker: Arc<dyn Broker>,
        links: BankLinks,
        cursors: Arc<dyn CursorStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            broker,
            links,
            cursors,
            clock,
        }
    }

    /// A ULID cursor that sorts before every event since `FIRST_READ_LOOKBACK` ago (event ids are
    /// ULIDs, ordered by time).
    fn first_cursor(&self) -> String {
        let start =
            self.clock.now() - chrono::Duration::from_std(FIRST_READ_LOOKBACK).unwrap_or_default();
        let millis = u64::try_from(start.timestamp_millis()).unwrap_or(0);
        ulid::Ulid::from_parts(millis, 0).to_string()
    }

    /// Follows the stream until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                pause = self.follow_once() => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    /// Reads the stream from the stored cursor until it ends or an event cannot be applied; returns how
    /// long to wait before reading again.
    async fn follow_once(&self) -> Duration {
        let cursor = match self.cursors.load_cursor(FUNDING_STREAM).await {
            Ok(cursor) => cursor.unwrap_or_else(|| self.first_cursor()),
            Err(error) => {
                tracing::warn!("cannot read the funding stream cursor: {error}");
                return RETRY_PAUSE;
            }
        };
        tracing::info!(since = %cursor, "following Alpaca funding events");
        let mut events = self.broker.funding_events(Some(cursor));
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!("the funding event stream stopped: {error}");
                    return FATAL_PAUSE;
                }
            };
            let outcome = self.links.apply_event(&event).await;
            let label = match &outcome {
                Ok(crate::links::EventOutcome::Moved { .. }) => "moved",
                Ok(crate::links::EventOutcome::Ignored(_)) => "ignored",
                Ok(crate::links::EventOutcome::UnknownStatus(_)) => "unknown_status",
                Ok(crate::links::EventOutcome::NoSuchLink) => "no_such_link",
                Ok(crate::links::EventOutcome::NotMine) => "not_mine",
                Err(_) => "error",
            };
            metrics::counter!("funding_alpaca_events_total", "outcome" => label).increment(1);
            if let Err(error) = outcome {
                tracing::warn!(event_id = %event.event_id, "cannot apply funding event, will read it again: {error}");
                return RETRY_PAUSE;
            }
            if let Err(error) = self
                .cursors
                .save_cursor(FUNDING_STREAM, &event.event_id)
                .await
            {
                tracing::warn!(event_id = %event.event_id, "cannot store the funding stream cursor: {error}");
                return RETRY_PAUSE;
            }
        }
        RETRY_PAUSE
    }
}
