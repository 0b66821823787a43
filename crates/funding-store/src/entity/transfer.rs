//! A row of `transfers`: every field of an Alpaca transfer of this service, its amount as the
//! canonical decimal string and its direction as `deposit` or `withdrawal`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub caller: String,
    pub idempotency_key: String,
    pub account_id: Uuid,
    pub bank_link_id: Uuid,
    pub relationship_id: Uuid,
    /// `Amount`'s Display: `"100.00"`.
    pub amount: String,
    /// `deposit` or `withdrawal`.
    pub direction: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub ach_return_code: Option<String>,
    pub failure_code: Option<String>,
    pub provider_transfer_id: Option<Uuid>,
    pub submit_requested_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the reconciler last took the row to look it up; NULL: never.
    pub reconciled_at: Option<DateTimeUtc>,
    /// Why that look left it unresolved (`unchanged`, `missing`, `lookup_failed`,
    /// `unknown_status`); NULL: nothing wrong.
    pub reconcile_issue: Option<String>,
    /// What the risk checks decided (JSON, `RiskDecision`); NULL until they ran.
    pub risk_decision: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
