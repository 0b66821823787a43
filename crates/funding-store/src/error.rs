//! From database errors to [`StoreError`]: connection trouble, pool exhaustion, a database that went
//! away and lock timeouts are `Unavailable` (worth retrying); everything else is `Other`. Messages are
//! the driver's summary only (never the statement's values or PostgreSQL's row detail), so no secret
//! can reach them.

use std::ops::Deref;

use funding_core::ports::StoreError;
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// Maps a sea-orm error.
pub(crate) fn from_db(error: DbErr) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(error.to_string())
    } else if let DbErr::RecordNotFound(what) = error {
        StoreError::NotFound(what)
    } else {
        StoreError::Other(error.to_string())
    }
}

fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_error))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx_error)) => is_transient(sqlx_error.deref()),
        _ => false,
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| is_transient_code(code.as_ref())),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs and SQLite result codes that mean "not now" rather than "never".
fn is_transient_code(code: &str) -> bool {
    const POSTGRES: &[&str] = &[
        "3D000", // the database does not exist (dropped under us)
        "40001", // serialization failure
        "40P01", // deadlock detected
        "55P03", // lock not available
        "57P01", // admin shutdown
        "57P02", // crash shutdown
        "57P03", // cannot connect now
    ];
    const SQLITE: &[&str] = &[
        "5",   // SQLITE_BUSY
        "6",   // SQLITE_LOCKED
        "14",  // SQLITE_CANTOPEN
        "261", // SQLITE_BUSY_RECOVERY
        "517", // SQLITE_BUSY_SNAPSHOT
        "773", // SQLITE_BUSY_TIMEOUT
    ];
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || POSTGRES.contains(&code)
        || SQLITE.contains(&code)
}

/// Whether a write failed on a unique constraint (PostgreSQL's "duplicate key", SQLite's "UNIQUE
/// constraint failed").
pub(crate) fn is_unique_violation(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("unique") || message.contains("duplicate key")
}

/// A row that cannot be read back as a record.
pub(crate) fn corrupt(table: &str, id: impl std::fmt::Display, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{table} row {id}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    #[test]
    fn pool_and_connection_failures_are_unavailable() {
        for error in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::Conn(RuntimeErr::Internal("refused".into())),
            DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::PoolClosed.into())),
            DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::PoolTimedOut.into())),
        ] {
            assert!(
                matches!(from_db(error), StoreError::Unavailable(_)),
                "should be unavailable"
            );
        }
    }

    #[test]
    fn transient_codes_are_recognised() {
        for code in ["08006", "53300", "57P01", "3D000", "40001", "5", "517"] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["23505", "23514", "2067", "19", "42P01"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }

    #[test]
    fn other_failures_are_other_and_missing_records_not_found() {
        assert!(matches!(
            from_db(DbErr::Custom("bad".into())),
            StoreError::Other(_)
        ));
        assert!(matches!(
            from_db(DbErr::RecordNotFound("bank link".into())),
            StoreError::NotFound(_)
        ));
    }
}
