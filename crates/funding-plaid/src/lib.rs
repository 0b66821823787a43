//! The Plaid HTTP adapter: [`PlaidClient`] implements funding-core's
//! [`PlaidGateway`](funding_core::ports::PlaidGateway) port (`/item/public_token/exchange`,
//! `/processor/token/create` for Alpaca, `/accounts/get`, `/sandbox/public_token/create`), and for
//! the processor rail its [`BankTransferGateway`](funding_core::ports::BankTransferGateway) (the
//! legacy Bank Transfers API, its events and the webhook verification key) and
//! [`BankTransferSandbox`](funding_core::ports::BankTransferSandbox) ports. [`webhook`] verifies
//! the webhooks Plaid signs.
//!
//! Every call is a JSON `POST` with the credentials in headers, retried with exponential backoff and
//! jitter by the table of [`ERROR_CLASSES`]: what Plaid did not process (`PLANNED_MAINTENANCE`, rate
//! limiting, a connection never made) on every endpoint, an unknown outcome (other 5xx, timeouts,
//! lost connections) only where repeating is safe. Every failure becomes a
//! [`ProviderError`](funding_core::ports::ProviderError) carrying Plaid's `error_code`, HTTP status and
//! `request_id`. Tokens and the secret never reach a log line, an error or a `Debug` output.

mod api_error;
mod bank_transfers;
mod call;
mod client;
mod config;
mod error_classes;
mod failure;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod identity;
pub mod webhook;
pub mod wire;

pub use api_error::{PlaidApiError, PlaidErrorType};
pub use bank_transfers::{ACCOUNT_SELECTION_UNSUPPORTED, MAX_EVENT_SYNC_COUNT};
pub use client::{PlaidClient, PlaidConfigError};
pub use config::{PLAID_VERSION, PRODUCTION_BASE_URL, PlaidConfig, RetryPolicy, SANDBOX_BASE_URL};
pub use error_classes::{Condition, ERROR_CLASSES, ErrorClass, Processed, RetriedOn};
pub use webhook::{VERIFICATION_HEADER, WebhookRejection, WebhookVerifier, WebhookVerifierConfig};
pub use wire::bank_transfer::{
    BankTransfer, BankTransferEvent, BankTransferFailure, BankTransferUserDetails,
    SimulatedBankTransferEvent,
};
