//! The transfers the reconciler looks at: those Alpaca knows (a provider id is stored) that are in
//! flight there (QUEUED, APPROVAL_PENDING, PENDING, SENT_TO_CLEARING, APPROVED) and have not moved
//! since a given time, those looked at least recently first, each marked as it is handed out (so
//! every one comes in turn, however many never resolve); then a few of the COMPLETE ones that have
//! not moved since then but completed within the ACH return window, since COMPLETE is provisional:
//! a RETURNED whose event the stream never delivered must still reach them. What each look found is
//! recorded, and the unresolved ones counted.

use chrono::{DateTime, Utc};
use funding_core::model::Transfer;
use funding_core::ports::{StoreError, Unresolved, UnresolvedCounts};
use funding_domain::{AccountId, AlpacaTransferStatus, TransferId};
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::transfer::{Column, Entity};
use crate::error::from_db;
use crate::reconcile::{self, Rotation};

const ROTATION: Rotation<Column> = Rotation {
    id: Column::Id,
    updated_at: Column::UpdatedAt,
    reconciled_at: Column::ReconciledAt,
    issue: Column::ReconcileIssue,
};

/// Transfers Alpaca knows that are in flight there.
fn in_flight() -> Select<Entity> {
    use AlpacaTransferStatus::*;
    let in_flight = [Queued, ApprovalPending, Pending, SentToClearing, Approved]
        .map(|status| status.as_str().to_owned());
    Entity::find()
        .filter(Column::Status.is_in(in_flight))
        .filter(Column::ProviderTransferId.is_not_null())
}

pub(super) async fn transfers_to_reconcile(
    store: &Store,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Transfer>, StoreError> {
    use AlpacaTransferStatus::*;
    let due = in_flight().filter(Column::UpdatedAt.lte(db_time(before)));
    let mut rows = reconcile::take(store, due, &ROTATION, limit, |row| row.id).await?;
    // Then COMPLETE ones still open to a return, a few a sweep, walking the window in
    // (`updated_at`, id) order from where the last sweep stopped and starting over at its end:
    // every one is looked at once a walk, none is looked at again before the others, and each
    // step is a range of the (status, updated_at) index.
    let take = u64::from((limit / 4).max(1));
    let window = || {
        Entity::find()
            .filter(Column::Status.eq(Complete.as_str()))
            .filter(Column::ProviderTransferId.is_not_null())
            .filter(Column::UpdatedAt.lte(db_time(before)))
            .filter(Column::UpdatedAt.gte(db_time(before - RETURN_WINDOW)))
            .order_by_asc(Column::UpdatedAt)
            .order_by_asc(Column::Id)
    };
    let walked_to = store
        .completed_walk
        .lock()
        .map(|walk| *walk)
        .unwrap_or_default();
    let mut complete = match walked_to {
        Some((at, id)) => window()
            .filter(
                Condition::any().add(Column::UpdatedAt.gt(at)).add(
                    Condition::all()
                        .add(Column::UpdatedAt.eq(at))
                        .add(Column::Id.gt(id)),
                ),
            )
            .limit(take)
            .all(&store.db)
            .await
            .map_err(from_db)?,
        None => Vec::new(),
    };
    let walk_ended = (complete.len() as u64) < take;
    if walk_ended {
        // From the start of the window again (what was just read is not read twice).
        let seen: Vec<_> = complete.iter().map(|row| row.id).collect();
        let again = window()
            .limit(take - complete.len() as u64)
            .all(&store.db)
            .await
            .map_err(from_db)?;
        complete.extend(again.into_iter().filter(|row| !seen.contains(&row.id)));
    }
    if let Ok(mut walk) = store.completed_walk.lock() {
        *walk = complete.last().map(|row| (row.updated_at, row.id));
    }
    rows.extend(complete);
    rows.into_iter().map(Transfer::try_from).collect()
}

/// How long after COMPLETE an ACH return may still come (R10 and its kin: 60 days).
const RETURN_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(60);

pub(super) async fn account_transfers_to_reconcile(
    store: &Store,
    accounts: &[AccountId],
    before: DateTime<Utc>,
) -> Result<Vec<Transfer>, StoreError> {
    let mut rows = Vec::new();
    for chunk in accounts.chunks(ACCOUNTS_PER_TAKE) {
        let due = in_flight()
            .filter(Column::AccountId.is_in(chunk.iter().map(|account| account.as_uuid())))
            .filter(Column::UpdatedAt.lte(db_time(before)));
        rows.extend(reconcile::take(store, due, &ROTATION, u32::MAX, |row| row.id).await?);
    }
    rows.into_iter().map(Transfer::try_from).collect()
}

/// Accounts per statement of [`account_transfers_to_reconcile`].
const ACCOUNTS_PER_TAKE: usize = 500;

pub(super) async fn record_transfer_checks(
    store: &Store,
    checks: &[(TransferId, Option<Unresolved>)],
) -> Result<(), StoreError> {
    let checks = checks.iter().map(|(id, issue)| (id.as_uuid(), *issue));
    reconcile::record::<Entity>(store, &ROTATION, checks).await
}

pub(super) async fn unresolved_transfers(store: &Store) -> Result<UnresolvedCounts, StoreError> {
    reconcile::count(store, in_flight(), &ROTATION).await
}
