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

const DOWN: &str = "
WITH pending AS (SELECT seq AS placeholder FROM transfer_changes WHERE seq < 0),
counter AS (UPDATE change_log_counters SET last = last + (SELECT count(*) FROM pending)
    WHERE name = 'transfers' RETURNING last - (SELECT count(*) FROM pending) AS base),
numbered AS (SELECT p.placeholder,
    counter.base + row_number() OVER (ORDER BY p.placeholder DESC) AS seq
    FROM pending AS p, counter),
moved AS (UPDATE transfer_changes AS c SET seq = n.seq FROM numbered AS n
    WHERE c.seq = n.placeholder RETURNING c.seq, c.transfer_id, c.status, c.at)
INSERT INTO outbox (id, resource, resource_id, status, created_at)
SELECT CAST(transfer_id AS TEXT) || ':' || CAST(seq AS TEXT), 'transfer', transfer_id,
    lower(status), at FROM moved ORDER BY seq;
DROP SEQUENCE transfer_changes_placeholders;
";

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
            // The code before this migration numbers its changes as it writes them, and never
            // reads a placeholder: every committed change left unnumbered is numbered first, as
            // a reader would have (run with the service stopped).
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
