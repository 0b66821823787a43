//! A bank link's health beside its status (DESIGN §5): `HEALTHY`, `NEEDS_REAUTH`, `REVOKED`,
//! `UNUSABLE`, from Plaid's Item webhooks and ACH returns, with the reason in words.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BankLinks {
    Table,
    Health,
    HealthReason,
}

/// What the `bank_links.health` CHECK accepts, as `BankLinkHealth::as_str` writes them.
pub const BANK_LINK_HEALTHS: &[&str] = &["HEALTHY", "NEEDS_REAUTH", "REVOKED", "UNUSABLE"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BankLinks::Table)
                    .add_column(
                        ColumnDef::new(BankLinks::Health)
                            .text()
                            .not_null()
                            .default("HEALTHY")
                            .check((
                                "bank_links_health_known",
                                Expr::col(BankLinks::Health)
                                    .is_in(BANK_LINK_HEALTHS.iter().copied()),
                            )),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BankLinks::Table)
                    .add_column(ColumnDef::new(BankLinks::HealthReason).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [BankLinks::HealthReason, BankLinks::Health] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BankLinks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
