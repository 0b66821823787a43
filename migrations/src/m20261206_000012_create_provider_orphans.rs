//! Provider resources on our relationships that nothing of ours holds (DESIGN §4.2, §9): an Alpaca
//! transfer over one of our links' relationships, or an ACH relationship on an account we link,
//! that no transfer or link of ours holds and no unresolved request of ours may still adopt. The
//! reconciler's orphan sweep writes them, account by account (each sweep replaces the account's
//! rows), so that a create that landed late is never silent: operators list them
//! (`ListProviderOrphans`, `fundingctl orphans`) and a gauge counts them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProviderOrphans {
    Table,
    ProviderId,
    Kind,
    AccountId,
    RelationshipId,
    Amount,
    Direction,
    Status,
    ProviderCreatedAt,
    FirstSeenAt,
    LastSeenAt,
}

/// What the `provider_orphans.kind` CHECK accepts.
const KINDS: &[&str] = &["transfer", "relationship"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderOrphans::Table)
                    .col(
                        ColumnDef::new(ProviderOrphans::ProviderId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ProviderOrphans::Kind)
                            .text()
                            .not_null()
                            .check((
                                "provider_orphans_kind_known",
                                Expr::col(ProviderOrphans::Kind).is_in(KINDS.iter().copied()),
                            )),
                    )
                    .col(ColumnDef::new(ProviderOrphans::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(ProviderOrphans::RelationshipId)
                            .uuid()
                            .null(),
                    )
                    // A transfer's requested amount, `Amount`'s Display; NULL for a relationship.
                    .col(ColumnDef::new(ProviderOrphans::Amount).text().null())
                    // `deposit` or `withdrawal`; NULL for a relationship.
                    .col(ColumnDef::new(ProviderOrphans::Direction).text().null())
                    .col(ColumnDef::new(ProviderOrphans::Status).text().not_null())
                    .col(
                        ColumnDef::new(ProviderOrphans::ProviderCreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProviderOrphans::FirstSeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProviderOrphans::LastSeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("provider_orphans_account_idx")
                    .table(ProviderOrphans::Table)
                    .col(ProviderOrphans::AccountId)
                    .col(ProviderOrphans::ProviderId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProviderOrphans::Table).to_owned())
            .await
    }
}
