//! The one ordered log of transfer changes that watchers read (DESIGN §9): every status a transfer
//! takes, with a sequence number drawn from a counter row in the same transaction as the change.
//! The counter row is locked until that transaction commits, so sequence numbers commit in order
//! and a reader that has seen number N has seen every number below it: a watcher resumes from an
//! event id with no gap and no duplicate, on any replica.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeLogCounters {
    Table,
    Name,
    Last,
}

#[derive(DeriveIden)]
enum TransferChanges {
    Table,
    Seq,
    TransferId,
    AccountId,
    Status,
    StatusReason,
    AchReturnCode,
    ProviderTransferId,
    Source,
    At,
}

#[derive(DeriveIden)]
enum Transfers {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeLogCounters::Table)
                    .col(
                        ColumnDef::new(ChangeLogCounters::Name)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ChangeLogCounters::Last)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ChangeLogCounters::Table)
                    .columns([ChangeLogCounters::Name, ChangeLogCounters::Last])
                    .values_panic(["transfers".into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TransferChanges::Table)
                    .col(
                        ColumnDef::new(TransferChanges::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TransferChanges::TransferId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TransferChanges::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(TransferChanges::Status)
                            .text()
                            .not_null()
                            .check((
                                "transfer_changes_status_known",
                                Expr::col(TransferChanges::Status)
                                    .is_in(crate::TRANSFER_STATUSES.iter().copied()),
                            )),
                    )
                    .col(ColumnDef::new(TransferChanges::StatusReason).text().null())
                    .col(ColumnDef::new(TransferChanges::AchReturnCode).text().null())
                    .col(
                        ColumnDef::new(TransferChanges::ProviderTransferId)
                            .uuid()
                            .null(),
                    )
                    .col(ColumnDef::new(TransferChanges::Source).text().not_null())
                    .col(
                        ColumnDef::new(TransferChanges::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("transfer_changes_transfer_id_fkey")
                            .from(TransferChanges::Table, TransferChanges::TransferId)
                            .to(Transfers::Table, Transfers::Id)
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("transfer_changes_account_id_seq_idx")
                .table(TransferChanges::Table)
                .col(TransferChanges::AccountId)
                .col(TransferChanges::Seq)
                .to_owned(),
            Index::create()
                .name("transfer_changes_transfer_id_seq_idx")
                .table(TransferChanges::Table)
                .col(TransferChanges::TransferId)
                .col(TransferChanges::Seq)
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TransferChanges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeLogCounters::Table).to_owned())
            .await
    }
}
