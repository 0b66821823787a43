//! The sea-orm entities: one file per table, each a plain mirror of its row. They stay inside this
//! crate; conversions to and from the domain's records live in [`crate::convert`].

pub mod bank_link;
pub mod bank_link_status_history;
pub mod bank_transfer;
pub mod bank_transfer_status_history;
pub mod idempotency_record;
pub mod provider_orphan;
pub mod stream_cursor;
pub mod stream_lease;
pub mod transfer;
pub mod transfer_status_history;
