//! Stream leases: which replica reads each provider event stream, and until when. A replica takes a
//! free or expired lease with one conditional upsert and renews it while it reads; when it dies,
//! another takes over once the lease runs out.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StreamLeases {
    Table,
    Stream,
    Owner,
    LeaseUntil,
}

fn stream_leases() -> TableCreateStatement {
    Table::create()
        .table(StreamLeases::Table)
        .col(
            ColumnDef::new(StreamLeases::Stream)
                .text()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(StreamLeases::Owner).text().not_null())
        .col(
            ColumnDef::new(StreamLeases::LeaseUntil)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(stream_leases()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamLeases::Table).to_owned())
            .await
    }
}
