//! The inbox of Plaid's bank-transfer events: the shared `inbox_events` table under stream
//! [`PLAID_BANK_TRANSFER_STREAM`], each event under its `event_id` (the u64 as a decimal string),
//! entity type `BankTransfer` and Plaid's transfer id, kept as received (`payload`) and as read
//! (`event`, JSON of the port's `PlaidBankTransferEvent`); one that could not be read is kept raw,
//! `unreadable`, with why, under its `event_id` when that much could be read. A batch and the sync cursor
//! (`stream_cursors`, `after_id` as a decimal string) are written in one transaction; the cursor
//! only ever moves forward. Event ids are compared as numbers (shorter decimal first, then
//! lexically: `"9"` before `"10"`) without casting, so every u64 is ordered right on both backends.

use funding_core::ports::{
    InboxState, PLAID_BANK_TRANSFER_STREAM, PendingPlaidEvent, PlaidBankTransferEvent, StoreError,
    SyncedPlaidEvent,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait as _, EntityTrait as _};
use sha2::{Digest as _, Sha256};

use crate::Store;
use crate::convert::db_time;
use crate::entity::stream_cursor;
use crate::error::{corrupt, from_db};
use crate::inbox::{NewInboxRow, insert_events};
use crate::sql::statement;
use crate::sqlite_reads::ReadOne as _;

/// The entity type of every Plaid bank-transfer event.
pub(crate) const ENTITY_TYPE: &str = "BankTransfer";

/// The stored cursor is replaced only by a larger one (both canonical decimal strings).
const CURSOR_MOVES_FORWARD: &str = "length(stream_cursors.cursor) < length(excluded.cursor) \
     OR (length(stream_cursors.cursor) = length(excluded.cursor) \
     AND stream_cursors.cursor < excluded.cursor)";

/// The key an unreadable event without a readable `event_id` is kept under: a digest of its JSON,
/// so the same bytes are kept once (never a decimal string: it cannot take a real event's place).
fn unreadable_key(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    format!("unreadable:{}", hex::encode(&digest[..16]))
}

pub(super) async fn store_plaid_events(
    store: &Store,
    events: Vec<SyncedPlaidEvent>,
    after_id: u64,
) -> Result<u64, StoreError> {
    let mut rows = Vec::with_capacity(events.len());
    for synced in events {
        let row = match synced.event {
            Ok(event) => {
                let json = serde_json::to_string(&event).map_err(|error| {
                    StoreError::Other(format!("a Plaid event as JSON: {error}"))
                })?;
                NewInboxRow {
                    stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
                    event_id: event.event_id.to_string(),
                    entity_type: Some(ENTITY_TYPE.to_owned()),
                    entity_id: Some(event.bank_transfer_id.as_str().to_owned()),
                    payload: synced.raw,
                    event: Some(json),
                    state: InboxState::Pending,
                    error: None,
                }
            }
            Err(error) => NewInboxRow {
                stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
                event_id: synced
                    .event_id
                    .map_or_else(|| unreadable_key(&synced.raw), |id| id.to_string()),
                entity_type: None,
                entity_id: None,
                payload: synced.raw,
                event: None,
                state: InboxState::Unreadable,
                error: Some(error),
            },
        };
        rows.push(row);
    }
    let (_permit, txn) = store.begin_write().await?;
    let new = insert_events(&txn, rows).await?;
    let row = stream_cursor::ActiveModel {
        stream: Set(PLAID_BANK_TRANSFER_STREAM.to_owned()),
        cursor: Set(after_id.to_string()),
        updated_at: Set(db_time(store.clock.now())),
    };
    stream_cursor::Entity::insert(row)
        .on_conflict(
            OnConflict::column(stream_cursor::Column::Stream)
                .update_columns([
                    stream_cursor::Column::Cursor,
                    stream_cursor::Column::UpdatedAt,
                ])
                .action_and_where(Expr::cust(CURSOR_MOVES_FORWARD))
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(from_db)?;
    txn.commit().await.map_err(from_db)?;
    Ok(new)
}

pub(super) async fn pending_plaid_events(
    store: &Store,
    limit: u32,
) -> Result<Vec<PendingPlaidEvent>, StoreError> {
    let rows = store
        .db
        .query_all_raw(statement(
            store.db.get_database_backend(),
            "SELECT event_id, event, attempts FROM inbox_events \
             WHERE stream = $1 AND state = 'pending' \
             ORDER BY length(event_id), event_id LIMIT $2",
            [PLAID_BANK_TRANSFER_STREAM.into(), i64::from(limit).into()],
        ))
        .await
        .map_err(from_db)?;
    rows.into_iter()
        .map(|row| {
            let event_id: String = row.try_get("", "event_id").map_err(from_db)?;
            let json: Option<String> = row.try_get("", "event").map_err(from_db)?;
            let attempts: i32 = row.try_get("", "attempts").map_err(from_db)?;
            let event: PlaidBankTransferEvent = json
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .filter(|event: &PlaidBankTransferEvent| event.event_id.to_string() == event_id)
                .ok_or_else(|| corrupt("inbox_events", &event_id, "event is not readable"))?;
            Ok(PendingPlaidEvent {
                event,
                attempts: u32::try_from(attempts).unwrap_or(0),
            })
        })
        .collect()
}

pub(super) async fn plaid_sync_cursor(store: &Store) -> Result<u64, StoreError> {
    let row = store
        .read_one(stream_cursor::Entity::find_by_id(
            PLAID_BANK_TRANSFER_STREAM.to_owned(),
        ))
        .await?;
    match row {
        None => Ok(0),
        Some(row) => row.cursor.parse().map_err(|_| {
            corrupt(
                "stream_cursors",
                PLAID_BANK_TRANSFER_STREAM,
                "cursor is not a Plaid event id",
            )
        }),
    }
}
