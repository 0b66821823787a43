//! Conversions between the table rows and the domain's records, one file per resource:
//! [`bank_link`], [`transfer`] and [`bank_transfer`]. A row is parsed back through the domain's
//! constructors, so a value the domain would refuse comes out as `Corrupt`, never as a record that
//! lies. Timestamps are stored at microsecond precision (PostgreSQL's), so that what is written is
//! exactly what is read back on every backend: [`db_time`], shared by every resource, lives here.

mod bank_link;
mod bank_transfer;
mod transfer;

use chrono::{DateTime, SubsecRound as _, Utc};

pub(crate) use bank_link::{history_row, new_link_row};
pub(crate) use bank_transfer::{
    bank_transfer_from_row, bank_transfer_history_row, bank_transfer_row, failure_columns,
    plaid_json, stored_direction,
};
pub(crate) use transfer::{direction_str, transfer_history_row, transfer_row};

/// A timestamp as the database keeps it.
pub(crate) fn db_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}
