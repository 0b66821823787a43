//! Reading bank links: by id, by ACH relationship, and an account's links page by page in id order
//! (ids are UUIDv7, so id order is creation order).

use funding_core::model::BankLink;
use funding_core::ports::{LinkPage, LinkPageRequest, StoreError};
use funding_domain::{AccountId, AchRelationshipId, BankLinkId};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::entity::bank_link::{Column, Entity};
use crate::error::from_db;
use crate::sqlite_reads::ReadOne as _;

/// The largest page served, whatever is asked.
pub(super) const MAX_PAGE_SIZE: u32 = 500;

pub(super) async fn get_link(
    store: &Store,
    id: BankLinkId,
) -> Result<Option<BankLink>, StoreError> {
    store
        .read_one(Entity::find_by_id(id.as_uuid()))
        .await?
        .map(BankLink::try_from)
        .transpose()
}

pub(super) async fn find_link_by_relationship(
    store: &Store,
    id: AchRelationshipId,
) -> Result<Option<BankLink>, StoreError> {
    store
        .read_one(Entity::find().filter(Column::AchRelationshipId.eq(id.as_uuid())))
        .await?
        .map(BankLink::try_from)
        .transpose()
}

pub(super) async fn find_replacement(
    store: &Store,
    old: BankLinkId,
) -> Result<Option<BankLink>, StoreError> {
    store
        .read_one(Entity::find().filter(Column::ReplacesBankLinkId.eq(old.as_uuid())))
        .await?
        .map(BankLink::try_from)
        .transpose()
}

pub(super) async fn list_links(
    store: &Store,
    account_id: AccountId,
    page: LinkPageRequest,
) -> Result<LinkPage<BankLink>, StoreError> {
    let size = page.size.clamp(1, MAX_PAGE_SIZE) as usize;
    let mut query = Entity::find()
        .filter(Column::AccountId.eq(account_id.as_uuid()))
        .order_by_asc(Column::Id)
        .limit(size as u64 + 1);
    if let Some(after) = page.after {
        query = query.filter(Column::Id.gt(after.as_uuid()));
    }
    let mut rows = query.all(&store.db).await.map_err(from_db)?;
    let more = rows.len() > size;
    rows.truncate(size);
    let items = rows
        .into_iter()
        .map(BankLink::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_after = if more {
        items.last().map(|link| link.id)
    } else {
        None
    };
    Ok(LinkPage { items, next_after })
}
