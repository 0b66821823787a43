//! [`CoreError`]: how a use case fails, in terms a caller can act on. The gRPC layer maps each variant
//! to one status code and a stable `ErrorInfo.reason`; logs get the full cause.

use funding_domain::ValidationErrors;

use crate::ports::{ProviderError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request breaks a rule; every broken field is listed. Nothing was written or sent.
    #[error("invalid request: {0}")]
    InvalidArgument(ValidationErrors),

    /// The idempotency key was used before with a different payload.
    #[error("idempotency key reused with a different {field}")]
    IdempotencyKeyReused {
        operation: &'static str,
        field: String,
    },

    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },

    /// The resource is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable, e.g. `BANK_LINK_CREATING`.
        reason: &'static str,
        /// The resource, as `bank_links/<id>`.
        subject: String,
        message: String,
    },

    /// A watcher read too slowly and fell too far behind; it may resume after `resume_after`.
    #[error("the watcher fell behind; resume after event {resume_after}")]
    WatcherTooSlow { resume_after: String },

    /// The server is stopping; a stream it ended may resume after `resume_after` on another replica.
    #[error("the server is shutting down; resume after event {resume_after}")]
    ShuttingDown { resume_after: String },

    /// A provider refused the request or could not be reached.
    #[error(transparent)]
    Provider(#[from] ProviderError),

    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// This deployment does not serve the operation (e.g. a rail that is not configured).
    #[error("{0}")]
    Unimplemented(&'static str),

    /// A bug or a failed task; logged, answered INTERNAL.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ValidationErrors> for CoreError {
    fn from(errors: ValidationErrors) -> Self {
        Self::InvalidArgument(errors)
    }
}
