//! Integration tests of the funding sandbox, run against `spawn` on port 0: the Plaid and Alpaca
//! wire formats, the lifecycles, the event stream, faults, the call log and the control API.

// Tests may unwrap: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alpaca_protocol;
mod alpaca_relationships;
mod alpaca_settings;
mod alpaca_transfers;
mod cli_credentials;
mod control_api;
mod event_drops;
mod events_stream;
mod faults_and_calls;
mod helpers;
mod late_effects;
mod plaid_bank_transfers;
mod plaid_errors;
mod plaid_items;
mod plaid_link;
mod plaid_link_page;
mod plaid_link_tokens;
mod plaid_webhooks;
mod risk_alpaca;
mod risk_plaid;
mod schema_checker;
mod spec_conformance;
mod spec_conformance_link;
mod spec_conformance_risk;
