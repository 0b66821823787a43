//! The Alpaca Broker API adapter: [`AlpacaClient`] implements funding-core's
//! [`Broker`](funding_core::ports::Broker) port over HTTP (reqwest with rustls).
//!
//! - ACH relationships: create with a Plaid processor token, list, delete.
//! - Transfers: create, list (every page, oldest first), look up by id, cancel; and the trading
//!   account's `cash`, `cash_withdrawable` and `pending_transfer_out`. The port's methods are built
//!   on the inherent [`AlpacaClient::create_transfer`], [`AlpacaClient::list_transfers`] (one page),
//!   [`AlpacaClient::list_all_transfers`], [`AlpacaClient::cancel_transfer`] and
//!   [`AlpacaClient::account_funds`].
//! - The funding event stream, `/v2/events/funding/status` (SSE), resumable and self-reconnecting.
//!
//! Every request carries HTTP Basic auth. Errors are [`ProviderError`](funding_core::ports::ProviderError)s
//! with Alpaca's code and a message scrubbed of tokens and credentials, classed by the table of
//! [`ERROR_CLASSES`]: reads are retried on transient failures, creates (no idempotency key at
//! Alpaca) never by the adapter.

mod broker;
mod client;
mod config;
mod error_classes;
mod errors;
mod events;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod items;
mod owner;
mod redact;
mod relationships;
mod trading;
mod transfer_list;
mod transfers;
mod wire;

pub use client::{AlpacaClient, ConfigError};
pub use config::{AlpacaConfig, PRODUCTION_BASE_URL, RetryPolicy, SANDBOX_BASE_URL, StreamPolicy};
pub use error_classes::{Condition, ERROR_CLASSES, ErrorClass, Outcome};
pub use transfer_list::{TRANSFER_PAGE_SIZE, TransferQuery};
pub use transfers::{NewAchTransfer, Transfer, TransferDirection, TransferType};
