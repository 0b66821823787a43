//! [`WorkQueue`] on a [`Store`]: the `work_items` table. A claim sets the owner, an expiry measured
//! by the database's clock, and the next generation, in one conditional statement; on PostgreSQL the
//! candidates are locked with `FOR UPDATE SKIP LOCKED`, so concurrent claimers on any number of
//! replicas take different work without waiting on each other. Every later write — renewing,
//! settling, and the resource writes of [`fence`] — is conditioned on the owner and generation (and,
//! for writes that carry the work's results, on the lease not having run out).

use std::time::Duration;

use async_trait::async_trait;
use funding_core::model::RiskDecision;
use funding_core::ports::{
    Claim, ClaimedWork, FastStart, NewWork, StoreError, WorkKind, WorkQueue, WorkStats, WorkWaiting,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Value};
use uuid::Uuid;

use crate::Store;
use crate::error::{corrupt, from_db};
use crate::sql::statement;

const RETURNING: &str =
    "RETURNING id, kind, subject_id, generation, attempts, max_attempts, last_error";

/// Only the oldest pending work of an ordering key may be claimed. "Oldest" is `order_seq`, which
/// [`insert_work`] draws so that a smaller number is always committed before a larger one: the
/// check can never miss older work that is still being committed.
const HEAD_OF_ITS_ORDER: &str = "NOT EXISTS (SELECT 1 FROM work_items AS o \
     WHERE o.ordering_key = c.ordering_key AND o.state = 'pending' AND o.order_seq < c.order_seq)";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The head of a work row's insert, up to its `VALUES`.
const INSERT_WORK: &str = "INSERT INTO work_items (id, kind, subject_id, ordering_key, state, \
     attempts, max_attempts, due_at_ms, generation, created_at_ms, updated_at_ms, order_seq) VALUES";
/// A work inserted again: pending again from now, unless it is pending already.
const WORK_AGAIN: &str = "ON CONFLICT (kind, subject_id) DO UPDATE SET state = 'pending', \
     attempts = 0, due_at_ms = {now_ms}, last_error = NULL, updated_at_ms = {now_ms}, \
     order_seq = excluded.order_seq WHERE work_items.state <> 'pending'";

/// Writes `work` in the caller's transaction (no-op if work of that kind for that subject exists
/// and is pending; ended work is made pending again, at the back of its order).
///
/// Its `order_seq` is one more than its ordering key's highest. On PostgreSQL a transaction-scoped
/// advisory lock on the key is taken first, in its own statement (so the insert's snapshot is taken
/// after the lock is granted and sees every earlier holder's commit), and held until the caller
/// commits: numbers of one key are drawn and committed one transaction at a time. SQLite has one
/// writer at a time already.
pub(crate) async fn insert_work(
    db: &impl ConnectionTrait,
    work: &NewWork,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    if let Some(key) = &work.ordering_key {
        crate::sql::lock_for_transaction(db, key).await?;
    }
    let sql = format!(
        "{INSERT_WORK} ($1, $2, $3, $4, 'pending', 0, $5, {{now_ms}}, 0, {{now_ms}}, {{now_ms}}, \
         (SELECT COALESCE(MAX(k.order_seq), 0) + 1 FROM work_items AS k WHERE k.ordering_key = $4)) \
         {WORK_AGAIN}"
    );
    db.execute_raw(statement(
        backend,
        &sql,
        [
            Uuid::now_v7().into(),
            work.kind.as_str().into(),
            work.subject_id.into(),
            work.ordering_key.clone().into(),
            i32::try_from(work.max_attempts).unwrap_or(i32::MAX).into(),
        ],
    ))
    .await
    .map_err(from_db)?;
    Ok(())
}

/// In the caller's transaction: [`insert_work`] for each of `works`, the ones without an ordering
/// key by one statement per hundred (the same row each, the same conflict rule); the same work
/// (kind and subject) named twice is inserted once.
pub(crate) async fn insert_works(
    db: &impl ConnectionTrait,
    works: &[NewWork],
) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(works.len());
    let mut unordered = Vec::with_capacity(works.len());
    for work in works {
        if !seen.insert((work.kind.as_str(), work.subject_id)) {
            continue;
        }
        if work.ordering_key.is_some() {
            insert_work(db, work).await?;
        } else {
            unordered.push(work);
        }
    }
    for chunk in unordered.chunks(100) {
        let rows = (0..chunk.len())
            .map(|row| {
                let n = row * 4;
                format!(
                    "(${}, ${}, ${}, NULL, 'pending', 0, ${}, {{now_ms}}, 0, {{now_ms}}, {{now_ms}}, 1)",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("{INSERT_WORK} {rows} {WORK_AGAIN}");
        let values = chunk.iter().flat_map(|work| {
            [
                Uuid::now_v7().into(),
                work.kind.as_str().into(),
                work.subject_id.into(),
                i32::try_from(work.max_attempts).unwrap_or(i32::MAX).into(),
            ]
        });
        db.execute_raw(statement(db.get_database_backend(), &sql, values))
            .await
            .map_err(from_db)?;
    }
    Ok(())
}

/// In the caller's transaction: refuses with `Fenced` unless `claim` is still held and its lease
/// has not run out. Touching the row also orders this transaction after any concurrent claim of it.
pub(crate) async fn fence(db: &impl ConnectionTrait, claim: &Claim) -> Result<(), StoreError> {
    let sql = "UPDATE work_items SET updated_at_ms = {now_ms} \
         WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending' \
         AND claim_until_ms > {now_ms}";
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            sql,
            [
                claim.work_id.into(),
                claim.generation.into(),
                claim.owner.clone().into(),
            ],
        ))
        .await
        .map_err(from_db)?;
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced(format!(
            "work {} generation {}",
            claim.work_id, claim.generation
        )))
    }
}

/// The claim of one piece of work by kind and subject, when it is due and heads its order.
fn claim_one_sql() -> String {
    format!(
        "UPDATE work_items SET claim_owner = $1, claim_until_ms = {{now_ms}} + $2, \
         generation = generation + 1, attempts = attempts + 1, updated_at_ms = {{now_ms}} \
         WHERE id IN (SELECT c.id FROM work_items AS c WHERE c.kind = $3 AND c.subject_id = $4 \
         AND c.state = 'pending' AND c.due_at_ms <= {{now_ms}} \
         AND (c.claim_until_ms IS NULL OR c.claim_until_ms <= {{now_ms}}) AND {HEAD_OF_ITS_ORDER} \
         {{skip_locked}}) {RETURNING}"
    )
}

fn claim_one_values(kind: WorkKind, subject_id: Uuid, owner: &str, lease: Duration) -> Vec<Value> {
    vec![
        owner.into(),
        millis(lease).into(),
        kind.as_str().into(),
        subject_id.into(),
    ]
}

/// [`WorkQueue::claim`] in the caller's transaction: the work just written by [`insert_work`] in
/// it, claimed for `owner` when no older work of its ordering key is pending. (On PostgreSQL the
/// key's advisory lock, taken by [`insert_work`], is still held: no other work of the key is
/// written meanwhile.)
pub(crate) async fn claim_in(
    db: &impl ConnectionTrait,
    kind: WorkKind,
    subject_id: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<Option<ClaimedWork>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &claim_one_sql(),
            claim_one_values(kind, subject_id, owner, lease),
        ))
        .await
        .map_err(from_db)?;
    rows.first().map(|row| claimed(row, owner)).transpose()
}

/// The request mark a create's first commit stores on its row with the claim (its time as the
/// database keeps it, and the checks' decision encoded).
pub(crate) struct RequestMark {
    pub at: chrono::DateTime<chrono::Utc>,
    pub decision: Option<String>,
}

/// The fast path's part of a create's first commit, in the caller's transaction right after
/// [`insert_work`] wrote `work`: the work claimed for `start.owner` when it heads its order
/// ([`claim_in`]), and only with that claim the request mark of `start.send`, for the caller to
/// store on the resource's row before inserting it.
pub(crate) async fn claim_for_start(
    db: &impl ConnectionTrait,
    work: &NewWork,
    start: Option<FastStart>,
) -> Result<(Option<ClaimedWork>, Option<RequestMark>), StoreError> {
    let Some(start) = start else {
        return Ok((None, None));
    };
    let claimed = claim_in(db, work.kind, work.subject_id, &start.owner, start.lease).await?;
    let mark = claimed
        .as_ref()
        .and(start.send)
        .map(|(at, decision)| RequestMark {
            at: crate::convert::db_time(at),
            decision: decision.as_ref().map(RiskDecision::encode),
        });
    Ok((claimed, mark))
}

const FINISH: &str = "UPDATE work_items SET state = 'done', claim_owner = NULL, claim_until_ms = NULL, \
     last_error = NULL, updated_at_ms = {now_ms} \
     WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending'";

/// [`WorkQueue::finish`] in the caller's transaction (which stores the work's result): refuses
/// with `Fenced` unless the claim was still held.
pub(crate) async fn finish_in(db: &impl ConnectionTrait, claim: &Claim) -> Result<(), StoreError> {
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            FINISH,
            claim_values(claim),
        ))
        .await
        .map_err(from_db)?;
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced(format!(
            "work {} generation {}",
            claim.work_id, claim.generation
        )))
    }
}

fn claimed(row: &QueryResult, owner: &str) -> Result<ClaimedWork, StoreError> {
    let get_err = |what: &str| corrupt("work_items", "?", what);
    let id: Uuid = row.try_get("", "id").map_err(|_| get_err("id"))?;
    let kind: String = row.try_get("", "kind").map_err(|_| get_err("kind"))?;
    let subject_id: Uuid = row
        .try_get("", "subject_id")
        .map_err(|_| corrupt("work_items", id, "subject_id"))?;
    let generation: i64 = row
        .try_get("", "generation")
        .map_err(|_| corrupt("work_items", id, "generation"))?;
    let attempts: i32 = row
        .try_get("", "attempts")
        .map_err(|_| corrupt("work_items", id, "attempts"))?;
    let max_attempts: i32 = row
        .try_get("", "max_attempts")
        .map_err(|_| corrupt("work_items", id, "max_attempts"))?;
    let last_error: Option<String> = row
        .try_get("", "last_error")
        .map_err(|_| corrupt("work_items", id, "last_error"))?;
    Ok(ClaimedWork {
        claim: Claim {
            work_id: id,
            generation,
            owner: owner.to_owned(),
        },
        kind: WorkKind::parse(&kind).ok_or_else(|| corrupt("work_items", id, "unknown kind"))?,
        subject_id,
        attempt: u32::try_from(attempts).unwrap_or(0),
        max_attempts: u32::try_from(max_attempts).unwrap_or(1),
        last_error,
    })
}

impl Store {
    /// Runs a claiming `UPDATE … RETURNING` (inside a write transaction on SQLite, where the
    /// statement must not interleave with another writer's).
    async fn claim_with(
        &self,
        sql: String,
        values: Vec<Value>,
        owner: &str,
    ) -> Result<Vec<ClaimedWork>, StoreError> {
        let backend = self.db.get_database_backend();
        let rows = if backend == DatabaseBackend::Postgres {
            self.db
                .query_all_raw(statement(backend, &sql, values))
                .await
                .map_err(from_db)?
        } else {
            let (_permit, txn) = self.begin_write().await?;
            let rows = txn
                .query_all_raw(statement(backend, &sql, values))
                .await
                .map_err(from_db)?;
            txn.commit().await.map_err(from_db)?;
            rows
        };
        rows.iter().map(|row| claimed(row, owner)).collect()
    }

    async fn settle(&self, sql: &str, values: Vec<Value>) -> Result<bool, StoreError> {
        let _permit = self.write_permit().await;
        let result = self
            .db
            .execute_raw(statement(self.db.get_database_backend(), sql, values))
            .await
            .map_err(from_db)?;
        Ok(result.rows_affected() == 1)
    }
}

fn claim_values(claim: &Claim) -> Vec<Value> {
    vec![
        claim.work_id.into(),
        claim.generation.into(),
        claim.owner.clone().into(),
    ]
}

#[async_trait]
impl WorkQueue for Store {
    #[tracing::instrument(skip_all, fields(kind = %work.kind, subject_id = %work.subject_id))]
    async fn enqueue(&self, work: NewWork) -> Result<(), StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        insert_work(&txn, &work).await?;
        txn.commit().await.map_err(from_db)
    }

    #[tracing::instrument(skip_all, fields(owner, limit))]
    async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedWork>, StoreError> {
        let sql = format!(
            "UPDATE work_items SET claim_owner = $1, claim_until_ms = {{now_ms}} + $2, \
             generation = generation + 1, attempts = attempts + 1, updated_at_ms = {{now_ms}} \
             WHERE id IN (SELECT c.id FROM work_items AS c WHERE c.state = 'pending' \
             AND c.due_at_ms <= {{now_ms}} \
             AND (c.claim_until_ms IS NULL OR c.claim_until_ms <= {{now_ms}}) AND {HEAD_OF_ITS_ORDER} \
             AND (c.attempts > 0 OR c.created_at_ms <= {{now_ms}} - $4) \
             ORDER BY c.due_at_ms, c.id LIMIT $3 {{skip_locked}}) {RETURNING}"
        );
        self.claim_with(
            sql,
            vec![
                owner.into(),
                millis(lease).into(),
                i64::from(limit).into(),
                millis(self.fast_path_grace).into(),
            ],
            owner,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(kind = %kind, subject_id = %subject_id))]
    async fn claim(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedWork>, StoreError> {
        Ok(self
            .claim_with(
                claim_one_sql(),
                claim_one_values(kind, subject_id, owner, lease),
                owner,
            )
            .await?
            .into_iter()
            .next())
    }

    #[tracing::instrument(skip_all, fields(work_id = %claim.work_id, generation = claim.generation))]
    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
        let mut values = claim_values(claim);
        values.push(millis(lease).into());
        self.settle(
            "UPDATE work_items SET claim_until_ms = {now_ms} + $4, updated_at_ms = {now_ms} \
             WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending' \
             AND claim_until_ms > {now_ms}",
            values,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(work_id = %claim.work_id, generation = claim.generation))]
    async fn finish(&self, claim: &Claim) -> Result<bool, StoreError> {
        self.settle(FINISH, claim_values(claim)).await
    }

    #[tracing::instrument(skip_all, fields(work_id = %claim.work_id, generation = claim.generation))]
    async fn retry_later(
        &self,
        claim: &Claim,
        delay: Duration,
        error: &str,
        provider_code: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut values = claim_values(claim);
        values.push(millis(delay).into());
        values.push(error.into());
        values.push(provider_code.map(str::to_owned).into());
        self.settle(
            "UPDATE work_items SET claim_owner = NULL, claim_until_ms = NULL, \
             due_at_ms = {now_ms} + $4, last_error = $5, last_error_code = $6, \
             updated_at_ms = {now_ms} \
             WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending'",
            values,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(work_id = %claim.work_id, generation = claim.generation))]
    async fn postpone(
        &self,
        claim: &Claim,
        delay: Duration,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut values = claim_values(claim);
        values.push(millis(delay).into());
        values.push(reason.into());
        self.settle(
            "UPDATE work_items SET claim_owner = NULL, claim_until_ms = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             due_at_ms = {now_ms} + $4, last_error = $5, last_error_code = NULL, \
             updated_at_ms = {now_ms} \
             WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending'",
            values,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(work_id = %claim.work_id, generation = claim.generation))]
    async fn give_up(&self, claim: &Claim, error: &str) -> Result<bool, StoreError> {
        let mut values = claim_values(claim);
        values.push(error.into());
        self.settle(
            "UPDATE work_items SET state = 'failed', claim_owner = NULL, claim_until_ms = NULL, \
             last_error = $4, updated_at_ms = {now_ms} \
             WHERE id = $1 AND generation = $2 AND claim_owner = $3 AND state = 'pending'",
            values,
        )
        .await
    }

    async fn waiting(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
    ) -> Result<Option<WorkWaiting>, StoreError> {
        let backend = self.db.get_database_backend();
        let Some(row) = self
            .db
            .query_one_raw(statement(
                backend,
                "SELECT attempts, max_attempts, last_error, last_error_code, due_at_ms, \
                 claim_until_ms, ordering_key, order_seq, {now_ms} AS now \
                 FROM work_items WHERE kind = $1 AND subject_id = $2 AND state = 'pending'",
                [kind.as_str().into(), subject_id.into()],
            ))
            .await
            .map_err(from_db)?
        else {
            return Ok(None);
        };
        let read = |what: &str| corrupt("work_items", subject_id, what);
        let attempts: i32 = row.try_get("", "attempts").map_err(|_| read("attempts"))?;
        let max_attempts: i32 = row
            .try_get("", "max_attempts")
            .map_err(|_| read("max_attempts"))?;
        let last_error: Option<String> = row
            .try_get("", "last_error")
            .map_err(|_| read("last_error"))?;
        let last_error_code: Option<String> = row
            .try_get("", "last_error_code")
            .map_err(|_| read("last_error_code"))?;
        let due_at_ms: i64 = row
            .try_get("", "due_at_ms")
            .map_err(|_| read("due_at_ms"))?;
        let claim_until_ms: Option<i64> = row
            .try_get("", "claim_until_ms")
            .map_err(|_| read("claim_until_ms"))?;
        let now: i64 = row.try_get("", "now").map_err(|_| read("now"))?;
        let ordering_key: Option<String> = row
            .try_get("", "ordering_key")
            .map_err(|_| read("ordering_key"))?;
        let order_seq: Option<i64> = row
            .try_get("", "order_seq")
            .map_err(|_| read("order_seq"))?;
        let behind = match (ordering_key, order_seq) {
            (Some(key), Some(seq)) => self
                .db
                .query_one_raw(statement(
                    backend,
                    "SELECT kind, subject_id FROM work_items WHERE ordering_key = $1 \
                     AND state = 'pending' AND order_seq < $2 ORDER BY order_seq LIMIT 1",
                    [key.into(), seq.into()],
                ))
                .await
                .map_err(from_db)?
                .map(|head| {
                    let kind: String = head.try_get("", "kind").map_err(|_| read("kind"))?;
                    let subject: Uuid = head
                        .try_get("", "subject_id")
                        .map_err(|_| read("subject_id"))?;
                    let kind = WorkKind::parse(&kind).ok_or_else(|| read("kind"))?;
                    Ok::<_, StoreError>((kind, subject))
                })
                .transpose()?,
            _ => None,
        };
        Ok(Some(WorkWaiting {
            kind,
            attempts: u32::try_from(attempts).unwrap_or(0),
            max_attempts: u32::try_from(max_attempts).unwrap_or(1),
            last_error,
            last_error_code,
            due_at: chrono::DateTime::from_timestamp_millis(due_at_ms).unwrap_or_default(),
            claimed: claim_until_ms.is_some_and(|until| until > now),
            behind,
        }))
    }

    async fn stats(&self) -> Result<WorkStats, StoreError> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(statement(
                backend,
                "SELECT kind, state, COUNT(*) AS n, MIN(created_at_ms) AS oldest, {now_ms} AS now \
                 FROM work_items WHERE state IN ('pending', 'failed') GROUP BY kind, state",
                [],
            ))
            .await
            .map_err(from_db)?;
        let mut stats = WorkStats::default();
        let mut oldest: Option<i64> = None;
        let mut now = 0i64;
        for row in rows {
            let kind: String = row.try_get("", "kind").map_err(from_db)?;
            let state: String = row.try_get("", "state").map_err(from_db)?;
            let n: i64 = row.try_get("", "n").map_err(from_db)?;
            let Some(kind) = WorkKind::parse(&kind) else {
                continue;
            };
            let count = u64::try_from(n).unwrap_or(0);
            if state == "pending" {
                stats.pending.push((kind, count));
                let first: i64 = row.try_get("", "oldest").map_err(from_db)?;
                now = row.try_get("", "now").map_err(from_db)?;
                oldest = Some(oldest.map_or(first, |o| o.min(first)));
            } else {
                stats.failed.push((kind, count));
            }
        }
        stats.oldest_pending_age =
            oldest.map(|first| Duration::from_millis(u64::try_from(now - first).unwrap_or(0)));
        Ok(stats)
    }
}
