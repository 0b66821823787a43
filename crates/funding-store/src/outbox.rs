//! The transactional outbox (DESIGN §9): [`record`] appends a row in the caller's transaction — the
//! one that appends the status-history entry — so a change has a row exactly when it committed;
//! [`OutboxStore`] lets the publisher read the unpublished rows oldest first and mark them. Rows are
//! kept once published (they are small and the partial index skips them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::ports::{OutboxEntry, OutboxResource, OutboxStore, StoreError};
use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

use crate::Store;
use crate::convert::db_time;
use crate::error::{corrupt, from_db};
use crate::sql::statement;

/// In the caller's transaction: the outbox row of the history entry `id` (its status as the domain
/// stores it; the row keeps it lowercase, as the API names it).
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    id: String,
    resource: OutboxResource,
    resource_id: Uuid,
    status: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let values: Vec<Value> = vec![
        id.into(),
        resource.as_str().into(),
        resource_id.into(),
        status.to_ascii_lowercase().into(),
        db_time(at).into(),
    ];
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO outbox (id, resource, resource_id, status, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        values,
    ))
    .await
    .map_err(from_db)?;
    Ok(())
}

/// One outbox row: the history entry's id, the resource, its id, its status, when.
pub(crate) type OutboxRow<'a> = (String, OutboxResource, Uuid, &'a str, DateTime<Utc>);

/// In the caller's transaction: the outbox rows of many history entries, in order, 200 to a
/// statement (as [`record`] writes each).
pub(crate) async fn record_many(
    db: &impl ConnectionTrait,
    rows: Vec<OutboxRow<'_>>,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(200) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for (id, resource, resource_id, status, at) in chunk {
            values.extend::<[Value; 5]>([
                id.clone().into(),
                resource.as_str().into(),
                (*resource_id).into(),
                status.to_ascii_lowercase().into(),
                db_time(*at).into(),
            ]);
        }
        db.execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "INSERT INTO outbox (id, resource, resource_id, status, created_at) VALUES {}",
                crate::sql::tuples(chunk.len(), 5)
            ),
            values,
        ))
        .await
        .map_err(from_db)?;
    }
    Ok(())
}

#[async_trait]
impl OutboxStore for Store {
    async fn unpublished_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        // On PostgreSQL a transfer change's outbox row is written when the change is numbered.
        crate::transfers::number_committed(&self.db).await?;
        let limit = i64::from(limit.clamp(1, 1000));
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                "SELECT seq, id, resource, resource_id, status, payload, created_at FROM outbox \
                 WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                [limit.into()],
            ))
            .await
            .map_err(from_db)?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.try_get("", "seq").map_err(from_db)?;
                let resource: String = row.try_get("", "resource").map_err(from_db)?;
                Ok(OutboxEntry {
                    seq,
                    id: row.try_get("", "id").map_err(from_db)?,
                    resource: OutboxResource::from_stored(&resource)
                        .ok_or_else(|| corrupt("outbox", seq, "unknown resource"))?,
                    resource_id: row.try_get("", "resource_id").map_err(from_db)?,
                    status: row.try_get("", "status").map_err(from_db)?,
                    payload: row.try_get("", "payload").map_err(from_db)?,
                    created_at: row.try_get("", "created_at").map_err(from_db)?,
                })
            })
            .collect()
    }

    async fn mark_outbox_published(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let _permit = self.write_permit().await;
        self.db
            .execute_raw(statement(
                self.db.get_database_backend(),
                "UPDATE outbox SET published_at = $1 WHERE id = $2 AND published_at IS NULL",
                [db_time(at).into(), id.into()],
            ))
            .await
            .map_err(from_db)?;
        Ok(())
    }

    async fn prune_outbox(
        &self,
        published_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let _permit = self.write_permit().await;
        let limit = i64::from(limit.clamp(1, 10_000));
        let result = self
            .db
            .execute_raw(statement(
                self.db.get_database_backend(),
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                 WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY seq LIMIT $2)",
                [db_time(published_before).into(), limit.into()],
            ))
            .await
            .map_err(from_db)?;
        Ok(result.rows_affected())
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one_raw(statement(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL",
                [],
            ))
            .await
            .map_err(from_db)?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n").map_err(from_db)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
