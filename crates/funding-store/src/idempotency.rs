//! Claiming an idempotency key, inside the caller's transaction: `INSERT … ON CONFLICT DO NOTHING`
//! on (caller, operation, key). A repeat is answered before that, by [`find_claimed`]: a plain read
//! outside any write transaction (the record and its resource commit together, so a record that
//! is seen has its resource), and so a replay never waits for the write lock or makes a commit. On PostgreSQL a concurrent claim waits for the first transaction
//! and then sees its row; on SQLite the transaction holds the write lock from its start. Either way
//! exactly one caller claims the key, and every other reads back the fingerprint and the resource
//! id of the first.

use chrono::{DateTime, Utc};
use funding_core::ports::{IdempotencyClaim, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait as _};
use uuid::Uuid;

use crate::entity::idempotency_record;
use crate::error::{corrupt, from_db};
use crate::sqlite_reads::ReadOne;

/// What claiming the key found.
pub(crate) enum Claimed {
    /// The key was new: the resource `resource_id` is the caller's to store now.
    New,
    /// The key was used before, for this request fingerprint and resource.
    Existing {
        fingerprint: String,
        resource_id: Uuid,
    },
}

pub(crate) async fn claim_key(
    txn: &DatabaseTransaction,
    claim: IdempotencyClaim,
    resource_id: Uuid,
    created_at: DateTime<Utc>,
) -> Result<Claimed, StoreError> {
    let record = idempotency_record::ActiveModel {
        caller: Set(claim.caller.clone()),
        operation: Set(claim.operation.to_owned()),
        idempotency_key: Set(claim.key.clone()),
        fingerprint: Set(claim.fingerprint.clone()),
        resource_id: Set(resource_id.to_string()),
        created_at: Set(created_at),
    };
    // sea-orm 2 reports a DO NOTHING conflict as zero rows affected (not as an error): the row
    // count decides, and the concurrency tests pin it.
    let claimed = idempotency_record::Entity::insert(record)
        .on_conflict(
            OnConflict::columns([
                idempotency_record::Column::Caller,
                idempotency_record::Column::Operation,
                idempotency_record::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(from_db)?;
    if claimed == 1 {
        return Ok(Claimed::New);
    }
    find_claimed(txn, &claim)
        .await?
        .ok_or_else(|| StoreError::NotFound("the idempotency record that conflicted".into()))
}

/// The record of `claim`'s key if it was claimed before ([`Claimed::Existing`]), read with `db`
/// (the store, for the read-first answer to a repeat; or the claiming transaction).
pub(crate) async fn find_claimed(
    db: &impl ReadOne,
    claim: &IdempotencyClaim,
) -> Result<Option<Claimed>, StoreError> {
    let Some(record) = db
        .read_one(idempotency_record::Entity::find_by_id((
            claim.caller.clone(),
            claim.operation.to_owned(),
            claim.key.clone(),
        )))
        .await?
    else {
        return Ok(None);
    };
    let resource_id = Uuid::try_parse(&record.resource_id).map_err(|_| {
        corrupt(
            "idempotency_records",
            &record.resource_id,
            "resource id is not a UUID",
        )
    })?;
    Ok(Some(Claimed::Existing {
        fingerprint: record.fingerprint,
        resource_id,
    }))
}
