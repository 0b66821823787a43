//! A row of `bank_transfer_status_history`: one status a bank transfer took, where the move came
//! from, the failure it carried, and the Plaid event that reported it (unique per transfer).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bank_transfer_status_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub bank_transfer_id: Uuid,
    pub status: String,
    pub source: String,
    pub event_id: Option<String>,
    pub ach_return_code: Option<String>,
    pub description: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
