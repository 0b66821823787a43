//! What the reconciler's three queries share (transfers, bank transfers, bank links): a rotation
//! through the due rows, least recently looked at first, each row marked when it is handed out
//! (`reconciled_at`), so that a pass never takes again what the last ones took while others wait,
//! and two replicas never take the same rows (PostgreSQL: an advisory lock per table around the
//! take, and `FOR UPDATE SKIP LOCKED` past rows being moved); what each look
//! found (`reconcile_issue`); and the unresolved ones counted by reason.

use std::collections::BTreeMap;

use funding_core::ports::{StoreError, Unresolved, UnresolvedCounts};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, LockBehavior, LockType, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait as _, DatabaseBackend, EntityTrait, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Select,
};
use uuid::Uuid;

use crate::Store;
use crate::convert::db_time;
use crate::error::from_db;

/// Ids per `IN (…)` list.
const CHUNK: usize = 500;

/// The columns of a table the reconciler rotates through.
pub(crate) struct Rotation<C> {
    pub id: C,
    pub updated_at: C,
    pub reconciled_at: C,
    pub issue: C,
}

/// In one write transaction: up to `limit` rows of `due` (the query of what is due, filtered),
/// those looked at least recently first (never, then longest ago; oldest change, then id, among
/// equals), each marked as looked at now. On PostgreSQL takes of one table run one at a time
/// across replicas (an advisory lock), so replicas taking at once get different rows, and rows
/// another transaction holds (a status move) are skipped rather than waited for.
pub(crate) async fn take<E>(
    store: &Store,
    due: Select<E>,
    columns: &Rotation<E::Column>,
    limit: u32,
    id_of: impl Fn(&E::Model) -> Uuid,
) -> Result<Vec<E::Model>, StoreError>
where
    E: EntityTrait,
{
    let now = db_time(store.clock.now());
    let (_permit, txn) = store.begin_write().await?;
    // Takes of one table run one at a time (PostgreSQL). `SKIP LOCKED` alone is not enough: a
    // take whose snapshot predates another's commit still sees that take's rows unmarked, and the
    // lock it then gets on them (the other has committed) re-checks only the filter, not the
    // rotation's order, so both would hand out the same rows. The lock is taken in its own
    // statement, so the select's snapshot sees every earlier take's marks.
    crate::sql::lock_for_transaction(
        &txn,
        &format!("funding:reconcile_take:{}", E::default().table_name()),
    )
    .await?;
    let mut query = due
        .order_by_with_nulls(columns.reconciled_at, Order::Asc, NullOrdering::First)
        .order_by_asc(columns.updated_at)
        .order_by_asc(columns.id)
        .limit(u64::from(limit));
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = query.all(&txn).await.map_err(from_db)?;
    let ids: Vec<Uuid> = rows.iter().map(id_of).collect();
    for chunk in ids.chunks(CHUNK) {
        E::update_many()
            .col_expr(columns.reconciled_at, Expr::value(now))
            .filter(columns.id.is_in(chunk.iter().copied()))
            .exec(&txn)
            .await
            .map_err(from_db)?;
    }
    txn.commit().await.map_err(from_db)?;
    Ok(rows)
}

/// Stores what each look found: the reason a row is still unresolved, or NULL.
pub(crate) async fn record<E>(
    store: &Store,
    columns: &Rotation<E::Column>,
    checks: impl IntoIterator<Item = (Uuid, Option<Unresolved>)>,
) -> Result<(), StoreError>
where
    E: EntityTrait,
{
    let mut by_issue: BTreeMap<Option<Unresolved>, Vec<Uuid>> = BTreeMap::new();
    for (id, issue) in checks {
        by_issue.entry(issue).or_default().push(id);
    }
    if by_issue.is_empty() {
        return Ok(());
    }
    let (_permit, txn) = store.begin_write().await?;
    for (issue, ids) in by_issue {
        for chunk in ids.chunks(CHUNK) {
            E::update_many()
                .col_expr(
                    columns.issue,
                    Expr::value(issue.map(|issue| issue.as_str().to_owned())),
                )
                .filter(columns.id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await
                .map_err(from_db)?;
        }
    }
    txn.commit().await.map_err(from_db)
}

/// Of the rows of `in_flight`, those whose last look left them unresolved and that have not moved
/// since (a move after the look makes what it found stale), counted by reason.
pub(crate) async fn count<E>(
    store: &Store,
    in_flight: Select<E>,
    columns: &Rotation<E::Column>,
) -> Result<UnresolvedCounts, StoreError>
where
    E: EntityTrait,
{
    let rows: Vec<(String, i64)> = in_flight
        .select_only()
        .column(columns.issue)
        .column_as(Expr::from(Func::count(columns.id.into_expr())), "n")
        .filter(columns.issue.is_not_null())
        .filter(
            columns
                .reconciled_at
                .into_expr()
                .gte(columns.updated_at.into_expr()),
        )
        .group_by(columns.issue)
        .into_tuple()
        .all(&store.db)
        .await
        .map_err(from_db)?;
    let mut counts = rows
        .into_iter()
        .map(|(issue, n)| {
            let reason = Unresolved::parse(&issue)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown reconcile_issue {issue:?}")))?;
            Ok((reason, u64::try_from(n).unwrap_or(0)))
        })
        .collect::<Result<UnresolvedCounts, StoreError>>()?;
    counts.sort();
    Ok(counts)
}
