//! Bank transfers on the Plaid processor rail: created once per idempotency key with their submit
//! work and first history entry; every request and Plaid field read back as it went in, the
//! processor token sealed; fenced writes of the submit work; Plaid's id held by one transfer only;
//! status moves conditional, recorded, and idempotent per Plaid event; reads page in creation order
//! with Plaid's list filters; the reconciler's query; and the inbox of Plaid's events with its
//! sync cursor.
//!
//! One file a concern: [`create`], [`submit`], [`cancel`], [`moves`] (from Plaid's events, one by
//! one and in batches), [`list`], [`reconcile`] and [`inbox`]; the fixtures are in
//! [`crate::support::bank_transfers`].

mod cancel;
mod create;
mod inbox;
mod list;
mod moves;
mod reconcile;
mod submit;
