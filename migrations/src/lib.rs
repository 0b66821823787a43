//! The funding service's database schema, as sea-orm migrations that run unchanged on SQLite (the
//! embedded default) and PostgreSQL (production). Every invariant the code relies on is also a
//! constraint here: NOT NULL, UNIQUE, CHECK on statuses, foreign keys. One migration file per table
//! group; a change to the schema is a new migration, never an edit of an applied one.

mod m20260101_000001_create_bank_links;
mod m20260101_000002_create_idempotency_records;
mod m20260101_000003_create_stream_cursors;
mod m20261121_000004_create_stream_leases;
mod m20261201_000005_create_deployment;
mod m20261201_000006_create_engine;
mod m20261201_000007_create_transfers;
mod m20261201_000008_create_transfer_changes;
mod m20261201_000009_order_work_by_sequence;
mod m20261201_000010_create_bank_transfers;
mod m20261201_000011_create_outbox;
mod m20261206_000012_create_provider_orphans;
mod m20261206_000013_reconcile_rotation;
mod m20261206_000014_inbox_foreign_and_pruning;
mod m20261206_000015_scope_plaid_idempotency_keys;
mod m20261206_000016_work_error_codes;
mod m20261206_000017_bank_link_health;
mod m20261206_000018_bank_link_replacement;
mod m20261206_000019_risk_controls;
mod m20261207_000020_number_changes_after_commit;

use sea_orm_migration::prelude::async_trait;
pub use sea_orm_migration::prelude::{MigrationTrait, MigratorTrait};

/// The statuses the `bank_links.status` CHECK accepts, as `AchRelationshipStatus::as_str` writes
/// them. Frozen with the migration that created the check: a new status needs a new migration (the
/// store's tests compare this list with the domain's).
pub const BANK_LINK_STATUSES: &[&str] = &[
    "QUEUED",
    "PENDING",
    "SENT_TO_CLEARING",
    "APPROVED",
    "REJECTED",
    "CANCEL_REQUESTED",
    "CANCEL_SENT",
    "CANCEL_FAILED",
    "CANCELED",
    "CREATING",
    "FAILED",
];

/// The statuses the `transfers.status` CHECK accepts, as `AlpacaTransferStatus::as_str` writes
/// them (Alpaca's, then this service's own). Frozen with the migration that created the check: a new
/// status needs a new migration (the store's tests compare this list with the domain's).
pub const TRANSFER_STATUSES: &[&str] = &[
    "QUEUED",
    "APPROVAL_PENDING",
    "PENDING",
    "SENT_TO_CLEARING",
    "APPROVED",
    "COMPLETE",
    "RETURNED",
    "REJECTED",
    "CANCELED",
    "EXPIRED",
    "SUBMITTING",
    "FAILED",
];

/// [`TRANSFER_STATUSES`] and `PENDING_REVIEW` (a transfer held for review), as migration 000019
/// admits them. A new status needs a new migration.
pub const TRANSFER_STATUSES_WITH_REVIEW: &[&str] = &[
    "QUEUED",
    "APPROVAL_PENDING",
    "PENDING",
    "SENT_TO_CLEARING",
    "APPROVED",
    "COMPLETE",
    "RETURNED",
    "REJECTED",
    "CANCELED",
    "EXPIRED",
    "SUBMITTING",
    "FAILED",
    "PENDING_REVIEW",
];

/// The statuses the `bank_transfers.status` CHECK accepts, as `PlaidBankTransferStatus::as_str`
/// writes them (Plaid's, then this service's own). Frozen with the migration that created the
/// check: a new status needs a new migration (the store's tests compare this list with the
/// domain's).
pub const BANK_TRANSFER_STATUSES: &[&str] = &[
    "pending",
    "posted",
    "cancelled",
    "failed",
    "reversed",
    "submitting",
    "refused",
];

/// [`BANK_TRANSFER_STATUSES`] and `pending_review` (a bank transfer held for review), as migration
/// 000019 admits them. A new status needs a new migration.
pub const BANK_TRANSFER_STATUSES_WITH_REVIEW: &[&str] = &[
    "pending",
    "posted",
    "cancelled",
    "failed",
    "reversed",
    "submitting",
    "refused",
    "pending_review",
];

/// The kinds of work the `work_items.kind` CHECK accepts, as `WorkKind::as_str` writes them (the
/// store's tests compare this list with the core's).
pub const WORK_KINDS: &[&str] = &[
    "link_create",
    "link_delete",
    "plaid_item_remove",
    "transfer_submit",
    "transfer_cancel",
    "bank_transfer_submit",
    "bank_transfer_cancel",
];

/// [`WORK_KINDS`] and `transfer_returned` (what an ACH return does to the link and the account), as
/// migration 000019 admits them.
pub const WORK_KINDS_WITH_RETURNS: &[&str] = &[
    "link_create",
    "link_delete",
    "plaid_item_remove",
    "transfer_submit",
    "transfer_cancel",
    "bank_transfer_submit",
    "bank_transfer_cancel",
    "transfer_returned",
];

/// The states the `inbox_events.state` CHECK accepted when migration 000006 created it. Frozen with
/// that migration; [`INBOX_STATES_WITH_FOREIGN`] is what the CHECK accepts now.
pub const INBOX_STATES: &[&str] = &[
    "pending",
    "applied",
    "parked_no_subject",
    "parked_error",
    "unhandled",
    "unreadable",
];

pub use m20261206_000017_bank_link_health::BANK_LINK_HEALTHS;
pub use m20261206_000019_risk_controls::REVIEW_STATES;

/// What the `reconcile_issue` CHECKs (transfers, bank transfers, bank links) accept, as the core's
/// `Unresolved::as_str` writes them: why the reconciler's last look left a resource unresolved.
pub const RECONCILE_ISSUES: &[&str] = &["unchanged", "missing", "lookup_failed", "unknown_status"];

/// The states the `inbox_events.state` CHECK accepts since migration 000014, as
/// `InboxState::as_str` writes them (the store's tests compare this list with the core's). Frozen
/// with that migration: a new state needs a new migration.
pub const INBOX_STATES_WITH_FOREIGN: &[&str] = &[
    "pending",
    "applied",
    "parked_no_subject",
    "parked_error",
    "unhandled",
    "unreadable",
    "foreign",
];

/// All the migrations, in the order they apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_bank_links::Migration),
            Box::new(m20260101_000002_create_idempotency_records::Migration),
            Box::new(m20260101_000003_create_stream_cursors::Migration),
            Box::new(m20261121_000004_create_stream_leases::Migration),
            Box::new(m20261201_000005_create_deployment::Migration),
            Box::new(m20261201_000006_create_engine::Migration),
            Box::new(m20261201_000007_create_transfers::Migration),
            Box::new(m20261201_000008_create_transfer_changes::Migration),
            Box::new(m20261201_000009_order_work_by_sequence::Migration),
            Box::new(m20261201_000010_create_bank_transfers::Migration),
            Box::new(m20261201_000011_create_outbox::Migration),
            Box::new(m20261206_000012_create_provider_orphans::Migration),
            Box::new(m20261206_000013_reconcile_rotation::Migration),
            Box::new(m20261206_000014_inbox_foreign_and_pruning::Migration),
            Box::new(m20261206_000015_scope_plaid_idempotency_keys::Migration),
            Box::new(m20261206_000016_work_error_codes::Migration),
            Box::new(m20261206_000017_bank_link_health::Migration),
            Box::new(m20261206_000018_bank_link_replacement::Migration),
            Box::new(m20261206_000019_risk_controls::Migration),
            Box::new(m20261207_000020_number_changes_after_commit::Migration),
        ]
    }
}
