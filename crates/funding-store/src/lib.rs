//! Storage for the funding service: sea-orm entities and repositories implementing funding-core's
//! store ports ([`BankLinkStore`](funding_core::ports::BankLinkStore),
//! [`TransferStore`](funding_core::ports::TransferStore),
//! [`BankTransferStore`](funding_core::ports::BankTransferStore),
//! [`WorkQueue`](funding_core::ports::WorkQueue), [`InboxStore`](funding_core::ports::InboxStore),
//! [`CursorStore`](funding_core::ports::CursorStore)) on SQLite (the embedded default) and PostgreSQL
//! (production, many replicas on one database).
//!
//! - [`Store`] opens the database, migrates it and answers health checks.
//! - [`Store::check_deployment`] keeps a database to the mode it was created in (sandbox or real
//!   providers).
//! - [`Cipher`] seals Plaid tokens at rest (a link's, a bank transfer's processor token), bound to
//!   their row and column, under a key id; [`Store::rotate_key`] moves them to a new key.
//! - Every write that guards a promise is a unique constraint or a conditional update in one
//!   transaction, so that concurrent callers on any number of replicas stay correct.

mod bank_links;
mod bank_transfers;
mod cipher;
mod convert;
mod cursors;
mod database_url;
mod deployment;
mod entity;
mod error;
mod idempotency;
mod inbox;
mod orphans;
mod outbox;
mod reconcile;
mod risk;
mod rotate;
mod sql;
mod sqlite_reads;
mod store;
mod transfers;
mod work;

pub use cipher::{Cipher, CipherError};
pub use deployment::{DeploymentError, DeploymentMode, ProviderHosts};
pub use migration::{
    BANK_LINK_STATUSES, BANK_TRANSFER_STATUSES, BANK_TRANSFER_STATUSES_WITH_REVIEW, INBOX_STATES,
    INBOX_STATES_WITH_FOREIGN, Migrator, RECONCILE_ISSUES, REVIEW_STATES, TRANSFER_STATUSES,
    TRANSFER_STATUSES_WITH_REVIEW, WORK_KINDS, WORK_KINDS_WITH_RETURNS,
};
pub use rotate::{DEFAULT_ROTATION_BATCH, RotationProgress, RotationReport};
pub use sqlite_reads::CallerThreadReads;
pub use store::Store;
