//! The Plaid adapter against a fake Plaid (wiremock): the exact requests it sends, how it reads
//! answers and errors, its retries, its conformance to the official OpenAPI spec, that no
//! secret ever shows, and the webhook verifier against real P-256 keys.

// Test helpers outside `#[test]` functions may unwrap too (the project's rule covers tests/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bank_transfers;
mod conformance;
mod error_classes;
mod errors;
mod fixtures;
mod link_requests;
mod logs;
mod not_processed;
mod retries;
mod risk_reads;
mod secrets;
mod spec;
mod support;
mod webhook;
