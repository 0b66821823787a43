//! Work queue fixtures: a piece of new work of a kind (and ordering key), the work due to an
//! owner, and the subjects of what was claimed.

use std::time::Duration;

use funding_core::ports::{ClaimedWork, NewWork, WorkKind, WorkQueue as _};
use funding_store::Store;
use uuid::Uuid;

use crate::support::LEASE;

pub const SHORT: Duration = Duration::from_millis(200);

pub fn work(kind: WorkKind, ordering_key: Option<&str>) -> NewWork {
    NewWork {
        kind,
        subject_id: Uuid::new_v4(),
        ordering_key: ordering_key.map(str::to_owned),
        max_attempts: 3,
    }
}

pub async fn due(store: &Store, owner: &str) -> Vec<ClaimedWork> {
    store.claim_due(owner, LEASE, 100).await.unwrap()
}

pub fn subjects(claimed: &[ClaimedWork]) -> Vec<Uuid> {
    claimed.iter().map(|work| work.subject_id).collect()
}
