//! The transactional outbox (DESIGN §9): one row per status-history entry of a link, a transfer or
//! a bank transfer, written in the transaction of the change, so that a change is published to the
//! message broker if and only if it committed. `id` is the history entry's own id (the history
//! row's UUID; `<transfer id>:<seq>` for an entry of a transfer's change log), unique across
//! databases, and is sent as the `Nats-Msg-Id` so a republish after a crash is deduplicated by
//! JetStream. `seq` orders the rows:
//! a resource's changes serialize on its row, so its rows' sequence numbers follow its history.
//! `published_at` stays NULL until the broker acknowledged the message; a partial index keeps the
//! publisher's poll cheap however many published rows accumulate.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    Id,
    Resource,
    ResourceId,
    Status,
    Payload,
    CreatedAt,
    PublishedAt,
}

/// What the `outbox.resource` CHECK accepts.
const RESOURCES: &[&str] = &["bank_link", "transfer", "bank_transfer"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(
                        ColumnDef::new(Outbox::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Outbox::Id).text().not_null().unique_key())
                    .col(ColumnDef::new(Outbox::Resource).text().not_null().check((
                        "outbox_resource_known",
                        Expr::col(Outbox::Resource).is_in(RESOURCES.iter().copied()),
                    )))
                    .col(ColumnDef::new(Outbox::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(Outbox::Status).text().not_null())
                    // A snapshot of the resource, when the writer has one; NULL means the publisher
                    // builds the message from the resource as stored, with this row's status.
                    .col(ColumnDef::new(Outbox::Payload).text().null())
                    .col(
                        ColumnDef::new(Outbox::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Outbox::PublishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Partial indexes are the same SQL on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX outbox_unpublished_seq_idx ON outbox (seq) WHERE published_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}
