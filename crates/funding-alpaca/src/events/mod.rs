//! Alpaca's funding status stream, `GET /v2/events/funding/status` (SSE): one stream for ACH
//! relationship and transfer status changes. [`reader`] keeps it connected and resumable,
//! [`connection`] opens one connection, [`comments`] reads Alpaca's comment-line signals,
//! [`wire`] reads one event, [`recent`] remembers what was yielded.

pub(crate) mod comments;
pub(crate) mod connection;
mod reader;
mod recent;
pub(crate) mod wire;

pub(crate) use reader::funding_events;
