//! Bank transfers on the Plaid processor rail and their status history. A bank transfer is one row
//! per (caller, idempotency key): the request as the caller made it (JSON of its fields, the
//! processor token left out), the processor token sealed apart (never plaintext), this service's
//! status (one of the known strings), and Plaid's id and object once Plaid answered; Plaid's id
//! belongs to one of ours only. `status`, `cancellable` and the failure columns are the truth after
//! every move (they overlay Plaid's object as it was saved). `origination_account_id` and
//! `direction` are kept apart for listing: the request's origination account, or Plaid's when the
//! request named none, and Plaid's direction. The history keeps every move with its source; a Plaid
//! event id appears at most once per transfer, which makes a replayed event a no-op.

use sea_orm_migration::prelude::*;

use crate::BANK_TRANSFER_STATUSES;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BankTransfers {
    Table,
    Id,
    Caller,
    IdempotencyKey,
    Request,
    ProcessorToken,
    Status,
    Cancellable,
    AchReturnCode,
    FailureDescription,
    StatusReason,
    FailureCode,
    PlaidBankTransferId,
    Plaid,
    OriginationAccountId,
    Direction,
    SubmitRequestedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BankTransferStatusHistory {
    Table,
    Id,
    BankTransferId,
    Status,
    Source,
    EventId,
    AchReturnCode,
    Description,
    At,
}

/// `CONSTRAINT <name> CHECK (<column> IN (<every known status>))`.
fn known_status(name: &str, column: impl IntoIden + 'static) -> (String, Expr) {
    (
        name.to_owned(),
        Expr::col(column).is_in(BANK_TRANSFER_STATUSES.iter().copied()),
    )
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn bank_transfers() -> TableCreateStatement {
    Table::create()
        .table(BankTransfers::Table)
        .col(
            ColumnDef::new(BankTransfers::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(BankTransfers::Caller).text().not_null())
        .col(
            ColumnDef::new(BankTransfers::IdempotencyKey)
                .text()
                .not_null(),
        )
        .col(ColumnDef::new(BankTransfers::Request).text().not_null())
        .col(
            ColumnDef::new(BankTransfers::ProcessorToken)
                .blob()
                .not_null(),
        )
        .col(
            ColumnDef::new(BankTransfers::Status)
                .text()
                .not_null()
                .check(known_status(
                    "bank_transfers_status_known",
                    BankTransfers::Status,
                )),
        )
        .col(
            ColumnDef::new(BankTransfers::Cancellable)
                .boolean()
                .not_null()
                .default(false),
        )
        .col(ColumnDef::new(BankTransfers::AchReturnCode).text().null())
        .col(
            ColumnDef::new(BankTransfers::FailureDescription)
                .text()
                .null(),
        )
        .col(ColumnDef::new(BankTransfers::StatusReason).text().null())
        .col(ColumnDef::new(BankTransfers::FailureCode).text().null())
        .col(
            ColumnDef::new(BankTransfers::PlaidBankTransferId)
                .text()
                .null(),
        )
        .col(ColumnDef::new(BankTransfers::Plaid).text().null())
        .col(
            ColumnDef::new(BankTransfers::OriginationAccountId)
                .text()
                .null(),
        )
        .col(ColumnDef::new(BankTransfers::Direction).text().null())
        .col(
            ColumnDef::new(BankTransfers::SubmitRequestedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(timestamp(BankTransfers::CreatedAt))
        .col(timestamp(BankTransfers::UpdatedAt))
        .to_owned()
}

fn bank_transfer_status_history() -> TableCreateStatement {
    Table::create()
        .table(BankTransferStatusHistory::Table)
        .col(
            ColumnDef::new(BankTransferStatusHistory::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::BankTransferId)
                .uuid()
                .not_null(),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::Status)
                .text()
                .not_null()
                .check(known_status(
                    "bank_transfer_status_history_status_known",
                    BankTransferStatusHistory::Status,
                )),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::Source)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::EventId)
                .text()
                .null(),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::AchReturnCode)
                .text()
                .null(),
        )
        .col(
            ColumnDef::new(BankTransferStatusHistory::Description)
                .text()
                .null(),
        )
        .col(timestamp(BankTransferStatusHistory::At))
        .foreign_key(
            ForeignKey::create()
                .name("bank_transfer_status_history_bank_transfer_id_fkey")
                .from(
                    BankTransferStatusHistory::Table,
                    BankTransferStatusHistory::BankTransferId,
                )
                .to(BankTransfers::Table, BankTransfers::Id)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("bank_transfers_caller_idempotency_key_key")
            .table(BankTransfers::Table)
            .col(BankTransfers::Caller)
            .col(BankTransfers::IdempotencyKey)
            .unique()
            .to_owned(),
        Index::create()
            .name("bank_transfers_plaid_bank_transfer_id_key")
            .table(BankTransfers::Table)
            .col(BankTransfers::PlaidBankTransferId)
            .unique()
            .to_owned(),
        // Listing: a caller's transfers in id (creation) order, optionally by creation time, by
        // origination account or by direction.
        Index::create()
            .name("bank_transfers_caller_id_idx")
            .table(BankTransfers::Table)
            .col(BankTransfers::Caller)
            .col(BankTransfers::Id)
            .to_owned(),
        Index::create()
            .name("bank_transfers_caller_created_at_idx")
            .table(BankTransfers::Table)
            .col(BankTransfers::Caller)
            .col(BankTransfers::CreatedAt)
            .to_owned(),
        Index::create()
            .name("bank_transfers_caller_origination_account_id_id_idx")
            .table(BankTransfers::Table)
            .col(BankTransfers::Caller)
            .col(BankTransfers::OriginationAccountId)
            .col(BankTransfers::Id)
            .to_owned(),
        Index::create()
            .name("bank_transfers_caller_direction_id_idx")
            .table(BankTransfers::Table)
            .col(BankTransfers::Caller)
            .col(BankTransfers::Direction)
            .col(BankTransfers::Id)
            .to_owned(),
        // The reconciler: PENDING transfers that have not moved for a while.
        Index::create()
            .name("bank_transfers_status_updated_at_idx")
            .table(BankTransfers::Table)
            .col(BankTransfers::Status)
            .col(BankTransfers::UpdatedAt)
            .to_owned(),
        Index::create()
            .name("bank_transfer_status_history_bank_transfer_id_event_id_key")
            .table(BankTransferStatusHistory::Table)
            .col(BankTransferStatusHistory::BankTransferId)
            .col(BankTransferStatusHistory::EventId)
            .unique()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(bank_transfers()).await?;
        manager.create_table(bank_transfer_status_history()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(BankTransferStatusHistory::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BankTransfers::Table).to_owned())
            .await
    }
}
