//! Bank transfer events and the sandbox driver: `/bank_transfer/event/sync` (events after
//! `after_id`, oldest first, at most `count`), `/bank_transfer/event/list` (filtered, the most
//! recent first), and `/sandbox/bank_transfer/simulate` (pending → posted | failed, posted →
//! reversed; anything else is `SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID`). A simulated
//! event queues the events-update webhook.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bank_transfer_store::{Failure, ORIGINATION_ACCOUNT_ID, StoredEvent};
use super::bank_transfers::{date_bound, not_found};
use super::error::PlaidError;
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use super::webhooks::Outgoing;
use crate::state::Shared;

const EVENT_TYPES: &[&str] = &["pending", "cancelled", "failed", "posted", "reversed"];

/// `BankTransferEventSyncRequest`.
const SYNC: &[Field] = &[
    required(
        "after_id",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    nullable("count", Kind::Int { min: 1, max: 25 }),
];
/// `BankTransferEventListRequest`.
const LIST: &[Field] = &[
    nullable("start_date", Kind::Str),
    nullable("end_date", Kind::Str),
    nullable("bank_transfer_id", Kind::Str),
    nullable("account_id", Kind::Str),
    nullable("bank_transfer_type", Kind::Enum(&["debit", "credit"])),
    optional(
        "event_types",
        Kind::Array {
            item: &Kind::Enum(EVENT_TYPES),
            min_items: 0,
        },
    ),
    nullable("count", Kind::Int { min: 1, max: 25 }),
    nullable(
        "offset",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    nullable("origination_account_id", Kind::Str),
    nullable("direction", Kind::Enum(&["inbound", "outbound"])),
];
/// `BankTransferFailure` in a simulate request.
const FAILURE: &[Field] = &[
    nullable("ach_return_code", Kind::Str),
    optional("description", Kind::Str),
];
/// `SandboxBankTransferSimulateRequest`.
const SIMULATE: &[Field] = &[
    required("bank_transfer_id", Kind::Str),
    required("event_type", Kind::Str),
    optional("failure_reason", Kind::Object(FAILURE)),
];

#[derive(Deserialize)]
struct SyncRequest {
    after_id: u64,
    count: Option<usize>,
}

#[derive(Deserialize)]
struct ListRequest {
    start_date: Option<String>,
    end_date: Option<String>,
    bank_transfer_id: Option<String>,
    account_id: Option<String>,
    bank_transfer_type: Option<String>,
    event_types: Option<Vec<String>>,
    count: Option<usize>,
    offset: Option<usize>,
    origination_account_id: Option<String>,
    direction: Option<String>,
}

#[derive(Deserialize)]
struct FailureRequest {
    ach_return_code: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct SimulateRequest {
    bank_transfer_id: String,
    event_type: String,
    failure_reason: Option<FailureRequest>,
}

pub(crate) async fn event_sync(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        SYNC,
        |shared, request: SyncRequest| {
            let world = shared.world();
            // The log is in event_id order (ids are sequential): find the start, do not scan to it.
            let log = world.plaid.bank_transfers.events();
            let start = log.partition_point(|event| event.event_id <= request.after_id);
            let events: Vec<Value> = log[start..]
                .iter()
                .take(request.count.unwrap_or(25))
                .map(StoredEvent::to_wire)
                .collect();
            Ok(json!({ "bank_transfer_events": events }))
        },
    )
    .await
}

fn matches(event: &StoredEvent, request: &ListRequest) -> bool {
    let same =
        |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
    same(&request.bank_transfer_id, &event.bank_transfer_id)
        && same(&request.account_id, &event.account_id)
        && same(&request.bank_transfer_type, &event.kind)
        && same(&request.direction, "outbound")
        && request
            .origination_account_id
            .as_deref()
            .is_none_or(|id| id.is_empty() || id == ORIGINATION_ACCOUNT_ID)
        && request
            .event_types
            .as_ref()
            .is_none_or(|types| types.is_empty() || types.contains(&event.event_type))
}

pub(crate) async fn event_list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        LIST,
        |shared, request: ListRequest| {
            let start = date_bound("start_date", request.start_date.as_deref())?;
            let end = date_bound("end_date", request.end_date.as_deref())?;
            let world = shared.world();
            let events: Vec<Value> = world
                .plaid
                .bank_transfers
                .events()
                .iter()
                .rev()
                .filter(|event| start.is_none_or(|start| event.timestamp >= start))
                .filter(|event| end.is_none_or(|end| event.timestamp <= end))
                .filter(|event| matches(event, &request))
                .skip(request.offset.unwrap_or(0))
                .take(request.count.unwrap_or(25))
                .map(StoredEvent::to_wire)
                .collect();
            Ok(json!({ "bank_transfer_events": events }))
        },
    )
    .await
}

pub(crate) async fn sandbox_simulate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, SIMULATE, |shared, request: SimulateRequest| {
        let now = shared.clock.now();
        let mut world = shared.world();
        let transfers = &mut world.plaid.bank_transfers;
        let status = transfers
            .get(&request.bank_transfer_id)
            .ok_or_else(not_found)?
            .status
            .clone();
        let allowed = matches!(
            (status.as_str(), request.event_type.as_str()),
            ("pending", "posted" | "failed") | ("posted", "reversed")
        );
        if !allowed {
            return Err(PlaidError::new(
                StatusCode::BAD_REQUEST,
                "SANDBOX_ERROR",
                "SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID",
                "The provided simulated event type is incompatible with the current bank transfer status",
            ));
        }
        let failure = match request.event_type.as_str() {
            "posted" => None,
            _ => Some(
                request
                    .failure_reason
                    .map(|reason| Failure {
                        ach_return_code: reason.ach_return_code,
                        description: reason.description,
                    })
                    .unwrap_or(Failure {
                        ach_return_code: None,
                        description: None,
                    }),
            ),
        };
        transfers.change(&request.bank_transfer_id, &request.event_type, failure, now);
        drop(world);
        shared.announce(Outgoing::EventsUpdated);
        Ok(json!({}))
    })
    .await
}
