//! [`CursorStore`] on a [`Store`]: where each provider event stream was read up to, one row per stream,
//! written with an upsert so that the last save wins; and which replica reads it, as a lease taken
//! with one conditional upsert (`ON CONFLICT … DO UPDATE … WHERE` the lease is ours or expired).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::ports::{CursorStore, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use crate::Store;
use crate::convert::db_time;
use crate::entity::stream_cursor::{ActiveModel, Column, Entity};
use crate::entity::stream_lease;
use crate::error::from_db;

#[async_trait]
impl CursorStore for Store {
    #[tracing::instrument(skip_all, fields(stream = stream))]
    async fn load_cursor(&self, stream: &str) -> Result<Option<String>, StoreError> {
        Ok(Entity::find_by_id(stream.to_owned())
            .one(&self.db)
            .await
            .map_err(from_db)?
            .map(|row| row.cursor))
    }

    #[tracing::instrument(skip_all, fields(stream = stream, cursor = cursor))]
    async fn save_cursor(&self, stream: &str, cursor: &str) -> Result<(), StoreError> {
        let _permit = self.write_permit().await;
        let row = ActiveModel {
            stream: Set(stream.to_owned()),
            cursor: Set(cursor.to_owned()),
            updated_at: Set(db_time(self.clock.now())),
        };
        Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::Stream)
                    .update_columns([Column::Cursor, Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(from_db)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(stream = stream, owner = owner))]
    async fn claim_stream(
        &self,
        stream: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _permit = self.write_permit().await;
        let now = db_time(self.clock.now());
        let row = stream_lease::ActiveModel {
            stream: Set(stream.to_owned()),
            owner: Set(owner.to_owned()),
            lease_until: Set(db_time(until)),
        };
        let ours_or_expired = Expr::col((stream_lease::Entity, stream_lease::Column::Owner))
            .eq(owner)
            .or(Expr::col((stream_lease::Entity, stream_lease::Column::LeaseUntil)).lte(now));
        let written = stream_lease::Entity::insert(row)
            .on_conflict(
                OnConflict::column(stream_lease::Column::Stream)
                    .update_columns([
                        stream_lease::Column::Owner,
                        stream_lease::Column::LeaseUntil,
                    ])
                    .action_and_where(ours_or_expired)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(from_db)?;
        Ok(written == 1)
    }

    #[tracing::instrument(skip_all, fields(stream = stream, owner = owner))]
    async fn release_stream(&self, stream: &str, owner: &str) -> Result<(), StoreError> {
        let _permit = self.write_permit().await;
        stream_lease::Entity::update_many()
            .col_expr(
                stream_lease::Column::LeaseUntil,
                Expr::value(db_time(DateTime::<Utc>::UNIX_EPOCH)),
            )
            .filter(stream_lease::Column::Stream.eq(stream))
            .filter(stream_lease::Column::Owner.eq(owner))
            .exec(&self.db)
            .await
            .map_err(from_db)?;
        Ok(())
    }
}
