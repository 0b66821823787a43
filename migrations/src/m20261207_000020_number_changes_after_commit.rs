//! PostgreSQL: a transfer change is numbered after its transaction commits, not in it (issue 23).
//!
//! The log's promise stays the one of `m20261201_000008`: a reader that has seen number N has seen
//! every number below it. Before, the writer took the next number from the counter row with the
//! change, and the row lock that keeps numbers committing in order was held from there to the end
//! of its commit: every transfer write of every replica waited in one line for it, through the rest
//! of the writer's statements, its round trips and its WAL flush.
//!
//! Now the writer inserts its changes under negative placeholders, unique and drawn from the
//! sequence below without a lock (one value per statement, its rows counted down from it, so that a
//! transaction's rows sorted by placeholder descending are in the order they were written), and
//! takes no lock at all. Whoever is about to read numbers (a watcher, the outbox relay) first numbers
//! what has committed: one at a time under an advisory lock, it gives the committed placeholders the
//! next numbers in the order they were written, moves the counter and inserts their outbox rows, in
//! one transaction. A change not yet committed is invisible to it and is numbered by a later run,
//! above every number given before, so numbers still appear in order with no gap; a change of a
//! transfer is always written after the transfer's earlier ones committed, so it is numbered after
//! them.
//!
//! SQLite is unchanged: its writers take turns for the whole transaction anyway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("CREATE SEQUENCE transfer_changes_placeholders")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP SEQUENCE transfer_changes_placeholders")
                .await?;
        }
        Ok(())
    }
}
