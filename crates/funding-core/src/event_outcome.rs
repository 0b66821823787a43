//! What applying one of Alpaca's funding events did, for links and transfers alike: the followers
//! and the inbox record it (applied, parked, ignored) and the reconcilers count it.

use funding_domain::AchRelationshipStatus;

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// A link's status moved.
    Moved {
        from: AchRelationshipStatus,
        to: AchRelationshipStatus,
    },
    /// Nothing to do: a duplicate, a late or out-of-order event, or an event seen before.
    Ignored(&'static str),
    /// The status string is unknown to the service; the link kept its status.
    UnknownStatus(String),
    /// A transfer's status moved.
    MovedTransfer,
    /// No link (or transfer) holds this relationship (or Alpaca transfer) yet: the inbox parks the
    /// event until one does.
    NoSuchLink,
    /// Not a relationship event.
    NotMine,
}
