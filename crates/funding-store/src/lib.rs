//! Storage for the funding service: sea-orm entities and repositories implementing funding-core's
//! store ports ([`BankLinkStore`](funding_core::ports::BankLinkStore),
//! [`CursorStore`](funding_core::ports::CursorStore)) on SQLite (the embedded default) and PostgreSQL
//! (production, many replicas on one database).
//!
//! - [`Store`] opens the database, migrates it and answers health checks.
//! - [`Cipher`] seals Plaid tokens at rest, bound to their row and column.
//! - Every write that guards a promise is a unique constraint or a conditional update in one
//!   transaction, so that concurrent callers on any number of replicas stay correct.

mod bank_links;
mod cipher;
mod convert;
mod cursors;
mod database_url;
mod entity;
mod error;
mod store;

pub use cipher::{Cipher, CipherError};
pub use migration::{BANK_LINK_STATUSES, Migrator};
pub use store::Store;
