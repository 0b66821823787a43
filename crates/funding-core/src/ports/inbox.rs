//! The inbox: every provider event is stored under its provider event id before it is applied, in
//! the same transaction that advances the stream's cursor, so that no event is lost between reading
//! and applying, and none is applied twice. An event waits in the inbox until it is applied; one
//! whose subject is not known yet, or that failed to apply, is parked (with why) and the stream goes
//! on; one that cannot be read is kept raw. One parked for lack of a subject for longer than a grace
//! period is about a subject this service never made: it is classed foreign and no longer looked
//! for (storing that subject still brings it back). Applied events are pruned after a retention.

use std::time::Duration;

use async_trait::async_trait;

use super::{FundingEvent, StoreError};

/// Where an event stands in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxState {
    /// Stored, not applied yet.
    Pending,
    /// Applied (or found to change nothing).
    Applied,
    /// Its subject (a relationship, a transfer) is not stored yet; applied when it is.
    ParkedNoSubject,
    /// Applying it failed; kept with its error.
    ParkedError,
    /// No handler for its kind of subject yet; kept to be applied when one exists.
    Unhandled,
    /// It could not be read; kept raw.
    Unreadable,
    /// Parked for lack of a subject for longer than the grace period: about a subject this service
    /// never made (another system's relationship or transfer on the same provider account). No
    /// longer looked for by the sweep; storing its subject still makes it pending.
    Foreign,
}

impl InboxState {
    pub const ALL: [InboxState; 7] = [
        Self::Pending,
        Self::Applied,
        Self::ParkedNoSubject,
        Self::ParkedError,
        Self::Unhandled,
        Self::Unreadable,
        Self::Foreign,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::ParkedNoSubject => "parked_no_subject",
            Self::ParkedError => "parked_error",
            Self::Unhandled => "unhandled",
            Self::Unreadable => "unreadable",
            Self::Foreign => "foreign",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// One event as read from a provider's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingEvent {
    /// The provider's event id (the deduplication key); for an unreadable event without one, a
    /// digest of its bytes.
    pub event_id: String,
    /// The payload exactly as received.
    pub raw: String,
    /// The event, or why it could not be read.
    pub event: Result<FundingEvent, String>,
}

/// A stored event waiting to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEvent {
    pub stream: String,
    pub event_id: String,
    pub event: FundingEvent,
    /// Times it was tried.
    pub attempts: u32,
}

/// What applying one stored event did, recorded in the inbox ([`InboxStore::mark_event`], or in
/// the transaction that applies a batch of events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxMark {
    pub stream: String,
    pub event_id: String,
    pub state: InboxState,
    /// Why it is parked, for [`InboxState::ParkedError`].
    pub error: Option<String>,
}

/// Parked and waiting events, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxStats {
    pub by_state: Vec<(InboxState, u64)>,
}

#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// In one transaction: stores every event not stored before (by stream and event id) as
    /// pending (an unreadable one as unreadable), and moves the stream's cursor to `cursor` when
    /// given. Returns how many were new.
    async fn store_events(
        &self,
        stream: &str,
        events: Vec<IncomingEvent>,
        cursor: Option<&str>,
    ) -> Result<u64, StoreError>;

    /// Pending events of `stream`, in the order they were received (then by event id).
    async fn pending_events(&self, stream: &str, limit: u32)
    -> Result<Vec<InboxEvent>, StoreError>;

    /// Records what applying the event did; `error` for a parked one. A park for lack of a subject
    /// ([`InboxState::ParkedNoSubject`]) is not recorded when the subject has been stored since
    /// the applier looked: the event stays pending, to be applied at the next look.
    async fn mark_event(
        &self,
        stream: &str,
        event_id: &str,
        state: InboxState,
        error: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Makes the events parked for lack of a subject pending again where the subject is stored now,
    /// in one statement (a join, whatever the number of parked subjects). (Storing a subject unparks
    /// its events in the same transaction, and a park is refused once the subject is stored; this
    /// sweep brings back what a database written before that holds.) Returns how many.
    async fn unpark_known_subjects(&self) -> Result<u64, StoreError>;

    /// Classes `foreign` at most `limit` events parked for lack of a subject that were received
    /// more than `older_than` ago by the database's clock (one statement). Returns how many.
    async fn class_foreign(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError>;

    /// Deletes at most `limit` applied events applied more than `older_than` ago by the database's
    /// clock (one statement). Returns how many.
    async fn prune_applied(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError>;

    /// Counts by state of every event not applied, for metrics (one read of an index).
    async fn inbox_stats(&self) -> Result<InboxStats, StoreError>;
}
