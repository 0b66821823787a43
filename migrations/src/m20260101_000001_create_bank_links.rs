//! Bank links and their status history. A link is one row per (caller, idempotency key), its ACH
//! relationship id is unique, its status is one of the known strings, and its Plaid tokens are stored
//! only as AEAD ciphertext. The history keeps every status move with its source; a provider event id
//! appears at most once per link, which makes a replayed event a no-op.

use sea_orm_migration::prelude::*;

use crate::BANK_LINK_STATUSES;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BankLinks {
    Table,
    Id,
    Caller,
    IdempotencyKey,
    AccountId,
    PlaidAccountId,
    PlaidItemId,
    Nickname,
    Status,
    StatusReason,
    FailureCode,
    AchRelationshipId,
    AccountOwnerName,
    RelationshipRequestedAt,
    AccessToken,
    ProcessorToken,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BankLinkStatusHistory {
    Table,
    Id,
    LinkId,
    FromStatus,
    ToStatus,
    Reason,
    Source,
    EventId,
    At,
}

/// `CONSTRAINT <name> CHECK (<column> IN (<every known status>))`.
fn known_status(name: &str, column: impl IntoIden + 'static) -> (String, Expr) {
    (
        name.to_owned(),
        Expr::col(column).is_in(BANK_LINK_STATUSES.iter().copied()),
    )
}

fn bank_links() -> TableCreateStatement {
    Table::create()
        .table(BankLinks::Table)
        .col(
            ColumnDef::new(BankLinks::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(BankLinks::Caller).text().not_null())
        .col(ColumnDef::new(BankLinks::IdempotencyKey).text().not_null())
        .col(ColumnDef::new(BankLinks::AccountId).uuid().not_null())
        .col(ColumnDef::new(BankLinks::PlaidAccountId).text().not_null())
        .col(ColumnDef::new(BankLinks::PlaidItemId).text().null())
        .col(ColumnDef::new(BankLinks::Nickname).text().null())
        .col(
            ColumnDef::new(BankLinks::Status)
                .text()
                .not_null()
                .check(known_status("bank_links_status_known", BankLinks::Status)),
        )
        .col(ColumnDef::new(BankLinks::StatusReason).text().null())
        .col(ColumnDef::new(BankLinks::FailureCode).text().null())
        .col(ColumnDef::new(BankLinks::AchRelationshipId).uuid().null())
        .col(ColumnDef::new(BankLinks::AccountOwnerName).text().null())
        .col(
            ColumnDef::new(BankLinks::RelationshipRequestedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(ColumnDef::new(BankLinks::AccessToken).blob().null())
        .col(ColumnDef::new(BankLinks::ProcessorToken).blob().null())
        .col(ColumnDef::new(BankLinks::LeaseOwner).text().null())
        .col(
            ColumnDef::new(BankLinks::LeaseUntil)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(
            ColumnDef::new(BankLinks::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(
            ColumnDef::new(BankLinks::UpdatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

fn bank_link_status_history() -> TableCreateStatement {
    Table::create()
        .table(BankLinkStatusHistory::Table)
        .col(
            ColumnDef::new(BankLinkStatusHistory::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(BankLinkStatusHistory::LinkId)
                .uuid()
                .not_null(),
        )
        .col(
            ColumnDef::new(BankLinkStatusHistory::FromStatus)
                .text()
                .not_null()
                .check(known_status(
                    "bank_link_status_history_from_known",
                    BankLinkStatusHistory::FromStatus,
                )),
        )
        .col(
            ColumnDef::new(BankLinkStatusHistory::ToStatus)
                .text()
                .not_null()
                .check(known_status(
                    "bank_link_status_history_to_known",
                    BankLinkStatusHistory::ToStatus,
                )),
        )
        .col(ColumnDef::new(BankLinkStatusHistory::Reason).text().null())
        .col(
            ColumnDef::new(BankLinkStatusHistory::Source)
                .text()
                .not_null(),
        )
        .col(ColumnDef::new(BankLinkStatusHistory::EventId).text().null())
        .col(
            ColumnDef::new(BankLinkStatusHistory::At)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("bank_link_status_history_link_id_fkey")
                .from(BankLinkStatusHistory::Table, BankLinkStatusHistory::LinkId)
                .to(BankLinks::Table, BankLinks::Id)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("bank_links_caller_idempotency_key_key")
            .table(BankLinks::Table)
            .col(BankLinks::Caller)
            .col(BankLinks::IdempotencyKey)
            .unique()
            .to_owned(),
        Index::create()
            .name("bank_links_ach_relationship_id_key")
            .table(BankLinks::Table)
            .col(BankLinks::AchRelationshipId)
            .unique()
            .to_owned(),
        Index::create()
            .name("bank_links_account_id_id_idx")
            .table(BankLinks::Table)
            .col(BankLinks::AccountId)
            .col(BankLinks::Id)
            .to_owned(),
        Index::create()
            .name("bank_links_status_lease_until_idx")
            .table(BankLinks::Table)
            .col(BankLinks::Status)
            .col(BankLinks::LeaseUntil)
            .to_owned(),
        Index::create()
            .name("bank_link_status_history_link_id_event_id_key")
            .table(BankLinkStatusHistory::Table)
            .col(BankLinkStatusHistory::LinkId)
            .col(BankLinkStatusHistory::EventId)
            .unique()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(bank_links()).await?;
        manager.create_table(bank_link_status_history()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BankLinkStatusHistory::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BankLinks::Table).to_owned())
            .await
    }
}
