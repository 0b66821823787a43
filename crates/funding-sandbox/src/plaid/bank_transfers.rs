//! Plaid's legacy Bank Transfers endpoints: `/processor/bank_transfer/create` (with a processor
//! token) and `/bank_transfer/create` (with an access token and account id), idempotent per
//! `idempotency_key` (the same request returns the first transfer; a different request with the
//! same key is refused); `/bank_transfer/get`, `/bank_transfer/cancel` (only while `cancellable`),
//! `/bank_transfer/list` (newest first) and `/bank_transfer/balance/get` (the origination
//! account's balance; no minimum balance, so `transactable` = `available`). A new transfer and a
//! cancel each record an event and queue the events-update webhook.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::bank_transfer_rules::{self as rules, CreateRequest};
use super::bank_transfer_store::{BankTransfer, ORIGINATION_ACCOUNT_ID};
use super::error::PlaidError;
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use super::webhooks::Outgoing;
use crate::state::{Shared, World};

/// `BankTransferGetRequest`, `BankTransferCancelRequest`.
const BY_ID: &[Field] = &[required("bank_transfer_id", Kind::Str)];
/// `BankTransferListRequest`.
const LIST: &[Field] = &[
    nullable("start_date", Kind::Str),
    nullable("end_date", Kind::Str),
    optional("count", Kind::Int { min: 1, max: 25 }),
    optional(
        "offset",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    nullable("origination_account_id", Kind::Str),
    nullable("direction", Kind::Enum(&["outbound", "inbound"])),
];

/// `BankTransferBalanceGetRequest`.
const BALANCE: &[Field] = &[nullable("origination_account_id", Kind::Str)];

#[derive(Deserialize)]
struct BalanceRequest {
    origination_account_id: Option<String>,
}

#[derive(Deserialize)]
struct ById {
    bank_transfer_id: String,
}

#[derive(Deserialize)]
struct ListRequest {
    start_date: Option<String>,
    end_date: Option<String>,
    count: Option<usize>,
    offset: Option<usize>,
    origination_account_id: Option<String>,
    direction: Option<String>,
}

/// The emulated client has one origination account: an id, if given, must be that one.
fn check_origination(origination: Option<&str>) -> Result<(), PlaidError> {
    match origination {
        Some(id) if !id.is_empty() && id != ORIGINATION_ACCOUNT_ID => Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_INVALID_ORIGINATION_ACCOUNT",
            "origination_account_id is invalid",
        )),
        _ => Ok(()),
    }
}

pub(crate) fn not_found() -> PlaidError {
    PlaidError::invalid_field("bank_transfer_id does not match any bank transfer")
}

/// Parses an optional RFC 3339 filter bound.
pub(crate) fn date_bound(
    name: &str,
    text: Option<&str>,
) -> Result<Option<DateTime<Utc>>, PlaidError> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| PlaidError::invalid_field(format!("{name} must be an RFC 3339 date-time")))
    })
    .transpose()
}

/// The account a create request targets: (Plaid account id, its routing number).
fn target_account(world: &World, request: &CreateRequest) -> Result<(String, String), PlaidError> {
    if let Some(token) = &request.processor_token {
        let (_, _, account) = world
            .plaid
            .resolve_processor_token(token)
            .ok_or_else(PlaidError::invalid_processor_token)?;
        return Ok((account.account_id.clone(), account.routing().to_owned()));
    }
    let item = world
        .plaid
        .item_by_access_token(request.access_token.as_deref().unwrap_or_default())?;
    let account = item
        .account(request.account_id.as_deref().unwrap_or_default())
        .ok_or_else(PlaidError::invalid_account_id)?;
    Ok((account.account_id.clone(), account.routing().to_owned()))
}

fn create(shared: &Shared, request: CreateRequest) -> Result<Value, PlaidError> {
    let checked = rules::check(&request)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let (account_id, routing_number) = target_account(&world, &request)?;
    let fingerprint = serde_json::to_value(&request).unwrap_or(Value::Null);
    if let Some((existing, same)) = world
        .plaid
        .bank_transfers
        .replay(&request.idempotency_key, &fingerprint)
    {
        return if same {
            Ok(json!({ "bank_transfer": existing.to_wire() }))
        } else {
            Err(PlaidError::invalid_field(
                "idempotency_key was already used for a different bank transfer request",
            ))
        };
    }
    check_origination(request.origination_account_id.as_deref())?;
    let transfer = BankTransfer {
        id: Uuid::new_v4().to_string(),
        account_id,
        ach_class: request.ach_class,
        kind: request.kind,
        network: request.network,
        amount: checked.amount,
        iso_currency_code: request.iso_currency_code,
        description: request.description,
        legal_name: request.user.legal_name,
        email_address: request.user.email_address,
        routing_number,
        custom_tag: request.custom_tag,
        metadata: checked.metadata,
        created: now,
        status: "pending".to_owned(),
        failure: None,
    };
    let wire = world
        .plaid
        .bank_transfers
        .create(request.idempotency_key, fingerprint, transfer);
    drop(world);
    shared.announce(Outgoing::EventsUpdated);
    Ok(json!({ "bank_transfer": wire }))
}

pub(crate) async fn processor_bank_transfer_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, rules::PROCESSOR_CREATE, create).await
}

pub(crate) async fn bank_transfer_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, rules::ACCESS_TOKEN_CREATE, create).await
}

pub(crate) async fn bank_transfer_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, BY_ID, |shared, request: ById| {
        let world = shared.world();
        let transfer = world
            .plaid
            .bank_transfers
            .get(&request.bank_transfer_id)
            .ok_or_else(not_found)?;
        Ok(json!({ "bank_transfer": transfer.to_wire() }))
    })
    .await
}

pub(crate) async fn bank_transfer_cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, BY_ID, |shared, request: ById| {
        let now = shared.clock.now();
        let mut world = shared.world();
        let transfers = &mut world.plaid.bank_transfers;
        let cancellable = transfers
            .get(&request.bank_transfer_id)
            .ok_or_else(not_found)?
            .cancellable();
        if !cancellable {
            return Err(PlaidError::new(
                StatusCode::BAD_REQUEST,
                "BANK_TRANSFER_ERROR",
                "BANK_TRANSFER_NOT_CANCELLABLE",
                "bank transfer is not cancellable",
            ));
        }
        transfers.change(&request.bank_transfer_id, "cancelled", None, now);
        drop(world);
        shared.announce(Outgoing::EventsUpdated);
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn bank_transfer_list(
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
            let transfers: Vec<Value> = world
                .plaid
                .bank_transfers
                .newest_first()
                .filter(|t| start.is_none_or(|start| t.created >= start))
                .filter(|t| end.is_none_or(|end| t.created <= end))
                .filter(|_| {
                    request
                        .origination_account_id
                        .as_deref()
                        .is_none_or(|id| id.is_empty() || id == ORIGINATION_ACCOUNT_ID)
                })
                .filter(|_| request.direction.as_deref().is_none_or(|d| d == "outbound"))
                .skip(request.offset.unwrap_or(0))
                .take(request.count.unwrap_or(25))
                .map(BankTransfer::to_wire)
                .collect();
            Ok(json!({ "bank_transfers": transfers }))
        },
    )
    .await
}

pub(crate) async fn bank_transfer_balance_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        BALANCE,
        |shared, request: BalanceRequest| {
            check_origination(request.origination_account_id.as_deref())?;
            let available = shared.world().plaid.bank_transfers.available_balance();
            let amount = format!("{:.2}", available.round_dp(2));
            Ok(json!({
                "balance": { "available": amount, "transactable": amount },
                "origination_account_id": ORIGINATION_ACCOUNT_ID,
            }))
        },
    )
    .await
}
