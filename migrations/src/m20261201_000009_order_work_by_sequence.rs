//! Work of one ordering key (an Alpaca account) runs in the order it was accepted, and that order
//! must be the order in which it became visible. `created_at_ms` is not: on PostgreSQL a
//! transaction that read the clock first may commit last, so a newer item could be claimed while
//! an older one, not yet committed, was invisible to the head-of-order check, and two submits of
//! one account ran at once. `order_seq` is drawn per ordering key under a lock held until commit
//! (see `funding-store`'s `insert_work`), so a smaller number is always committed first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkItems {
    Table,
    OrderSeq,
    OrderingKey,
    State,
    CreatedAtMs,
}

const ORDER_INDEX: &str = "work_items_ordering_key_state_order_seq_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkItems::Table)
                    .add_column(
                        ColumnDef::new(WorkItems::OrderSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // Existing work keeps the order it had; new numbers continue above it.
        manager
            .exec_stmt(
                Query::update()
                    .table(WorkItems::Table)
                    .value(WorkItems::OrderSeq, Expr::col(WorkItems::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(ORDER_INDEX)
                    .table(WorkItems::Table)
                    .col(WorkItems::OrderingKey)
                    .col(WorkItems::State)
                    .col(WorkItems::OrderSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ORDER_INDEX)
                    .table(WorkItems::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkItems::Table)
                    .drop_column(WorkItems::OrderSeq)
                    .to_owned(),
            )
            .await
    }
}
