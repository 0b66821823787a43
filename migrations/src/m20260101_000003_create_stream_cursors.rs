//! Stream cursors: for each provider event stream, the position it was read up to, so that a restart
//! (or another replica taking over) resumes where the last reader stopped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StreamCursors {
    Table,
    Stream,
    Cursor,
    UpdatedAt,
}

fn stream_cursors() -> TableCreateStatement {
    Table::create()
        .table(StreamCursors::Table)
        .col(
            ColumnDef::new(StreamCursors::Stream)
                .text()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(StreamCursors::Cursor).text().not_null())
        .col(
            ColumnDef::new(StreamCursors::UpdatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(stream_cursors()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamCursors::Table).to_owned())
            .await
    }
}
