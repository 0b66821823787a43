//! The provider's error code of a piece of work's last failed attempt, beside its `last_error`,
//! so a resource can say over gRPC which provider error it is retrying (DESIGN §4.9).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkItems {
    Table,
    LastErrorCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkItems::Table)
                    .add_column(ColumnDef::new(WorkItems::LastErrorCode).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkItems::Table)
                    .drop_column(WorkItems::LastErrorCode)
                    .to_owned(),
            )
            .await
    }
}
