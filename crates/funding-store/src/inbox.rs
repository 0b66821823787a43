//! [`InboxStore`] on a [`Store`]: the `inbox_events` table. A batch of events and the stream's
//! cursor are written in one transaction (`INSERT … ON CONFLICT DO NOTHING`, so an event read twice
//! is stored once); the applier reads pending events in the order they arrived and records what
//! each did. The event is kept as received (`payload`) and as read (`event`, JSON of the port's
//! `FundingEvent`), or raw only when it could not be read.

use std::time::Duration;

use async_trait::async_trait;
use funding_core::ports::{
    FundingEvent, InboxEvent, InboxMark, InboxState, InboxStats, InboxStore, IncomingEvent,
    PLAID_BANK_TRANSFER_STREAM, StoreError,
};
use sea_orm::Value;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait as _,
};

use crate::Store;
use crate::convert::db_time;
use crate::entity::stream_cursor;
use crate::error::{corrupt, from_db};
use crate::sql::statement;

/// The states of events waiting for their subject: parked, or classed foreign after the grace
/// period (a subject stored late brings those back too).
const WAITING_FOR_SUBJECT: &str = "state IN ('parked_no_subject', 'foreign')";

/// In the caller's transaction (the one that stores the subject): the events parked for lack of
/// `entity_id` (or classed foreign) are pending again. Takes its turn with parks ([`PARK_LOCK`]).
pub(crate) async fn unpark(db: &DatabaseTransaction, entity_id: &str) -> Result<u64, StoreError> {
    crate::sql::lock_shared_for_transaction(db, PARK_LOCK).await?;
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE inbox_events SET state = 'pending' WHERE entity_id = $1 AND {WAITING_FOR_SUBJECT}"
            ),
            [entity_id.into()],
        ))
        .await
        .map_err(from_db)?;
    Ok(result.rows_affected())
}

/// In the caller's transaction (the one that stores the subject): the events of `stream` parked
/// for lack of `entity_id` (or classed foreign) are pending again. Takes its turn with parks
/// ([`PARK_LOCK`]).
pub(crate) async fn unpark_in(
    db: &DatabaseTransaction,
    stream: &str,
    entity_id: &str,
) -> Result<u64, StoreError> {
    crate::sql::lock_shared_for_transaction(db, PARK_LOCK).await?;
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE inbox_events SET state = 'pending' \
                 WHERE stream = $1 AND entity_id = $2 AND {WAITING_FOR_SUBJECT}"
            ),
            [stream.into(), entity_id.into()],
        ))
        .await
        .map_err(from_db)?;
    Ok(result.rows_affected())
}

/// The advisory lock (PostgreSQL) a park for lack of a subject holds exclusive, and the save that
/// stores a subject and unparks its events ([`unpark`], [`unpark_in`]) holds shared: parks and
/// unparks take turns, saves run side by side. Without it an applier that read before a subject was
/// saved could park its event after the save had looked for parked events to unpark, and the
/// event waited for the inbox sweep (seen once in CI: one of 32 bank transfers' events).
const PARK_LOCK: &str = "funding:inbox:park";

/// The condition a mark adds when it parks events for lack of their subject: that the subject is
/// still not stored (it may have been since the applier read; then the event stays pending and is
/// applied at the applier's next look). The subjects are those the sweep looks for.
fn unless_subject_stored(backend: DatabaseBackend, state: &InboxState) -> String {
    if *state == InboxState::ParkedNoSubject {
        format!(" AND NOT COALESCE({}, FALSE)", subject_stored(backend))
    } else {
        String::new()
    }
}

/// A mark's update up to its condition on the event ids: `$1`..`$3` are the stream, state and error.
const MARK: &str = "UPDATE inbox_events AS e SET state = $2, error = $3, attempts = attempts + 1, \
     applied_at_ms = CASE WHEN $2 = 'applied' THEN {now_ms} ELSE applied_at_ms END \
     WHERE stream = $1 AND";

/// In the caller's transaction: records every mark (the transaction that applied the events), one
/// statement for each group of marks with the same stream, state and error. A park for lack of a
/// subject holds only while the subject is not stored, and takes its turn with the saves that
/// unpark ([`PARK_LOCK`], held to the end of the caller's transaction).
pub(crate) async fn mark_all(
    db: &DatabaseTransaction,
    marks: &[InboxMark],
) -> Result<(), StoreError> {
    let mut groups: Vec<(&InboxMark, Vec<&str>)> = Vec::new();
    for one in marks {
        match groups.iter_mut().find(|(first, _)| {
            first.stream == one.stream && first.state == one.state && first.error == one.error
        }) {
            Some((_, ids)) => ids.push(&one.event_id),
            None => groups.push((one, vec![&one.event_id])),
        }
    }
    let backend = db.get_database_backend();
    if groups
        .iter()
        .any(|(first, _)| first.state == InboxState::ParkedNoSubject)
    {
        crate::sql::lock_for_transaction(db, PARK_LOCK).await?;
    }
    if backend == DatabaseBackend::Postgres && !groups.is_empty() {
        // Planned for each run, against the table as it is now: see below.
        db.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
            .await
            .map_err(from_db)?;
    }
    for (first, ids) in groups {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            // $1..$3 are the stream, state and error; the ids follow.
            let mut values: Vec<Value> = vec![
                first.stream.clone().into(),
                first.state.as_str().into(),
                first.error.clone().into(),
            ];
            let ids = match backend {
                // The ids as one JSON array, looked up in the primary key by stream and id. A
                // prepared statement's generic plan (PostgreSQL keeps one after five runs) made
                // while the table was nearly empty looked up the stream alone and compared each of
                // its rows with every id: 66 ms for 200 marks on a 20,000-event stream, and more
                // as the stream grows. Planned for each run, with the ids as one array, the lookup
                // takes 1.1 ms there (both measured with EXPLAIN ANALYZE on such a table).
                DatabaseBackend::Postgres => {
                    let list = serde_json::to_string(chunk)
                        .map_err(|e| StoreError::Other(e.to_string()))?;
                    values.push(list.into());
                    "event_id = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST($4 AS jsonb))))"
                        .to_owned()
                }
                _ => {
                    values.extend(chunk.iter().map(|id| Value::from(*id)));
                    let list: Vec<String> =
                        (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
                    format!("event_id IN ({})", list.join(", "))
                }
            };
            let unless = unless_subject_stored(backend, &first.state);
            db.execute_raw(statement(backend, &format!("{MARK} {ids}{unless}"), values))
                .await
                .map_err(from_db)?;
        }
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Rows (or ids) in one multi-row statement at most: well within SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 200;

/// One event to store in the inbox.
pub(crate) struct NewInboxRow {
    pub(crate) stream: String,
    pub(crate) event_id: String,
    pub(crate) entity_type: Option<String>,
    pub(crate) entity_id: Option<String>,
    pub(crate) payload: String,
    /// The event as read (JSON), `None` for an unreadable one.
    pub(crate) event: Option<String>,
    pub(crate) state: InboxState,
    pub(crate) error: Option<String>,
}

/// In the caller's transaction: stores every row not stored before (by stream and event id), in
/// multi-row statements; how many were new.
pub(crate) async fn insert_events(
    db: &impl ConnectionTrait,
    rows: Vec<NewInboxRow>,
) -> Result<u64, StoreError> {
    const WIDTH: usize = 8;
    let backend = db.get_database_backend();
    let mut new = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<NewInboxRow> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let tuples: Vec<String> = (0..chunk.len())
            .map(|row| {
                let names: Vec<String> = (1..=WIDTH)
                    .map(|column| format!("${}", row * WIDTH + column))
                    .collect();
                format!("({}, 0, {{now_ms}})", names.join(", "))
            })
            .collect();
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * WIDTH);
        for row in chunk {
            values.extend([
                row.stream.into(),
                row.event_id.into(),
                row.entity_type.into(),
                row.entity_id.into(),
                row.payload.into(),
                row.event.into(),
                row.state.as_str().into(),
                row.error.into(),
            ]);
        }
        let result = db
            .execute_raw(statement(
                backend,
                &format!(
                    "INSERT INTO inbox_events (stream, event_id, entity_type, entity_id, payload, \
                     event, state, error, attempts, received_at_ms) VALUES {} \
                     ON CONFLICT (stream, event_id) DO NOTHING",
                    tuples.join(", ")
                ),
                values,
            ))
            .await
            .map_err(from_db)?;
        new += result.rows_affected();
    }
    Ok(new)
}

/// The parked events whose subject is stored now are pending again, in one statement.
fn unpark_known_sql(backend: DatabaseBackend) -> String {
    format!(
        "UPDATE inbox_events AS e SET state = 'pending' \
         WHERE e.state = 'parked_no_subject' AND {}",
        subject_stored(backend)
    )
}

/// Whether the subject of the event `e` (`inbox_events AS e`) is stored: each kind of subject looked
/// up through its unique index (Alpaca's UUIDs in `bank_links` and `transfers`, unique across
/// Alpaca's streams; Plaid's ids in `bank_transfers`, only within Plaid's stream). An Alpaca id
/// that is not a UUID is never one of ours.
fn subject_stored(backend: DatabaseBackend) -> String {
    // The event's subject as the type its table stores: a UUID on PostgreSQL (cast only when it
    // is one), 16 bytes on SQLite (sqlx stores UUIDs as blobs; `unhex` of anything else is NULL).
    let uuid = match backend {
        DatabaseBackend::Postgres => {
            "CASE WHEN e.entity_id ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' \
             THEN CAST(e.entity_id AS uuid) END"
        }
        _ => "CASE WHEN length(e.entity_id) = 36 THEN unhex(replace(e.entity_id, '-', '')) END",
    };
    format!(
        "((e.entity_type = 'BankRelationship' AND EXISTS (SELECT 1 FROM bank_links AS b \
         WHERE b.ach_relationship_id = {uuid})) \
         OR (e.entity_type = 'Transfer' AND EXISTS (SELECT 1 FROM transfers AS t \
         WHERE t.provider_transfer_id = {uuid})) \
         OR (e.stream = '{PLAID_BANK_TRANSFER_STREAM}' AND e.entity_type = '{bank_transfer}' \
         AND EXISTS (SELECT 1 FROM bank_transfers AS p WHERE p.plaid_bank_transfer_id = e.entity_id)))",
        bank_transfer = crate::bank_transfers::events::ENTITY_TYPE,
    )
}

/// `action` (an `UPDATE … SET …` or a `DELETE FROM`) on the first `$2` rows of `inbox_events` by
/// `order` that meet `condition`, in one statement that finds its rows by their physical address
/// (PostgreSQL's `ctid`, SQLite's `rowid`): the rows are looked up once, through the index the
/// condition uses, whatever the planner knows of the table (a join on the primary key was planned
/// as a scan per row on a table without statistics: seconds per batch). The condition is checked
/// again on the rows written, so a row another transaction moved meanwhile is left alone.
fn batch_sql(backend: DatabaseBackend, action: &str, condition: &str, order: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            "{action} WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox_events WHERE {condition} \
             ORDER BY {order} LIMIT $2)) AND {condition}"
        ),
        _ => format!(
            "{action} WHERE rowid IN (SELECT rowid FROM inbox_events WHERE {condition} \
             ORDER BY {order} LIMIT $2) AND {condition}"
        ),
    }
}

/// Every state but `applied`: what the gauges count (through the (`state`, `received_at_ms`)
/// index, one range per state).
fn waiting_states() -> String {
    InboxState::ALL
        .iter()
        .filter(|state| **state != InboxState::Applied)
        .map(|state| format!("'{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl InboxStore for Store {
    #[tracing::instrument(skip_all, fields(stream, count = events.len(), cursor))]
    async fn store_events(
        &self,
        stream: &str,
        events: Vec<IncomingEvent>,
        cursor: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut readable = Vec::with_capacity(events.len());
        let mut unreadable = Vec::new();
        for incoming in events {
            match &incoming.event {
                Ok(event) => readable.push(NewInboxRow {
                    stream: stream.to_owned(),
                    entity_type: Some(event.entity.as_str().to_owned()),
                    entity_id: Some(event.entity_id.to_string()),
                    event: Some(
                        serde_json::to_string(event)
                            .map_err(|e| StoreError::Other(e.to_string()))?,
                    ),
                    state: InboxState::Pending,
                    error: None,
                    event_id: incoming.event_id,
                    payload: incoming.raw,
                }),
                Err(error) => unreadable.push(NewInboxRow {
                    stream: stream.to_owned(),
                    entity_type: None,
                    entity_id: None,
                    event: None,
                    state: InboxState::Unreadable,
                    error: Some(error.clone()),
                    event_id: incoming.event_id,
                    payload: incoming.raw,
                }),
            }
        }
        let (_permit, txn) = self.begin_write().await?;
        let mut new = insert_events(&txn, readable).await?;
        for row in unreadable {
            let (event_id, bytes) = (row.event_id.clone(), row.payload.len());
            if insert_events(&txn, vec![row]).await? == 1 {
                new += 1;
                tracing::error!(event_id = %event_id, bytes, "kept an unreadable provider event");
            }
        }
        if let Some(cursor) = cursor {
            let row = stream_cursor::ActiveModel {
                stream: Set(stream.to_owned()),
                cursor: Set(cursor.to_owned()),
                updated_at: Set(db_time(self.clock.now())),
            };
            stream_cursor::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(stream_cursor::Column::Stream)
                        .update_columns([
                            stream_cursor::Column::Cursor,
                            stream_cursor::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(from_db)?;
        }
        txn.commit().await.map_err(from_db)?;
        Ok(new)
    }

    #[tracing::instrument(skip_all, fields(stream, limit))]
    async fn pending_events(
        &self,
        stream: &str,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                "SELECT event_id, event, attempts FROM inbox_events \
                 WHERE stream = $1 AND state = 'pending' ORDER BY received_at_ms, event_id LIMIT $2",
                [stream.into(), i64::from(limit).into()],
            ))
            .await
            .map_err(from_db)?;
        rows.into_iter()
            .map(|row| {
                let event_id: String = row.try_get("", "event_id").map_err(from_db)?;
                let json: Option<String> = row.try_get("", "event").map_err(from_db)?;
                let attempts: i32 = row.try_get("", "attempts").map_err(from_db)?;
                let event: FundingEvent = json
                    .as_deref()
                    .and_then(|json| serde_json::from_str(json).ok())
                    .ok_or_else(|| corrupt("inbox_events", &event_id, "event is not readable"))?;
                Ok(InboxEvent {
                    stream: stream.to_owned(),
                    event_id,
                    event,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(stream, event_id, state = state.as_str()))]
    async fn mark_event(
        &self,
        stream: &str,
        event_id: &str,
        state: InboxState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        // One id, so equality on the whole primary key, whatever plan is cached.
        let unless = unless_subject_stored(self.db.get_database_backend(), &state);
        let mark = |backend| {
            statement(
                backend,
                &format!("{MARK} event_id = $4{unless}"),
                [
                    stream.into(),
                    state.as_str().into(),
                    error.map(str::to_owned).into(),
                    event_id.into(),
                ],
            )
        };
        if unless.is_empty() {
            let _permit = self.write_permit().await;
            self.db
                .execute_raw(mark(self.db.get_database_backend()))
                .await
                .map_err(from_db)?;
            return Ok(());
        }
        // A park takes its turn with the saves that unpark (`PARK_LOCK`).
        let (_permit, txn) = self.begin_write().await?;
        crate::sql::lock_for_transaction(&txn, PARK_LOCK).await?;
        txn.execute_raw(mark(txn.get_database_backend()))
            .await
            .map_err(from_db)?;
        txn.commit().await.map_err(from_db)
    }

    #[tracing::instrument(skip_all)]
    async fn unpark_known_subjects(&self) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let _permit = self.write_permit().await;
        let result = self
            .db
            .execute_raw(statement(backend, &unpark_known_sql(backend), []))
            .await
            .map_err(from_db)?;
        Ok(result.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn class_foreign(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let sql = batch_sql(
            backend,
            "UPDATE inbox_events SET state = 'foreign'",
            "state = 'parked_no_subject' AND received_at_ms <= {now_ms} - $1",
            "received_at_ms",
        );
        let _permit = self.write_permit().await;
        let result = self
            .db
            .execute_raw(statement(
                backend,
                &sql,
                [millis(older_than).into(), i64::from(limit).into()],
            ))
            .await
            .map_err(from_db)?;
        Ok(result.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn prune_applied(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let sql = batch_sql(
            backend,
            "DELETE FROM inbox_events",
            "state = 'applied' AND applied_at_ms <= {now_ms} - $1",
            "applied_at_ms",
        );
        let _permit = self.write_permit().await;
        let result = self
            .db
            .execute_raw(statement(
                backend,
                &sql,
                [millis(older_than).into(), i64::from(limit).into()],
            ))
            .await
            .map_err(from_db)?;
        Ok(result.rows_affected())
    }

    async fn inbox_stats(&self) -> Result<InboxStats, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT state, COUNT(*) AS n FROM inbox_events WHERE state IN ({}) GROUP BY state",
                    waiting_states()
                ),
                [],
            ))
            .await
            .map_err(from_db)?;
        let mut stats = InboxStats::default();
        for row in rows {
            let state: String = row.try_get("", "state").map_err(from_db)?;
            let n: i64 = row.try_get("", "n").map_err(from_db)?;
            if let Some(state) = InboxState::parse(&state) {
                stats.by_state.push((state, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(stats)
    }
}
