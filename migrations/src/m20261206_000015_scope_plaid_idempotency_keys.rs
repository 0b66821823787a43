//! Plaid's idempotency key for a bank transfer, derived from the calling client and its key
//! (DESIGN §9), so that two callers' keys never meet at Plaid. NULL on the rows made before this
//! migration: those keep being sent with the key they were first sent with (the caller's own).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BankTransfers {
    Table,
    PlaidIdempotencyKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BankTransfers::Table)
                    .add_column(
                        ColumnDef::new(BankTransfers::PlaidIdempotencyKey)
                            .text()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BankTransfers::Table)
                    .drop_column(BankTransfers::PlaidIdempotencyKey)
                    .to_owned(),
            )
            .await
    }
}
