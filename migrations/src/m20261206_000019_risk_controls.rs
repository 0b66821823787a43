//! Risk controls before money moves (DESIGN §11) and the audit trail (§5, §12).
//!
//! - `transfers.status` (and the status columns of its history and change log) admits
//!   `PENDING_REVIEW`: a transfer held for an operator's review, sent only once approved.
//!   PostgreSQL replaces the CHECKs. SQLite cannot alter a CHECK, and rebuilding `transfers` would
//!   mean dropping a table others reference; a CHECK that admits one more value changes nothing
//!   stored, so its text is rewritten in the schema (SQLite's documented procedure for such
//!   changes: `writable_schema`, then a new schema version so every connection reloads it).
//! - `transfers.risk_decision`: the decision the checks made (verdict, rule, reason, figures), as
//!   JSON; `NULL` until the checks ran. What the limits count is the decided transfers.
//! - The same on the Plaid rail: `bank_transfers.status` and its history's admit `pending_review`
//!   (a debit held for review, sent only once approved), rewritten the same way, and
//!   `bank_transfers.risk_decision` keeps the decision on a bank transfer.
//! - `account_funding`: an account's frozen state (and, later, what else is kept per account).
//! - `account_limits`: the per-account overrides of the configured limits, per rail and direction,
//!   in cents.
//! - `reviews`: one per held resource, open until approved, rejected or expired.
//! - `audit_events`: append-only, numbered without gaps, each holding its predecessor's hash.
//! - `work_items.kind` admits `transfer_returned`: the work an ACH return starts (DESIGN §12).
//! - `outbox.resource` admits `account`: a freeze or an unfreeze is a status event too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::{
    BANK_TRANSFER_STATUSES, BANK_TRANSFER_STATUSES_WITH_REVIEW, TRANSFER_STATUSES,
    TRANSFER_STATUSES_WITH_REVIEW, WORK_KINDS, WORK_KINDS_WITH_RETURNS,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transfers {
    Table,
    RiskDecision,
}

#[derive(DeriveIden)]
enum BankTransfers {
    Table,
    RiskDecision,
}

#[derive(DeriveIden)]
enum AccountFunding {
    Table,
    AccountId,
    Frozen,
    FrozenReason,
    FrozenBy,
    FrozenAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccountLimits {
    Table,
    AccountId,
    Rail,
    Direction,
    PerTransferSoft,
    PerTransferHard,
    DailySoft,
    DailyHard,
    #[sea_orm(iden = "rolling_30_days_soft")]
    Rolling30DaysSoft,
    #[sea_orm(iden = "rolling_30_days_hard")]
    Rolling30DaysHard,
    UpdatedBy,
    Reason,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    Resource,
    ResourceId,
    AccountId,
    State,
    Rule,
    Reason,
    Detail,
    Amount,
    CreatedAt,
    ExpiresAtMs,
    DecidedAt,
    DecidedBy,
    Note,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    AtMs,
    Actor,
    Action,
    Resource,
    AccountId,
    Reason,
    Details,
    PrevHash,
    Hash,
}

/// The review states the `reviews.state` CHECK accepts.
pub const REVIEW_STATES: &[&str] = &["open", "approved", "rejected", "expired"];

/// CHECKs that all admit the same list of values (one rail's statuses, the work kinds, …).
struct StatusChecks {
    /// Whose, in an error message: `transfers'`, `bank transfers'`.
    whose: &'static str,
    /// (table, constraint, column) of each CHECK.
    checks: &'static [(&'static str, &'static str, &'static str)],
    /// The tables holding them, each once.
    tables: &'static [&'static str],
}

/// The status CHECKs on the transfers' tables (the Alpaca rail).
const TRANSFER_CHECKS: StatusChecks = StatusChecks {
    whose: "transfers'",
    checks: &[
        ("transfers", "transfers_status_known", "status"),
        (
            "transfer_status_history",
            "transfer_status_history_from_known",
            "from_status",
        ),
        (
            "transfer_status_history",
            "transfer_status_history_to_known",
            "to_status",
        ),
        (
            "transfer_changes",
            "transfer_changes_status_known",
            "status",
        ),
    ],
    tables: &["transfers", "transfer_status_history", "transfer_changes"],
};

/// The status CHECKs on the bank transfers' tables (the Plaid rail), as migration 000010 made
/// them.
const BANK_TRANSFER_CHECKS: StatusChecks = StatusChecks {
    whose: "bank transfers'",
    checks: &[
        ("bank_transfers", "bank_transfers_status_known", "status"),
        (
            "bank_transfer_status_history",
            "bank_transfer_status_history_status_known",
            "status",
        ),
    ],
    tables: &["bank_transfers", "bank_transfer_status_history"],
};

/// `work_items.kind`: `transfer_returned`, the work an ACH return starts (DESIGN §12).
const WORK_KIND_CHECKS: StatusChecks = StatusChecks {
    whose: "work items' kind",
    checks: &[("work_items", "work_items_kind_known", "kind")],
    tables: &["work_items"],
};

/// `outbox.resource`: `account`, a freeze or an unfreeze being a status event too.
const OUTBOX_CHECKS: StatusChecks = StatusChecks {
    whose: "outbox's resource",
    checks: &[("outbox", "outbox_resource_known", "resource")],
    tables: &["outbox"],
};

/// The outbox's resources as migration 000011 made them, and with `account`.
const OUTBOX_RESOURCES: &[&str] = &["bank_link", "transfer", "bank_transfer"];
const OUTBOX_RESOURCES_WITH_ACCOUNT: &[&str] =
    &["bank_link", "transfer", "bank_transfer", "account"];

/// `'A', 'B', …`.
fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|value| format!("'{value}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes the CHECKs of `rail` admit `to` instead of `from` (every value of `from` is in `to`, or
/// the other way round for `down`).
async fn admit_statuses(
    manager: &SchemaManager<'_>,
    rail: &StatusChecks,
    from: &[&str],
    to: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DatabaseBackend::Postgres => {
            for (table, constraint, column) in rail.checks {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {constraint}, \
                     ADD CONSTRAINT {constraint} CHECK ({column} IN ({}))",
                    quoted(to)
                ))
                .await?;
            }
        }
        _ => {
            let version = db
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    "PRAGMA schema_version",
                ))
                .await?
                .ok_or_else(|| DbErr::Migration("SQLite has no schema version".to_owned()))?
                .try_get_by_index::<i64>(0)?;
            let (old, new) = (quoted(from), quoted(to));
            let tables = quoted(rail.tables);
            // One string, so that every statement runs on the same connection.
            db.execute_unprepared(&format!(
                "PRAGMA writable_schema = ON; \
                 UPDATE sqlite_master SET sql = replace(sql, '{old_sql}', '{new_sql}') \
                 WHERE type = 'table' AND name IN ({tables}); \
                 PRAGMA schema_version = {next}; \
                 PRAGMA writable_schema = OFF;",
                old_sql = old.replace('\'', "''"),
                new_sql = new.replace('\'', "''"),
                next = version + 1,
            ))
            .await?;
            // Every CHECK was found and rewritten.
            let rewritten = db
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    format!(
                        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                         AND name IN ({tables}) AND instr(sql, '{}') > 0",
                        new.replace('\'', "''")
                    ),
                ))
                .await?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0);
            let expected = rail.tables.len() as i64;
            if rewritten != expected {
                return Err(DbErr::Migration(format!(
                    "the {} CHECKs were not all rewritten ({rewritten} of {expected} tables)",
                    rail.whose
                )));
            }
        }
    }
    Ok(())
}

fn limit_column(column: AccountLimits) -> ColumnDef {
    ColumnDef::new(column).big_integer().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        admit_statuses(
            manager,
            &TRANSFER_CHECKS,
            TRANSFER_STATUSES,
            TRANSFER_STATUSES_WITH_REVIEW,
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Transfers::Table)
                    .add_column(ColumnDef::new(Transfers::RiskDecision).text().null())
                    .to_owned(),
            )
            .await?;
        admit_statuses(
            manager,
            &BANK_TRANSFER_CHECKS,
            BANK_TRANSFER_STATUSES,
            BANK_TRANSFER_STATUSES_WITH_REVIEW,
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BankTransfers::Table)
                    .add_column(ColumnDef::new(BankTransfers::RiskDecision).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountFunding::Table)
                    .col(
                        ColumnDef::new(AccountFunding::AccountId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AccountFunding::Frozen)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(AccountFunding::FrozenReason).text().null())
                    .col(ColumnDef::new(AccountFunding::FrozenBy).text().null())
                    .col(
                        ColumnDef::new(AccountFunding::FrozenAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccountFunding::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountLimits::Table)
                    .col(ColumnDef::new(AccountLimits::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(AccountLimits::Rail)
                            .text()
                            .not_null()
                            .check((
                                "account_limits_rail_known",
                                Expr::col(AccountLimits::Rail).is_in(["alpaca", "plaid"]),
                            )),
                    )
                    .col(
                        ColumnDef::new(AccountLimits::Direction)
                            .text()
                            .not_null()
                            .check((
                                "account_limits_direction_known",
                                Expr::col(AccountLimits::Direction).is_in([
                                    "deposit",
                                    "withdrawal",
                                    "debit",
                                    "credit",
                                ]),
                            )),
                    )
                    .col(limit_column(AccountLimits::PerTransferSoft))
                    .col(limit_column(AccountLimits::PerTransferHard))
                    .col(limit_column(AccountLimits::DailySoft))
                    .col(limit_column(AccountLimits::DailyHard))
                    .col(limit_column(AccountLimits::Rolling30DaysSoft))
                    .col(limit_column(AccountLimits::Rolling30DaysHard))
                    .col(ColumnDef::new(AccountLimits::UpdatedBy).text().not_null())
                    .col(ColumnDef::new(AccountLimits::Reason).text().not_null())
                    .col(
                        ColumnDef::new(AccountLimits::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(AccountLimits::AccountId)
                            .col(AccountLimits::Rail)
                            .col(AccountLimits::Direction),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reviews::Table)
                    .col(ColumnDef::new(Reviews::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Reviews::Resource).text().not_null().check((
                        "reviews_resource_known",
                        Expr::col(Reviews::Resource).is_in([
                            "transfer",
                            "bank_transfer",
                            "bank_link",
                        ]),
                    )))
                    .col(ColumnDef::new(Reviews::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(Reviews::AccountId).uuid().null())
                    .col(ColumnDef::new(Reviews::State).text().not_null().check((
                        "reviews_state_known",
                        Expr::col(Reviews::State).is_in(REVIEW_STATES.iter().copied()),
                    )))
                    .col(ColumnDef::new(Reviews::Rule).text().not_null())
                    .col(ColumnDef::new(Reviews::Reason).text().null())
                    .col(ColumnDef::new(Reviews::Detail).text().not_null())
                    .col(ColumnDef::new(Reviews::Amount).text().null())
                    .col(
                        ColumnDef::new(Reviews::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Reviews::ExpiresAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Reviews::DecidedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Reviews::DecidedBy).text().null())
                    .col(ColumnDef::new(Reviews::Note).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reviews_resource_idx")
                    .table(Reviews::Table)
                    .col(Reviews::Resource)
                    .col(Reviews::ResourceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reviews_state_expires_idx")
                    .table(Reviews::Table)
                    .col(Reviews::State)
                    .col(Reviews::ExpiresAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::AtMs).big_integer().not_null())
                    .col(ColumnDef::new(AuditEvents::Actor).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Action).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Resource).text().not_null())
                    .col(ColumnDef::new(AuditEvents::AccountId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Reason).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Details).text().not_null())
                    .col(ColumnDef::new(AuditEvents::PrevHash).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Hash).text().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("audit_events_account_idx", AuditEvents::AccountId),
            ("audit_events_resource_idx", AuditEvents::Resource),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .col(AuditEvents::Seq)
                        .to_owned(),
                )
                .await?;
        }
        admit_statuses(
            manager,
            &WORK_KIND_CHECKS,
            WORK_KINDS,
            WORK_KINDS_WITH_RETURNS,
        )
        .await?;
        admit_statuses(
            manager,
            &OUTBOX_CHECKS,
            OUTBOX_RESOURCES,
            OUTBOX_RESOURCES_WITH_ACCOUNT,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        admit_statuses(
            manager,
            &OUTBOX_CHECKS,
            OUTBOX_RESOURCES_WITH_ACCOUNT,
            OUTBOX_RESOURCES,
        )
        .await?;
        admit_statuses(
            manager,
            &WORK_KIND_CHECKS,
            WORK_KINDS_WITH_RETURNS,
            WORK_KINDS,
        )
        .await?;
        for table in [
            Alias::new("audit_events"),
            Alias::new("reviews"),
            Alias::new("account_limits"),
            Alias::new("account_funding"),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(BankTransfers::Table)
                    .drop_column(BankTransfers::RiskDecision)
                    .to_owned(),
            )
            .await?;
        admit_statuses(
            manager,
            &BANK_TRANSFER_CHECKS,
            BANK_TRANSFER_STATUSES_WITH_REVIEW,
            BANK_TRANSFER_STATUSES,
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Transfers::Table)
                    .drop_column(Transfers::RiskDecision)
                    .to_owned(),
            )
            .await?;
        admit_statuses(
            manager,
            &TRANSFER_CHECKS,
            TRANSFER_STATUSES_WITH_REVIEW,
            TRANSFER_STATUSES,
        )
        .await
    }
}
