//! Raw statements for what sea-orm's builders cannot say portably: the database's clock, row locks
//! with `SKIP LOCKED`, `UPDATE … RETURNING`. A statement is written once with `$1`-style placeholders
//! and `{now_ms}` for the database's clock in epoch milliseconds, and adapted to the backend.

use sea_orm::{DatabaseBackend, Statement, Value};

/// The database's clock, in epoch milliseconds. Leases are measured by it, so replicas whose own
/// clocks disagree still agree on when a claim runs out.
fn now_ms(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            "(CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT))"
        }
        _ => "(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))",
    }
}

/// `FOR UPDATE SKIP LOCKED` where the backend has row locks (PostgreSQL); SQLite's writers take
/// turns on the whole database, so a conditional update alone is enough there.
fn skip_locked(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    }
}

/// `rows` groups of `width` numbered placeholders, for a multi-row `VALUES`: `($1, $2), ($3, $4)`.
pub(crate) fn tuples(rows: usize, width: usize) -> String {
    tuples_after(0, rows, width)
}

/// As [`tuples`], numbered after the statement's first `before` placeholders:
/// `tuples_after(2, 2, 2)` is `($3, $4), ($5, $6)`.
pub(crate) fn tuples_after(before: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| {
            let names: Vec<String> = (1..=width)
                .map(|column| format!("${}", before + row * width + column))
                .collect();
            format!("({})", names.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement for `backend`: `{now_ms}` and `{skip_locked}` filled in, `$n` as `?n` on SQLite.
pub(crate) fn statement(
    backend: DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let mut text = sql
        .replace("{now_ms}", now_ms(backend))
        .replace("{skip_locked}", skip_locked(backend));
    if backend != DatabaseBackend::Postgres {
        text = text.replace('$', "?");
    }
    Statement::from_sql_and_values(backend, text, values)
}

/// In the caller's transaction, on PostgreSQL: waits for, then holds until the transaction ends,
/// the advisory lock named `key`, so that transactions taking it run one at a time across every
/// replica. A no-op on SQLite, whose writers take turns on the whole database already.
pub(crate) async fn lock_for_transaction(
    db: &impl sea_orm::ConnectionTrait,
    key: &str,
) -> Result<(), funding_core::ports::StoreError> {
    advisory_xact_lock(db, "pg_advisory_xact_lock", key).await
}

/// As [`lock_for_transaction`], in shared mode: holders of the shared lock run side by side, and
/// none runs while [`lock_for_transaction`] holds it.
pub(crate) async fn lock_shared_for_transaction(
    db: &impl sea_orm::ConnectionTrait,
    key: &str,
) -> Result<(), funding_core::ports::StoreError> {
    advisory_xact_lock(db, "pg_advisory_xact_lock_shared", key).await
}

async fn advisory_xact_lock(
    db: &impl sea_orm::ConnectionTrait,
    function: &str,
    key: &str,
) -> Result<(), funding_core::ports::StoreError> {
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(statement(
        backend,
        &format!("SELECT {function}(hashtextextended($1, 0))"),
        [key.into()],
    ))
    .await
    .map_err(crate::error::from_db)?;
    Ok(())
}

/// In the caller's transaction: runs `sql`, an `UPDATE … FROM (VALUES {values}) AS v …` whose `{values}`
/// is filled with one tuple per row, 200 rows a statement (SQLite and PostgreSQL both name a VALUES
/// list's columns `column1`, `column2`, …). Whether every row updated exactly one row of the table
/// (the caller rolls back when not: a row it meant to move had moved).
pub(crate) async fn update_from_values<const WIDTH: usize>(
    db: &impl sea_orm::ConnectionTrait,
    sql: &str,
    rows: Vec<[Value; WIDTH]>,
) -> Result<bool, funding_core::ports::StoreError> {
    let backend = db.get_database_backend();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Value> = rows.by_ref().take(200).flatten().collect();
        let count = chunk.len() / WIDTH;
        let updated = db
            .execute_raw(statement(
                backend,
                &sql.replace("{values}", &tuples(count, WIDTH)),
                chunk,
            ))
            .await
            .map_err(crate::error::from_db)?
            .rows_affected();
        if updated != count as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Commits `txn` if `moved`, and rolls it back whole (a fence's touch too) if not; answers
/// `moved`. The end of every conditional move.
pub(crate) async fn commit_if(
    txn: sea_orm::DatabaseTransaction,
    moved: bool,
) -> Result<bool, funding_core::ports::StoreError> {
    if moved {
        txn.commit().await.map_err(crate::error::from_db)?;
    } else {
        txn.rollback().await.map_err(crate::error::from_db)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_numbered_in_order_after_the_leading_placeholders() {
        assert_eq!(tuples(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(tuples_after(2, 2, 3), "($3, $4, $5), ($6, $7, $8)");
        assert_eq!(tuples(0, 3), "");
    }
}
