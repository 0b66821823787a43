//! The work queue: claims are leases measured by the database's clock, fenced by a generation that
//! grows with every claim; work is handed to one owner at a time, oldest first, one per ordering key.
//! Leases here are real time (the database's clock), so the tests that wait one out sleep.
//!
//! One file a concern: [`claims`], [`retries`] and [`ordering`]; the fixtures are in
//! [`crate::support::work`].

mod claims;
mod ordering;
mod retries;
