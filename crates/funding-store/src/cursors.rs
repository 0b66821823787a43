//! [`CursorStore`] on a [`Store`]: where each provider event stream was read up to, one row per stream,
//! written with an upsert so that the last save wins; and which replica reads it, as a lease taken
//! with one conditional upsert (`ON CONFLICT … DO UPDATE … WHERE` the lease is ours or expired).
//! A lease's expiry is measured by the database's clock (`lease_until_ms`), as work claims are, so
//! a replica whose clock is off can neither take a live lease nor keep an expired one.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::ports::{CursorStore, StoreError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait as _, DatabaseBackend, EntityTrait as _,
    QueryFilter as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::stream_cursor::{ActiveModel, Column, Entity};
use crate::entity::stream_lease;
use crate::error::from_db;
use crate::sql::statement;
use crate::sqlite_reads::ReadOne as _;

#[async_trait]
impl CursorStore for Store {
    #[tracing::instrument(skip_all, fields(stream = stream))]
    async fn load_cursor(&self, stream: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read_one(Entity::find_by_id(stream.to_owned()))
            .await?
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
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let backend = self.db.get_database_backend();
        // `lease_until` says the same instant as `lease_until_ms`, for whoever reads the table.
        let lease_until = match backend {
            DatabaseBackend::Postgres => "to_timestamp(({now_ms} + $3) / 1000.0)",
            _ => "strftime('%Y-%m-%dT%H:%M:%fZ', ({now_ms} + $3) / 1000.0, 'unixepoch')",
        };
        let sql = format!(
            "INSERT INTO stream_leases (stream, owner, lease_until, lease_until_ms) \
             VALUES ($1, $2, {lease_until}, {{now_ms}} + $3) \
             ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner, \
             lease_until = excluded.lease_until, lease_until_ms = excluded.lease_until_ms \
             WHERE stream_leases.owner = excluded.owner OR stream_leases.lease_until_ms <= {{now_ms}}"
        );
        let millis = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let _permit = self.write_permit().await;
        let written = self
            .db
            .execute_raw(statement(
                backend,
                &sql,
                [stream.into(), owner.into(), millis.into()],
            ))
            .await
            .map_err(from_db)?;
        Ok(written.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all, fields(stream = stream, owner = owner))]
    async fn release_stream(&self, stream: &str, owner: &str) -> Result<(), StoreError> {
        let _permit = self.write_permit().await;
        stream_lease::Entity::update_many()
            .col_expr(
                stream_lease::Column::LeaseUntil,
                Expr::value(db_time(DateTime::<Utc>::UNIX_EPOCH)),
            )
            .col_expr(stream_lease::Column::LeaseUntilMs, Expr::value(0i64))
            .filter(stream_lease::Column::Stream.eq(stream))
            .filter(stream_lease::Column::Owner.eq(owner))
            .exec(&self.db)
            .await
            .map_err(from_db)?;
        Ok(())
    }
}
