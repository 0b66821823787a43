//! Changing banks and watching Items (DESIGN §5): a link may replace another of its account
//! (`replaces_bank_link_id`, unique: one replacement per old link), and the reconciler rotates
//! through the Items of approved links to read their health without a webhook (`item_checked_at`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BankLinks {
    Table,
    ReplacesBankLinkId,
    ItemCheckedAt,
}

const REPLACES_INDEX: &str = "bank_links_replaces_bank_link_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BankLinks::Table)
                    .add_column(ColumnDef::new(BankLinks::ReplacesBankLinkId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BankLinks::Table)
                    .add_column(
                        ColumnDef::new(BankLinks::ItemCheckedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(REPLACES_INDEX)
                    .table(BankLinks::Table)
                    .col(BankLinks::ReplacesBankLinkId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(REPLACES_INDEX)
                    .table(BankLinks::Table)
                    .to_owned(),
            )
            .await?;
        for column in [BankLinks::ItemCheckedAt, BankLinks::ReplacesBankLinkId] {
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
