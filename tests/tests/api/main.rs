//! The end-to-end suite: one binary, the real service on port 0 per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth_and_request_ids;
mod bank_transfer_risk;
mod bank_transfers;
mod change_bank;
mod engine;
mod events;
mod hostile;
mod idempotency;
mod inbox;
mod link_flow;
mod link_lifecycle;
mod plaid_keys;
mod provider_behaviour;
mod provider_errors;
mod raw_grpc;
mod reconcile;
mod reflection_and_health;
mod replicas;
mod risk;
mod rotate_key_cli;
mod safety;
mod security;
mod transfers;
mod validation;
