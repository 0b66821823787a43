//! Helpers for the end-to-end suites: [`TestApp`] starts the real service (the same `Application`
//! that `main` runs) on port 0 with the in-process emulator and a fresh database — a SQLite file in a
//! temporary directory, or a PostgreSQL database of its own that is dropped afterwards — and connects
//! the typed client to it.
//!
//! `TEST_LOG=1` ([`test_log`]) shows the servers' logs (zero2prod's switch): the in-process ones'
//! on stderr through `fundingd`'s own subscriber (filtered by `RUST_LOG`, default `info`), and
//! every spawned `fundingd` process's lines prefixed with its name ([`process::Replica`]). Without
//! it the suites stay silent.
//!
//! [`TestApp`] and [`AppOptions`] are in `app`; its requests, polls and the emulator's records in
//! `resources`; PostgreSQL databases and rows read straight from a database in `database`; the
//! `google.rpc` details of an error in `errors`; the spawned `fundingd` processes in [`process`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod database;
mod errors;
pub mod process;
mod resources;

pub use app::{AppOptions, TestApp, test_log};
pub use database::{create_postgres_database, drop_postgres_database, postgres_admin_url};
pub use errors::{bad_request_fields, error_metadata, error_reason};
pub use resources::{plaid_bank_transfer_pages, relationships_at_alpaca};

/// Where the test's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each named `async fn(Backend)`, a module with a test on SQLite and one on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
}
