//! funding-store against real databases. Every test body runs twice: on a fresh SQLite file in a
//! temporary directory and on a fresh PostgreSQL database (created per test, dropped after).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

#[macro_use]
mod support;

mod bank_transfers;
mod begin_link;
mod caller_thread_reads;
mod cursors;
mod deployment;
mod health;
mod inbox;
mod inbox_sweep;
mod migrations;
mod outbox;
mod reads;
mod risk;
mod rotation;
mod secrets;
mod status;
mod transfers;
mod work;
