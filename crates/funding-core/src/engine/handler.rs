//! What a kind of work does, and how one attempt at it ended.

use async_trait::async_trait;

use crate::ports::{ClaimedWork, ProviderError};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The work is done: its result, or a definite failure, is stored with its resource.
    Done,
    /// Done, and the work already finished in the transaction that stored its result (the
    /// engine writes nothing more).
    Finished,
    /// Try again later: the provider or the database could not be reached, or refused for now.
    Retry {
        /// For the work's record and logs; never a secret.
        reason: String,
        /// The provider's error, for the caller on the fast path.
        error: Option<ProviderError>,
    },
    /// Not done, not failed: the work waits `delay` for something outside it (an unknown outcome
    /// settling at the provider) and is tried again then. The attempt does not count against the
    /// work's attempts, and a waiting work is never given up.
    Wait {
        /// Why it waits, for the resource's status reason, the work's record and logs.
        reason: String,
        delay: std::time::Duration,
    },
    /// The provider refused for good: the work ends, and the caller on the fast path is told why.
    /// (Work whose refusal changes its resource, such as a link that fails, stores that and is
    /// [`Attempt::Done`].)
    Refused(ProviderError),
    /// The claim ran out while the attempt ran: somebody else may drive the work now, and what
    /// this attempt learnt was not stored (the store refused it).
    Fenced,
}

impl Attempt {
    pub fn retry(error: ProviderError) -> Self {
        Self::Retry {
            reason: error.to_string(),
            error: Some(error),
        }
    }
}

/// One kind of work.
#[async_trait]
pub trait WorkHandler: Send + Sync + 'static {
    /// One attempt. Every write it makes is conditioned on `work.claim`.
    async fn run(&self, work: &ClaimedWork) -> Attempt;

    /// The attempts are exhausted: end the resource in a definite, visible state that names
    /// `reason` (conditioned on `work.claim`). Returns what the last attempt should count as.
    async fn give_up(&self, work: &ClaimedWork, reason: &str) -> Attempt;
}
