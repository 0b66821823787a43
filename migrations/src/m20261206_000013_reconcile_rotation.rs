//! The reconciler rotates through everything in flight (DESIGN §9): each transfer, bank transfer
//! and bank link keeps when the reconciler last took it (`reconciled_at`, NULL: never), and a pass
//! takes the due rows least recently looked at first, so that no row waits behind others that never
//! resolve. `reconcile_issue` is why the last look left it unresolved (NULL: nothing wrong), one of
//! [`RECONCILE_ISSUES`](crate::RECONCILE_ISSUES); the gauge `funding_reconciler_unresolved` counts
//! them.

use sea_orm_migration::prelude::*;

use crate::RECONCILE_ISSUES;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transfers {
    Table,
}

#[derive(DeriveIden)]
enum BankTransfers {
    Table,
}

#[derive(DeriveIden)]
enum BankLinks {
    Table,
}

#[derive(DeriveIden)]
enum Columns {
    ReconciledAt,
    ReconcileIssue,
}

/// The tables, each with the name of its `reconcile_issue` CHECK.
fn tables() -> [(DynIden, &'static str); 3] {
    [
        (
            Transfers::Table.into_iden(),
            "transfers_reconcile_issue_known",
        ),
        (
            BankTransfers::Table.into_iden(),
            "bank_transfers_reconcile_issue_known",
        ),
        (
            BankLinks::Table.into_iden(),
            "bank_links_reconcile_issue_known",
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters a table one change at a time.
        for (table, check) in tables() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(
                            ColumnDef::new(Columns::ReconciledAt)
                                .timestamp_with_time_zone()
                                .null(),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(Columns::ReconcileIssue)
                                .text()
                                .null()
                                .check((
                                    check.to_owned(),
                                    Expr::col(Columns::ReconcileIssue)
                                        .is_in(RECONCILE_ISSUES.iter().copied()),
                                )),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in tables() {
            for column in [Columns::ReconcileIssue, Columns::ReconciledAt] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(table.clone())
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
