//! Idempotency records: one row per (caller, operation, key), claimed with `INSERT … ON CONFLICT DO
//! NOTHING` in the transaction that creates the resource. The fingerprint of the first request is kept
//! so that a repeat with a different payload can be refused; the resource id points at what it made.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    Caller,
    Operation,
    IdempotencyKey,
    Fingerprint,
    ResourceId,
    CreatedAt,
}

fn idempotency_records() -> TableCreateStatement {
    Table::create()
        .table(IdempotencyRecords::Table)
        .col(ColumnDef::new(IdempotencyRecords::Caller).text().not_null())
        .col(
            ColumnDef::new(IdempotencyRecords::Operation)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(IdempotencyRecords::IdempotencyKey)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(IdempotencyRecords::Fingerprint)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(IdempotencyRecords::ResourceId)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(IdempotencyRecords::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(
            Index::create()
                .name("idempotency_records_pkey")
                .col(IdempotencyRecords::Caller)
                .col(IdempotencyRecords::Operation)
                .col(IdempotencyRecords::IdempotencyKey),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(idempotency_records()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyRecords::Table).to_owned())
            .await
    }
}
