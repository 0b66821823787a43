//! How every store port fails. Every write that guards money or a promise is a conditional update
//! or a unique constraint in the database, so that several replicas on one database stay correct.

/// A storage failure. Adapters keep the cause for logs; none of them carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation for a transient reason.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A record was not where the caller expected it (a bug or a concurrent delete).
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data cannot be read back (bad ciphertext, wrong key, corrupt row).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A write refused because the work's claim is no longer held: its lease ran out and somebody
    /// else may be driving the work now. The writer must stop.
    #[error("the claim on {0} is no longer held")]
    Fenced(String),
    #[error("database error: {0}")]
    Other(String),
}
