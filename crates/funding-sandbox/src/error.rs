//! Errors of the emulator's own API: starting it ([`SandboxError`]) and driving it through
//! [`crate::SandboxControl`] ([`ControlError`]). Provider error bodies live with each provider.

use std::net::SocketAddr;

use crate::Host;

/// Failure to start the emulator.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A listener could not be bound.
    #[error("cannot listen for {host} on {addr}: {source}")]
    Bind {
        host: Host,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable (e.g. `plaid_webhook_url` is not an http(s) URL), or a
    /// resource could not be made (the webhook signing key, the webhook HTTP client).
    #[error("cannot start the sandbox: {0}")]
    Setup(String),
}

/// Refusal of a control operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No ACH relationship has this id.
    #[error("ACH relationship {0} not found")]
    RelationshipNotFound(uuid::Uuid),
    /// No transfer has this id.
    #[error("transfer {0} not found")]
    TransferNotFound(uuid::Uuid),
    /// No Plaid Item has this id (never made, or removed).
    #[error("item {0} not found")]
    ItemNotFound(String),
    /// A request to the control API was not understood.
    #[error("{0}")]
    Invalid(String),
    /// The emulator could not do it (e.g. no new signing key could be generated).
    #[error("{0}")]
    Internal(String),
}
