//! The engine (DESIGN §9): one mechanism drives every provider call that changes something. The
//! request path writes a resource and its [work](crate::ports::NewWork) in one transaction, then may
//! drive the work itself ([`Engine::drive_now`], the fast path) through the same claim a worker
//! would take; [`Engine::run`] is the worker that finishes everything else.
//!
//! While a handler runs, its claim is renewed every third of the lease, so a slow provider does not
//! lose it; a handler whose claim ran out anyway (a pause, a crash) is fenced by the store and its
//! outcome is dropped. A retryable failure makes the work due again after a capped exponential
//! backoff with jitter; after `max_attempts` the handler's [`WorkHandler::give_up`] ends its
//! resource in a definite, visible state and the work is failed. A create whose outcome is unknown
//! is [settled](Settling) before anything is concluded from an empty lookup: the work waits,
//! without using up its attempts, and is never given up meanwhile.

mod backoff;
mod handler;
mod runner;
mod settle;
mod stop;

pub use backoff::Backoff;
pub use handler::{Attempt, WorkHandler};
pub use runner::{Engine, EngineSettings};
pub use settle::Settling;
pub use stop::Stop;
