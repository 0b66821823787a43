//! [`CursorStore`] on a [`Store`]: where each provider event stream was read up to, one row per stream,
//! written with an upsert so that the last save wins.

use async_trait::async_trait;
use funding_core::ports::{CursorStore, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait as _};

use crate::Store;
use crate::convert::db_time;
use crate::entity::stream_cursor::{ActiveModel, Column, Entity};
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
}
