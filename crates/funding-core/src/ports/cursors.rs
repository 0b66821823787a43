//! Where each provider event stream was read up to, and the lease that lets one replica read it.

use async_trait::async_trait;

use super::StoreError;

/// Where each event stream was read up to, and which replica reads it.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    async fn load_cursor(&self, stream: &str) -> Result<Option<String>, StoreError>;
    async fn save_cursor(&self, stream: &str, cursor: &str) -> Result<(), StoreError>;

    /// Takes the right to read `stream` for `lease` if nobody holds it or its holder's lease ran
    /// out, or renews it for `owner`. Returns whether `owner` holds it now. One conditional write,
    /// safe for any number of replicas; the lease's expiry is measured by the database's clock, so
    /// replicas whose clocks disagree still agree on when it runs out.
    async fn claim_stream(
        &self,
        stream: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the stream up, so another replica can take it at once.
    async fn release_stream(&self, stream: &str, owner: &str) -> Result<(), StoreError>;
}
