//! The funding event log behind `/v2/events/funding/status`: every status change of an ACH
//! relationship or a transfer becomes one `StatusFundingEvent` with a monotonic ULID. Events are
//! appended and broadcast under the same lock, so a subscriber that snapshots the log and
//! subscribes in one critical section sees every event exactly once (replay, then live).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use ulid::Ulid;
use uuid::Uuid;

use crate::control::faults::{EventFault, EventFaultBook};
use crate::ids::alpaca_timestamp;

/// Alpaca's correspondent code used for every event.
pub(crate) const CORRESPONDENT: &str = "LPCA";
/// How many live events a slow subscriber may fall behind before it is told it lost data.
const LIVE_BUFFER: usize = 4096;

/// The kind of entity an event is about (`entity_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntityType {
    BankRelationship,
    Transfer,
}

impl EntityType {
    fn as_str(self) -> &'static str {
        match self {
            EntityType::BankRelationship => "BankRelationship",
            EntityType::Transfer => "Transfer",
        }
    }
}

/// One stored event: its id and time for cursor queries, and its JSON as sent on the wire.
#[derive(Debug)]
pub(crate) struct FundingEvent {
    pub id: Ulid,
    pub at: DateTime<Utc>,
    pub json: String,
}

/// What a live subscriber receives.
#[derive(Clone, Debug)]
pub(crate) enum StreamItem {
    Event(Arc<FundingEvent>),
    /// An event sent again or late by an [`EventFault`]: delivered even though a newer one (or
    /// itself) was already sent on this stream.
    Again(Arc<FundingEvent>),
    /// An event an [`EventFault`] drops from the live stream; `last` closes the rule's run, after
    /// which the stream says how many it dropped.
    Dropped {
        event: Arc<FundingEvent>,
        last: bool,
    },
    /// Control asked every open stream to close (`/_sandbox/streams/disconnect`).
    Disconnect,
}

/// The wire shape of `StatusFundingEvent` (keys in Alpaca's alphabetical order).
#[derive(Serialize)]
struct WireEvent<'a> {
    account_id: Uuid,
    at: String,
    correspondent: &'static str,
    entity_id: Uuid,
    entity_type: &'static str,
    event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_from: Option<&'a str>,
    status_to: &'a str,
}

/// A status change to record.
pub(crate) struct Change<'a> {
    pub account_id: Uuid,
    pub entity_id: Uuid,
    pub entity_type: EntityType,
    pub status_from: Option<&'a str>,
    pub status_to: &'a str,
    pub reason: Option<&'a str>,
}

/// Ordered log of every event plus the live fan-out.
#[derive(Debug)]
pub(crate) struct EventLog {
    events: Vec<Arc<FundingEvent>>,
    last_id: Option<Ulid>,
    live: broadcast::Sender<StreamItem>,
    /// Duplicate or late delivery of the next live events (fault injection).
    pub(crate) faults: EventFaultBook,
}

impl Default for EventLog {
    fn default() -> Self {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Self {
            events: Vec::new(),
            last_id: None,
            live,
            faults: EventFaultBook::default(),
        }
    }
}

impl EventLog {
    /// Appends the change and broadcasts it.
    pub(crate) fn emit(&mut self, at: DateTime<Utc>, change: Change<'_>) -> Arc<FundingEvent> {
        let id = self.next_id(at);
        let wire = WireEvent {
            account_id: change.account_id,
            at: alpaca_timestamp(at),
            correspondent: CORRESPONDENT,
            entity_id: change.entity_id,
            entity_type: change.entity_type.as_str(),
            event_id: id.to_string(),
            reason: change.reason,
            status_from: change.status_from,
            status_to: change.status_to,
        };
        let json = serde_json::to_string(&wire).unwrap_or_default();
        let event = Arc::new(FundingEvent { id, at, json });
        self.events.push(Arc::clone(&event));
        self.broadcast(&event);
        tracing::debug!(event_id = %id, status_to = change.status_to, "funding event");
        event
    }

    /// Appends an event whose payload is `raw` exactly (fault injection: a payload the reader
    /// cannot parse), under the next id, and broadcasts it. Line breaks are replaced by spaces so
    /// that it stays one `data:` line.
    pub(crate) fn emit_raw(&mut self, at: DateTime<Utc>, raw: &str) -> Arc<FundingEvent> {
        let id = self.next_id(at);
        let json = raw.replace(['\r', '\n'], " ");
        let event = Arc::new(FundingEvent { id, at, json });
        self.events.push(Arc::clone(&event));
        self.broadcast(&event);
        event
    }

    /// Sends a new event to the live subscribers, as the first event rule (if any) says: at once,
    /// or `delay` late (after the events emitted meanwhile), once or twice, or not at all.
    fn broadcast(&mut self, event: &Arc<FundingEvent>) {
        // No receiver is not an error: nobody is listening right now.
        let Some(EventFault {
            duplicate,
            delay,
            drop,
            times: left,
        }) = self.faults.take()
        else {
            let _ = self.live.send(StreamItem::Event(Arc::clone(event)));
            return;
        };
        if drop {
            let _ = self.live.send(StreamItem::Dropped {
                event: Arc::clone(event),
                last: left == 0,
            });
            tracing::debug!(event_id = %event.id, "funding event dropped from the live stream");
            return;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        match runtime {
            Some(runtime) if !delay.is_zero() => {
                let live = self.live.clone();
                let event = Arc::clone(event);
                runtime.spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = live.send(StreamItem::Again(Arc::clone(&event)));
                    if duplicate {
                        let _ = live.send(StreamItem::Again(event));
                    }
                });
            }
            _ => {
                let _ = self.live.send(StreamItem::Event(Arc::clone(event)));
                if duplicate {
                    let _ = self.live.send(StreamItem::Again(Arc::clone(event)));
                }
            }
        }
        tracing::debug!(event_id = %event.id, duplicate, ?delay, "funding event faulted");
    }

    /// Asks every open stream to close.
    pub(crate) fn disconnect_all(&self) {
        let _ = self.live.send(StreamItem::Disconnect);
    }

    /// Every stored event matching `keep`, in order, plus a receiver for everything after them.
    pub(crate) fn replay_and_subscribe(
        &self,
        keep: impl Fn(&FundingEvent) -> bool,
    ) -> (Vec<Arc<FundingEvent>>, broadcast::Receiver<StreamItem>) {
        let replay = self
            .events
            .iter()
            .filter(|event| keep(event))
            .cloned()
            .collect();
        (replay, self.live.subscribe())
    }

    /// Id of the newest event, if any.
    pub(crate) fn last_id(&self) -> Option<Ulid> {
        self.last_id
    }

    /// Every stored event (for inspection).
    pub(crate) fn all(&self) -> &[Arc<FundingEvent>] {
        &self.events
    }

    fn next_id(&mut self, at: DateTime<Utc>) -> Ulid {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(millis);
        let fresh = Ulid::from_datetime(time);
        let id = match self.last_id {
            Some(last) if fresh <= last => last
                .increment()
                .unwrap_or_else(|| Ulid::from_datetime(time + Duration::from_millis(1))),
            _ => fresh,
        };
        self.last_id = Some(id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(status_to: &str) -> Change<'_> {
        Change {
            account_id: Uuid::nil(),
            entity_id: Uuid::nil(),
            entity_type: EntityType::Transfer,
            status_from: None,
            status_to,
            reason: None,
        }
    }

    #[test]
    fn ids_increase_even_within_one_millisecond() {
        let mut log = EventLog::default();
        let at = Utc::now();
        let ids: Vec<Ulid> = (0..50).map(|_| log.emit(at, change("QUEUED")).id).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn the_first_event_has_no_status_from_and_no_reason() {
        let mut log = EventLog::default();
        let event = log.emit(Utc::now(), change("QUEUED"));
        let value: serde_json::Value = serde_json::from_str(&event.json).unwrap();
        assert!(value.get("status_from").is_none());
        assert!(value.get("reason").is_none());
        assert_eq!(value["correspondent"], "LPCA");
        assert_eq!(value["entity_type"], "Transfer");
    }
}
