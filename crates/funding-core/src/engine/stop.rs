//! [`Stop`]: why a step of a handler ended its attempt early, and how that becomes the attempt's
//! outcome: a store that refused a fenced write means the claim is gone (stop, write nothing more);
//! anything else is worth retrying.

use super::Attempt;
use crate::ports::{ProviderError, StoreError};

/// Why a step stopped the attempt.
pub enum Stop {
    /// The claim is gone: stop without writing.
    Fenced,
    /// Try again later.
    Retry(String, Option<ProviderError>),
    /// Wait this long without counting the attempt (see [`Attempt::Wait`]).
    Wait(String, std::time::Duration),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Fenced(_) => Self::Fenced,
            other => Self::Retry(format!("storage: {other}"), None),
        }
    }
}

impl From<crate::CoreError> for Stop {
    fn from(error: crate::CoreError) -> Self {
        match error {
            crate::CoreError::Store(store) => store.into(),
            crate::CoreError::Provider(provider) => {
                Self::Retry(provider.to_string(), Some(provider))
            }
            other => Self::Retry(other.to_string(), None),
        }
    }
}

impl Stop {
    pub fn provider(error: ProviderError) -> Self {
        Self::Retry(error.to_string(), Some(error))
    }

    pub fn into_attempt(self) -> Attempt {
        match self {
            Self::Fenced => Attempt::Fenced,
            Self::Retry(reason, error) => Attempt::Retry { reason, error },
            Self::Wait(reason, delay) => Attempt::Wait { reason, delay },
        }
    }
}
