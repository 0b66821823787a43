//! The followers of the providers' event streams: Alpaca's funding events (`alpaca.rs`, the reader;
//! `inbox.rs`, the inbox's applier) and Plaid's bank-transfer event sync (`plaid.rs`).
//!
//! Exactly one replica reads a stream at a time: it holds a lease on it in the store, renews it
//! while reading, and gives it up on shutdown; the others wait and take over when the lease runs
//! out.
//!
//! Alpaca's reader stores what it reads in the inbox, in batches, in the same transaction that
//! advances the cursor, so a restart or a takeover neither skips nor loses an event; then the
//! applier applies the pending events in order, dispatched by `entity_type`. An event whose link is
//! not stored yet is parked and applied once it is; one that fails to apply is parked with its
//! error; neither stops the events after it. The inbox's upkeep (unparking, classing foreign
//! events, pruning, gauges) is not done here but by the
//! [`InboxSweeper`](crate::inbox_sweep::InboxSweeper), on its own timer: the reader only looks for
//! pending events now and then, one indexed read, to apply what the sweep made pending.
//!
//! Plaid's follower only runs the sync of [`BankTransfers`](crate::bank_transfers::BankTransfers)
//! on time and when woken; reading, storing and applying Plaid's events live in `bank_transfers/`.

mod alpaca;
mod inbox;
mod plaid;

pub use alpaca::{FUNDING_STREAM, FollowerSettings, FundingEventFollower};
pub use plaid::BankTransferSyncFollower;
