//! PostgreSQL: a transfer change gets its sequence number when its transaction commits, not when it
//! is written (issue 23).
//!
//! The log's promise stays the one of `m20261201_000008`: numbers commit in order, so a reader that
//! has seen number N has seen every number below it. Before, the writer took the next number from the
//! counter row with the change itself, and the row lock that keeps numbers committing in order was
//! held from there until the commit: across the rest of the transaction's statements and the round
//! trips to a busy client. Every transfer write of every replica waited in that line, and creates on
//! PostgreSQL ran at one per 2.75 ms.
//!
//! Now the writer inserts its changes under negative placeholders (unique, from a sequence, without a
//! lock) and a deferred constraint trigger numbers them at COMMIT: it takes the counter row, gives
//! the transaction's placeholders the next numbers in the order they were written, and inserts
//! their outbox rows (whose ids carry the number). The row lock is held for that and the commit's WAL
//! flush, inside the server, with no client round trip. A rolled-back transaction numbers nothing.
//! Other transactions' placeholders are invisible to the trigger (not committed), and no committed
//! row keeps one: the trigger runs for every inserted row before its transaction can commit.
//!
//! SQLite is unchanged: its writers take turns for the whole transaction anyway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The placeholders' source: each statement of changes takes one value and counts its rows down
/// from it (funding-store's `transfers::changes`), so that a transaction's rows, sorted by
/// placeholder descending, are in the order they were written.
const UP: &str = r#"
CREATE SEQUENCE transfer_changes_placeholders;

CREATE FUNCTION transfer_changes_number_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    base bigint;
BEGIN
    -- The first of a transaction's calls numbers all of its rows; the rest find theirs numbered.
    PERFORM 1 FROM transfer_changes WHERE seq = NEW.seq;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- Only this transaction's placeholders are visible here: others' are not committed, and no
    -- committed row keeps one.
    SELECT count(*) INTO pending FROM transfer_changes WHERE seq < 0;
    UPDATE change_log_counters SET last = last + pending WHERE name = 'transfers'
        RETURNING last - pending INTO base;
    IF base IS NULL THEN
        RAISE EXCEPTION 'the transfers change counter is missing';
    END IF;
    WITH numbered AS (
        SELECT seq AS placeholder, base + row_number() OVER (ORDER BY seq DESC) AS seq
        FROM transfer_changes WHERE seq < 0
    ), moved AS (
        UPDATE transfer_changes AS c SET seq = n.seq FROM numbered AS n
        WHERE c.seq = n.placeholder
        RETURNING c.seq, c.transfer_id, c.status, c.at
    )
    INSERT INTO outbox (id, resource, resource_id, status, created_at)
    SELECT CAST(transfer_id AS TEXT) || ':' || CAST(seq AS TEXT), 'transfer', transfer_id,
           lower(status), at
    FROM moved ORDER BY seq;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER transfer_changes_numbered AFTER INSERT ON transfer_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION transfer_changes_number_at_commit();
"#;

const DOWN: &str = r#"
DROP TRIGGER transfer_changes_numbered ON transfer_changes;
DROP FUNCTION transfer_changes_number_at_commit();
DROP SEQUENCE transfer_changes_placeholders;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
