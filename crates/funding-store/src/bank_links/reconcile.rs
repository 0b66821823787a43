//! The links the reconciler looks at: those with a relationship waiting on Alpaca (QUEUED, PENDING,
//! SENT_TO_CLEARING, CANCEL_REQUESTED, CANCEL_SENT) that have not moved since a given time, those
//! looked at least recently first, each marked as it is handed out (so every one comes in turn,
//! however many never resolve); what each look found, and the unresolved ones counted.

use chrono::{DateTime, Utc};
use funding_core::model::BankLink;
use funding_core::ports::{StoreError, Unresolved, UnresolvedCounts};
use funding_domain::{AchRelationshipStatus, BankLinkId};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, Select};

use crate::Store;
use crate::convert::db_time;
use crate::entity::bank_link::{Column, Entity};
use crate::reconcile::{self, Rotation};

const ROTATION: Rotation<Column> = Rotation {
    id: Column::Id,
    updated_at: Column::UpdatedAt,
    reconciled_at: Column::ReconciledAt,
    issue: Column::ReconcileIssue,
};

/// Links whose relationship waits on Alpaca.
fn waiting() -> Select<Entity> {
    use AchRelationshipStatus::*;
    let waiting = [Queued, Pending, SentToClearing, CancelRequested, CancelSent]
        .map(|status| status.as_str().to_owned());
    Entity::find()
        .filter(Column::Status.is_in(waiting))
        .filter(Column::AchRelationshipId.is_not_null())
}

pub(super) async fn links_to_reconcile(
    store: &Store,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankLink>, StoreError> {
    let due = waiting().filter(Column::UpdatedAt.lte(db_time(before)));
    reconcile::take(store, due, &ROTATION, limit, |row| row.id)
        .await?
        .into_iter()
        .map(BankLink::try_from)
        .collect()
}

/// The Item check's rotation: by when each link's Item was last read.
const ITEM_ROTATION: Rotation<Column> = Rotation {
    id: Column::Id,
    updated_at: Column::UpdatedAt,
    reconciled_at: Column::ItemCheckedAt,
    issue: Column::ReconcileIssue,
};

pub(super) async fn items_to_check(
    store: &Store,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<BankLink>, StoreError> {
    use funding_domain::BankLinkHealth::{Healthy, NeedsReauth};
    let before = db_time(before);
    let due = Entity::find()
        .filter(Column::Status.eq(AchRelationshipStatus::Approved.as_str()))
        .filter(Column::PlaidItemId.is_not_null())
        .filter(Column::AccessToken.is_not_null())
        .filter(Column::Health.is_in([Healthy.as_str(), NeedsReauth.as_str()]))
        .filter(
            sea_orm::Condition::any()
                .add(Column::ItemCheckedAt.is_null())
                .add(Column::ItemCheckedAt.lte(before)),
        );
    reconcile::take(store, due, &ITEM_ROTATION, limit, |row| row.id)
        .await?
        .into_iter()
        .map(BankLink::try_from)
        .collect()
}

pub(super) async fn record_link_checks(
    store: &Store,
    checks: &[(BankLinkId, Option<Unresolved>)],
) -> Result<(), StoreError> {
    let checks = checks.iter().map(|(id, issue)| (id.as_uuid(), *issue));
    reconcile::record::<Entity>(store, &ROTATION, checks).await
}

pub(super) async fn unresolved_links(store: &Store) -> Result<UnresolvedCounts, StoreError> {
    reconcile::count(store, waiting(), &ROTATION).await
}
