//! Whether the database answers: the health service reports SERVING while it does.

use async_trait::async_trait;

use super::StoreError;

/// The database's health, for the health service.
#[async_trait]
pub trait DatabasePing: Send + Sync + 'static {
    /// Whether the database answers; `Unavailable` if it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}
