//! The engine's tables (DESIGN §9): `work_items`, the provider work every resource's changes go
//! through, one per (kind, subject), claimed with a fenced lease whose expiry is the database's
//! clock in epoch milliseconds; and `inbox_events`, every provider event under its provider event id,
//! with where it stands. Bank links gain the columns the engine's link work needs: the public token
//! (sealed) until it is exchanged, when the exchange was sent, and the bank account's type and mask.

use sea_orm_migration::prelude::*;

use crate::{INBOX_STATES, WORK_KINDS};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkItems {
    Table,
    Id,
    Kind,
    SubjectId,
    OrderingKey,
    State,
    Attempts,
    MaxAttempts,
    DueAtMs,
    ClaimOwner,
    ClaimUntilMs,
    Generation,
    LastError,
    CreatedAtMs,
    UpdatedAtMs,
}

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
enum BankLinks {
    Table,
    PublicToken,
    ExchangeRequestedAt,
    BankAccountType,
    BankAccountMask,
}

fn work_items() -> TableCreateStatement {
    Table::create()
        .table(WorkItems::Table)
        .col(
            ColumnDef::new(WorkItems::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(WorkItems::Kind).text().not_null().check((
            "work_items_kind_known",
            Expr::col(WorkItems::Kind).is_in(WORK_KINDS.iter().copied()),
        )))
        .col(ColumnDef::new(WorkItems::SubjectId).uuid().not_null())
        .col(ColumnDef::new(WorkItems::OrderingKey).text().null())
        .col(ColumnDef::new(WorkItems::State).text().not_null().check((
            "work_items_state_known",
            Expr::col(WorkItems::State).is_in(["pending", "done", "failed"]),
        )))
        .col(
            ColumnDef::new(WorkItems::Attempts)
                .integer()
                .not_null()
                .default(0)
                .check((
                    "work_items_attempts_non_negative",
                    Expr::col(WorkItems::Attempts).gte(0),
                )),
        )
        .col(
            ColumnDef::new(WorkItems::MaxAttempts)
                .integer()
                .not_null()
                .check((
                    "work_items_max_attempts_positive",
                    Expr::col(WorkItems::MaxAttempts).gt(0),
                )),
        )
        .col(ColumnDef::new(WorkItems::DueAtMs).big_integer().not_null())
        .col(ColumnDef::new(WorkItems::ClaimOwner).text().null())
        .col(ColumnDef::new(WorkItems::ClaimUntilMs).big_integer().null())
        .col(
            ColumnDef::new(WorkItems::Generation)
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(ColumnDef::new(WorkItems::LastError).text().null())
        .col(
            ColumnDef::new(WorkItems::CreatedAtMs)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(WorkItems::UpdatedAtMs)
                .big_integer()
                .not_null(),
        )
        .to_owned()
}

fn inbox_events() -> TableCreateStatement {
    Table::create()
        .table(InboxEvents::Table)
        .col(ColumnDef::new(InboxEvents::Stream).text().not_null())
        .col(ColumnDef::new(InboxEvents::EventId).text().not_null())
        .col(ColumnDef::new(InboxEvents::EntityType).text().null())
        .col(ColumnDef::new(InboxEvents::EntityId).text().null())
        .col(ColumnDef::new(InboxEvents::Payload).text().not_null())
        .col(ColumnDef::new(InboxEvents::Event).text().null())
        .col(ColumnDef::new(InboxEvents::State).text().not_null().check((
            "inbox_events_state_known",
            Expr::col(InboxEvents::State).is_in(INBOX_STATES.iter().copied()),
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

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("work_items_kind_subject_id_key")
            .table(WorkItems::Table)
            .col(WorkItems::Kind)
            .col(WorkItems::SubjectId)
            .unique()
            .to_owned(),
        Index::create()
            .name("work_items_state_due_at_ms_idx")
            .table(WorkItems::Table)
            .col(WorkItems::State)
            .col(WorkItems::DueAtMs)
            .to_owned(),
        Index::create()
            .name("work_items_ordering_key_state_idx")
            .table(WorkItems::Table)
            .col(WorkItems::OrderingKey)
            .col(WorkItems::State)
            .col(WorkItems::CreatedAtMs)
            .to_owned(),
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

fn add_link_columns() -> Vec<TableAlterStatement> {
    // SQLite adds one column per ALTER TABLE.
    vec![
        Table::alter()
            .table(BankLinks::Table)
            .add_column(ColumnDef::new(BankLinks::PublicToken).blob().null())
            .to_owned(),
        Table::alter()
            .table(BankLinks::Table)
            .add_column(
                ColumnDef::new(BankLinks::ExchangeRequestedAt)
                    .timestamp_with_time_zone()
                    .null(),
            )
            .to_owned(),
        Table::alter()
            .table(BankLinks::Table)
            .add_column(ColumnDef::new(BankLinks::BankAccountType).text().null())
            .to_owned(),
        Table::alter()
            .table(BankLinks::Table)
            .add_column(ColumnDef::new(BankLinks::BankAccountMask).text().null())
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(work_items()).await?;
        manager.create_table(inbox_events()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        for alter in add_link_columns() {
            manager.alter_table(alter).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            BankLinks::BankAccountMask,
            BankLinks::BankAccountType,
            BankLinks::ExchangeRequestedAt,
            BankLinks::PublicToken,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BankLinks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(InboxEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WorkItems::Table).to_owned())
            .await
    }
}
