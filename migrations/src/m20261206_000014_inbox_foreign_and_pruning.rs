//! The inbox grows no more without bound, and stream leases are measured by the database's clock.
//!
//! - `inbox_events.state` admits `foreign`: an event parked for lack of a subject for longer than a
//!   grace period is about a subject this service never made; the sweep stops looking for it (the
//!   transaction that stores a subject still makes its events pending, `foreign` ones included).
//!   PostgreSQL replaces the CHECK; SQLite cannot alter one, so the table is rebuilt (same columns,
//!   same rows, same indexes).
//! - `inbox_events_state_received_idx` (`state`, `received_at_ms`): the sweep's parked and
//!   past-grace events, and the gauges' counts by state, read from the index rather than the table.
//! - `inbox_events_state_applied_idx` (`state`, `applied_at_ms`): applied events past the retention,
//!   pruned a batch at a time.
//! - `stream_leases.lease_until_ms`: a lease's expiry in epoch milliseconds of the database's clock,
//!   as work claims' `claim_until_ms`, so replicas whose clocks disagree still agree on when a lease
//!   runs out. Filled from `lease_until`, which stays (written from the same clock) for whoever reads
//!   it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::{INBOX_STATES, INBOX_STATES_WITH_FOREIGN};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    Stream,
    EventId,
    EntityType,
    EntityId,
    Payload,
    Event,
    State,
    Error,
    Attempts,
    ReceivedAtMs,
    AppliedAtMs,
}

#[derive(DeriveIden)]
enum StreamLeases {
    Table,
    LeaseUntilMs,
}

const CHECK: &str = "inbox_events_state_known";
const STATE_RECEIVED_INDEX: &str = "inbox_events_state_received_idx";
const STATE_APPLIED_INDEX: &str = "inbox_events_state_applied_idx";
/// SQLite's table while it is rebuilt.
const REBUILT: &str = "inbox_events_rebuilt";
const COLUMNS: &str = "stream, event_id, entity_type, entity_id, payload, event, state, error, \
     attempts, received_at_ms, applied_at_ms";

/// `inbox_events` as migration 000006 made it, under `name`, admitting `states`.
fn inbox_events(name: &str, states: &[&str]) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .col(ColumnDef::new(InboxEvents::Stream).text().not_null())
        .col(ColumnDef::new(InboxEvents::EventId).text().not_null())
        .col(ColumnDef::new(InboxEvents::EntityType).text().null())
        .col(ColumnDef::new(InboxEvents::EntityId).text().null())
        .col(ColumnDef::new(InboxEvents::Payload).text().not_null())
        .col(ColumnDef::new(InboxEvents::Event).text().null())
        .col(ColumnDef::new(InboxEvents::State).text().not_null().check((
            CHECK,
            Expr::col(InboxEvents::State).is_in(states.iter().copied()),
        )))
        .col(ColumnDef::new(InboxEvents::Error).text().null())
        .col(
            ColumnDef::new(InboxEvents::Attempts)
                .integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new(InboxEvents::ReceivedAtMs)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(InboxEvents::AppliedAtMs)
                .big_integer()
                .null(),
        )
        .primary_key(
            Index::create()
                .col(InboxEvents::Stream)
                .col(InboxEvents::EventId),
        )
        .to_owned()
}

/// The indexes migration 000006 made on `inbox_events` (dropped with the table on SQLite).
fn original_indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("inbox_events_stream_state_received_idx")
            .table(InboxEvents::Table)
            .col(InboxEvents::Stream)
            .col(InboxEvents::State)
            .col(InboxEvents::ReceivedAtMs)
            .col(InboxEvents::EventId)
            .to_owned(),
        Index::create()
            .name("inbox_events_entity_id_state_idx")
            .table(InboxEvents::Table)
            .col(InboxEvents::EntityId)
            .col(InboxEvents::State)
            .to_owned(),
    ]
}

fn new_indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name(STATE_RECEIVED_INDEX)
            .table(InboxEvents::Table)
            .col(InboxEvents::State)
            .col(InboxEvents::ReceivedAtMs)
            .to_owned(),
        Index::create()
            .name(STATE_APPLIED_INDEX)
            .table(InboxEvents::Table)
            .col(InboxEvents::State)
            .col(InboxEvents::AppliedAtMs)
            .to_owned(),
    ]
}

/// `state IN ('a', 'b', …)`.
fn state_in(states: &[&str]) -> String {
    let list: Vec<String> = states.iter().map(|state| format!("'{state}'")).collect();
    format!("state IN ({})", list.join(", "))
}

/// Replaces the state CHECK so that it admits `states`.
async fn admit_states(manager: &SchemaManager<'_>, states: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(&format!(
                "ALTER TABLE inbox_events DROP CONSTRAINT {CHECK}, \
                 ADD CONSTRAINT {CHECK} CHECK ({})",
                state_in(states)
            ))
            .await?;
        }
        _ => {
            // SQLite cannot alter a CHECK: a new table with the new one, the rows copied over.
            manager.create_table(inbox_events(REBUILT, states)).await?;
            db.execute_unprepared(&format!(
                "INSERT INTO {REBUILT} ({COLUMNS}) SELECT {COLUMNS} FROM inbox_events"
            ))
            .await?;
            db.execute_unprepared("DROP TABLE inbox_events").await?;
            db.execute_unprepared(&format!("ALTER TABLE {REBUILT} RENAME TO inbox_events"))
                .await?;
            for index in original_indexes() {
                manager.create_index(index).await?;
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        admit_states(manager, INBOX_STATES_WITH_FOREIGN).await?;
        for index in new_indexes() {
            manager.create_index(index).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(StreamLeases::Table)
                    .add_column(
                        ColumnDef::new(StreamLeases::LeaseUntilMs)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // A lease held across the upgrade keeps its expiry.
        let from_lease_until = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "CAST(EXTRACT(EPOCH FROM lease_until) * 1000 AS BIGINT)",
            _ => "CAST((julianday(lease_until) - 2440587.5) * 86400000.0 AS INTEGER)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE stream_leases SET lease_until_ms = COALESCE({from_lease_until}, 0)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StreamLeases::Table)
                    .drop_column(StreamLeases::LeaseUntilMs)
                    .to_owned(),
            )
            .await?;
        for name in [STATE_APPLIED_INDEX, STATE_RECEIVED_INDEX] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(InboxEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        // Foreign events are parked for lack of a subject again: the sweep looks for them as before.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE inbox_events SET state = 'parked_no_subject' WHERE state = 'foreign'",
            )
            .await?;
        admit_states(manager, INBOX_STATES).await
    }
}
