//! Alpaca transfers and their status history. A transfer is one row per (caller, idempotency key),
//! over one bank link (which cannot be deleted under it); its Alpaca id, once known, belongs to one
//! transfer only; its amount is the canonical decimal string (`"100.00"`), its direction and status
//! one of the known strings. The history keeps every status move with its source; a provider event
//! id appears at most once per transfer, which makes a replayed event a no-op.

use sea_orm_migration::prelude::*;

use crate::TRANSFER_STATUSES;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transfers {
    Table,
    Id,
    Caller,
    IdempotencyKey,
    AccountId,
    BankLinkId,
    RelationshipId,
    Amount,
    Direction,
    Status,
    StatusReason,
    AchReturnCode,
    FailureCode,
    ProviderTransferId,
    SubmitRequestedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TransferStatusHistory {
    Table,
    Id,
    TransferId,
    FromStatus,
    ToStatus,
    Reason,
    AchReturnCode,
    Source,
    EventId,
    At,
}

#[derive(DeriveIden)]
enum BankLinks {
    Table,
    Id,
}

/// `CONSTRAINT <name> CHECK (<column> IN (<every known status>))`.
fn known_status(name: &str, column: impl IntoIden + 'static) -> (String, Expr) {
    (
        name.to_owned(),
        Expr::col(column).is_in(TRANSFER_STATUSES.iter().copied()),
    )
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn transfers() -> TableCreateStatement {
    Table::create()
        .table(Transfers::Table)
        .col(
            ColumnDef::new(Transfers::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(Transfers::Caller).text().not_null())
        .col(ColumnDef::new(Transfers::IdempotencyKey).text().not_null())
        .col(ColumnDef::new(Transfers::AccountId).uuid().not_null())
        .col(ColumnDef::new(Transfers::BankLinkId).uuid().not_null())
        .col(ColumnDef::new(Transfers::RelationshipId).uuid().not_null())
        .col(ColumnDef::new(Transfers::Amount).text().not_null())
        .col(
            ColumnDef::new(Transfers::Direction)
                .text()
                .not_null()
                .check((
                    "transfers_direction_known",
                    Expr::col(Transfers::Direction).is_in(["deposit", "withdrawal"]),
                )),
        )
        .col(
            ColumnDef::new(Transfers::Status)
                .text()
                .not_null()
                .check(known_status("transfers_status_known", Transfers::Status)),
        )
        .col(ColumnDef::new(Transfers::StatusReason).text().null())
        .col(ColumnDef::new(Transfers::AchReturnCode).text().null())
        .col(ColumnDef::new(Transfers::FailureCode).text().null())
        .col(ColumnDef::new(Transfers::ProviderTransferId).uuid().null())
        .col(
            ColumnDef::new(Transfers::SubmitRequestedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(timestamp(Transfers::CreatedAt))
        .col(timestamp(Transfers::UpdatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("transfers_bank_link_id_fkey")
                .from(Transfers::Table, Transfers::BankLinkId)
                .to(BankLinks::Table, BankLinks::Id)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

fn transfer_status_history() -> TableCreateStatement {
    Table::create()
        .table(TransferStatusHistory::Table)
        .col(
            ColumnDef::new(TransferStatusHistory::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(TransferStatusHistory::TransferId)
                .uuid()
                .not_null(),
        )
        .col(
            ColumnDef::new(TransferStatusHistory::FromStatus)
                .text()
                .not_null()
                .check(known_status(
                    "transfer_status_history_from_known",
                    TransferStatusHistory::FromStatus,
                )),
        )
        .col(
            ColumnDef::new(TransferStatusHistory::ToStatus)
                .text()
                .not_null()
                .check(known_status(
                    "transfer_status_history_to_known",
                    TransferStatusHistory::ToStatus,
                )),
        )
        .col(ColumnDef::new(TransferStatusHistory::Reason).text().null())
        .col(
            ColumnDef::new(TransferStatusHistory::AchReturnCode)
                .text()
                .null(),
        )
        .col(
            ColumnDef::new(TransferStatusHistory::Source)
                .text()
                .not_null(),
        )
        .col(ColumnDef::new(TransferStatusHistory::EventId).text().null())
        .col(timestamp(TransferStatusHistory::At))
        .foreign_key(
            ForeignKey::create()
                .name("transfer_status_history_transfer_id_fkey")
                .from(
                    TransferStatusHistory::Table,
                    TransferStatusHistory::TransferId,
                )
                .to(Transfers::Table, Transfers::Id)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("transfers_caller_idempotency_key_key")
            .table(Transfers::Table)
            .col(Transfers::Caller)
            .col(Transfers::IdempotencyKey)
            .unique()
            .to_owned(),
        Index::create()
            .name("transfers_provider_transfer_id_key")
            .table(Transfers::Table)
            .col(Transfers::ProviderTransferId)
            .unique()
            .to_owned(),
        Index::create()
            .name("transfers_account_id_id_idx")
            .table(Transfers::Table)
            .col(Transfers::AccountId)
            .col(Transfers::Id)
            .to_owned(),
        Index::create()
            .name("transfers_status_updated_at_idx")
            .table(Transfers::Table)
            .col(Transfers::Status)
            .col(Transfers::UpdatedAt)
            .to_owned(),
        Index::create()
            .name("transfer_status_history_transfer_id_event_id_key")
            .table(TransferStatusHistory::Table)
            .col(TransferStatusHistory::TransferId)
            .col(TransferStatusHistory::EventId)
            .unique()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(transfers()).await?;
        manager.create_table(transfer_status_history()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TransferStatusHistory::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Transfers::Table).to_owned())
            .await
    }
}
