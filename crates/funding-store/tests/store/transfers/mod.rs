//! Transfers: created once per idempotency key with their submit work; fenced writes of the submit
//! work; Alpaca's id held by one transfer only; status moves conditional, recorded, and idempotent
//! per provider event; reads page in creation order; the reconciler's query; the change log's
//! numbers.
//!
//! One file a concern: [`create`], [`submit`], [`cancel`], [`moves`] (from Alpaca's events, one by
//! one and in batches), [`list`], [`reconcile`] and [`changes`]; the fixtures are in
//! [`crate::support::transfers`].

mod cancel;
mod changes;
mod create;
mod list;
mod moves;
mod reconcile;
mod submit;
