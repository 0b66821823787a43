//! A row of `provider_orphans`: a provider resource on our relationships that nothing of ours
//! holds, as the orphan sweep last saw it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_orphans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    /// `transfer` or `relationship`.
    pub kind: String,
    pub account_id: Uuid,
    pub relationship_id: Option<Uuid>,
    /// `Amount`'s Display (a transfer's requested amount).
    pub amount: Option<String>,
    /// `deposit` or `withdrawal`.
    pub direction: Option<String>,
    pub status: String,
    pub provider_created_at: DateTimeUtc,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
