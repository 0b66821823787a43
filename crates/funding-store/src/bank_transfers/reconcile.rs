//! The bank transfers the reconciler looks at: those Plaid knows (a Plaid id is stored) that are
//! PENDING there and have not moved since a given time, those looked at least recently first, each
//! marked as it is handed out (so every one comes in turn, however many never resolve); what each
//! look found, and the unresolved ones counted.

use chrono::{DateTime, Utc};
use funding_core::model::BankTransfer;
use funding_core::ports::{StoreError, Unresolved, UnresolvedCounts};
use funding_domain::{BankTransferId, PlaidBankTransferStatus};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, Select};

use crate::Store;
use crate::convert::db_time;
use crate::entity::bank_transfer::{Column, Entity};
use crate::reconcile::{self, Rotation};

const ROTATION: Rotation<Column> = Rotation {
    id: Column::Id,
    updated_at: Column::UpdatedAt,
    reconciled_at: Column::ReconciledAt,
    issue: Column::ReconcileIssue,
};

/// Bank transfers Plaid knows that are pending there.
fn in_flight() -> Select<Entity> {
    Entity::find()
        .filter(Column::Status.eq(PlaidBankTransferStatus::Pending.as_str()))
        .filter(Column::PlaidBankTransferId.is_not_null())
}

pub(super) async fn bank_transfers_to_reconcile(
    store: &Store,
    cutoff: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankTransfer>, StoreError> {
    let due = in_flight().filter(Column::UpdatedAt.lt(db_time(cutoff)));
    let rows = reconcile::take(store, due, &ROTATION, limit, |row| row.id).await?;
    super::read::records(store, rows)
}

pub(super) async fn record_bank_transfer_checks(
    store: &Store,
    checks: &[(BankTransferId, Option<Unresolved>)],
) -> Result<(), StoreError> {
    let checks = checks.iter().map(|(id, issue)| (id.as_uuid(), *issue));
    reconcile::record::<Entity>(store, &ROTATION, checks).await
}

pub(super) async fn unresolved_bank_transfers(
    store: &Store,
) -> Result<UnresolvedCounts, StoreError> {
    reconcile::count(store, in_flight(), &ROTATION).await
}
