//! The deployment: one row saying which mode the database was created in — `sandbox` (the in-process
//! emulator) or `providers` (real Plaid and Alpaca, with the hosts it talks to) — so that a sandbox
//! database is never opened against real money, nor a real one by the emulator (DESIGN §10). The row
//! is written once, by the first start, and only read afterwards.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployment {
    Table,
    Id,
    Mode,
    ProviderHosts,
    CreatedAt,
}

/// The only key the table admits: it holds one row at most.
const DEPLOYMENT_ROW_ID: i32 = 1;

fn deployment() -> TableCreateStatement {
    Table::create()
        .table(Deployment::Table)
        .col(
            ColumnDef::new(Deployment::Id)
                .integer()
                .not_null()
                .primary_key()
                .check((
                    "deployment_single_row".to_owned(),
                    Expr::col(Deployment::Id).eq(DEPLOYMENT_ROW_ID),
                )),
        )
        .col(ColumnDef::new(Deployment::Mode).text().not_null().check((
            "deployment_mode_known".to_owned(),
            Expr::col(Deployment::Mode).is_in(["sandbox", "providers"]),
        )))
        .col(ColumnDef::new(Deployment::ProviderHosts).text().null())
        .col(
            ColumnDef::new(Deployment::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        // Provider hosts exactly when the mode talks to providers.
        .check((
            "deployment_hosts_match_mode".to_owned(),
            Expr::col(Deployment::Mode)
                .eq("sandbox")
                .and(Expr::col(Deployment::ProviderHosts).is_null())
                .or(Expr::col(Deployment::Mode)
                    .eq("providers")
                    .and(Expr::col(Deployment::ProviderHosts).is_not_null())),
        ))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(deployment()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Deployment::Table).to_owned())
            .await
    }
}
