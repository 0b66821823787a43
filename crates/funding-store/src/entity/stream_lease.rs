//! A row of `stream_leases`: which replica reads one provider event stream, and until when (epoch
//! milliseconds of the database's clock; `lease_until` says the same instant as a time).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub stream: String,
    pub owner: String,
    pub lease_until: DateTimeUtc,
    pub lease_until_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
