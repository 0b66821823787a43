//! `/v1/accounts/{account_id}/transfers`: create an ACH transfer on a relationship of the account
//! (QUEUED, then SENT_TO_CLEARING and COMPLETE by themselves), list them (newest first, with
//! `direction`, `limit`, `offset`), and cancel one while it is still QUEUED, APPROVAL_PENDING or
//! PENDING. The deprecated `timing` field is accepted and ignored. Wires are refused: the emulator
//! has no recipient banks.
//!
//! Refusals, as the reference documents them: a relationship that is not the account's, or is
//! REJECTED or CANCELED, is 422 `invalid relationship_id`; one still QUEUED (or PENDING) is
//! accepted, and the transfer waits in QUEUED for the approval ("You can create transfers while the
//! relationship is still QUEUED. In production they wait for approval"). An account that is not
//! ACTIVE is 403 `deposits are not permitted for this account` / `withdrawals are not permitted for
//! this account`; a withdrawal above `cash_withdrawable` (cash less pending withdrawals) gets the
//! same 403, the reference documenting no other answer for it, unless `cash_withdrawable` is
//! `"gross"` (then it is accepted and rejected later, see the lifecycle). With an ACH fee set, a
//! transfer whose amount does not exceed the fee is 422 `amount must be greater than the fee`; the
//! list answers at most `list_page_cap` items per page when that is set.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::error::AlpacaError;
use super::request::{account_and_id_path, account_path, read_json};
use super::settings::CashWithdrawable;
use super::store::{ACTIVE, CANCELABLE_TRANSFER, Direction, Transfer};
use super::validate::parse_amount;
use crate::state::Shared;

/// How long Alpaca keeps a transfer request open (`expires_at`).
const EXPIRY_DAYS: i64 = 7;

/// `CreateTransferRequest`; unknown fields (and `timing`) are ignored.
#[derive(Deserialize)]
struct CreateTransfer {
    transfer_type: Option<String>,
    relationship_id: Option<String>,
    bank_id: Option<String>,
    amount: Option<Value>,
    direction: Option<String>,
    additional_information: Option<String>,
}

/// A valid request, before the account's state is consulted.
struct NewTransfer {
    relationship_id: Uuid,
    amount: rust_decimal::Decimal,
    direction: Direction,
}

fn validate(request: CreateTransfer) -> Result<NewTransfer, AlpacaError> {
    let transfer_type = request.transfer_type.as_deref().unwrap_or_default();
    if !matches!(transfer_type, "ach" | "wire") {
        return Err(AlpacaError::unprocessable(
            "transfer_type must be either ach or wire",
        ));
    }
    let direction = request
        .direction
        .as_deref()
        .and_then(Direction::parse)
        .ok_or_else(|| {
            AlpacaError::unprocessable("direction must be either incoming or outgoing")
        })?;
    let amount = parse_amount(request.amount.as_ref())
        .map_err(|error| AlpacaError::unprocessable(error.message()))?;
    if transfer_type == "wire" {
        return Err(wire_refusal(&request, direction));
    }
    if request.bank_id.as_deref().is_some_and(|id| !id.is_empty()) {
        return Err(AlpacaError::unprocessable(
            "bank_id should be empty for ach transfer",
        ));
    }
    if request.additional_information.is_some() {
        return Err(AlpacaError::unprocessable(
            "only wire transfer type can provide additional information for the transfer",
        ));
    }
    let relationship_id = request
        .relationship_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(invalid_relationship)?;
    Ok(NewTransfer {
        relationship_id,
        amount,
        direction,
    })
}

fn wire_refusal(request: &CreateTransfer, direction: Direction) -> AlpacaError {
    if direction == Direction::Incoming {
        return AlpacaError::unprocessable("cannot submit incoming wire transfer using this API")
            .with_code(40_010_001);
    }
    if request
        .relationship_id
        .as_deref()
        .is_some_and(|id| !id.is_empty())
    {
        return AlpacaError::unprocessable("relationship_id should be empty for wire transfer");
    }
    match request.bank_id.as_deref() {
        None | Some("") => AlpacaError::unprocessable("bank_id required for wire transfer"),
        Some(_) => AlpacaError::unprocessable("invalid bank_id"),
    }
}

fn invalid_relationship() -> AlpacaError {
    AlpacaError::unprocessable("invalid relationship_id")
}

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    match try_create(&shared, path, body).await {
        Ok(wire) => (StatusCode::OK, Json(wire)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn try_create(
    shared: &Shared,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Value, AlpacaError> {
    let account_id = account_path(path)?;
    let new = validate(read_json(body).await?)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let usable = world
        .alpaca
        .relationships_of(account_id)
        .any(|r| r.id == new.relationship_id && r.is_active());
    if !usable {
        return Err(invalid_relationship());
    }
    let refused = match new.direction {
        Direction::Incoming => "deposits are not permitted for this account",
        Direction::Outgoing => "withdrawals are not permitted for this account",
    };
    if world.alpaca.account(account_id).status != ACTIVE {
        return Err(AlpacaError::forbidden(refused));
    }
    let settings = world.settings.alpaca;
    let fee = settings.ach_fee;
    if new.amount <= fee {
        return Err(AlpacaError::unprocessable(
            "amount must be greater than the fee",
        ));
    }
    let mode = settings.cash_withdrawable;
    if mode == CashWithdrawable::Net
        && new.direction == Direction::Outgoing
        && new.amount > world.alpaca.withdrawable(account_id, mode)
    {
        return Err(AlpacaError::forbidden(refused));
    }
    let transfer = Transfer {
        id: Uuid::new_v4(),
        account_id,
        relationship_id: new.relationship_id,
        amount: new.amount.saturating_sub(fee),
        requested_amount: new.amount,
        fee,
        direction: new.direction,
        status: "QUEUED".to_owned(),
        reason: None,
        created_at: now,
        updated_at: now,
        expires_at: now + chrono::Duration::days(EXPIRY_DAYS),
        cash_applied: false,
        version: 0,
    };
    let wire = transfer.to_wire();
    world.create_transfer(transfer, now);
    drop(world);
    shared.wake_scheduler();
    Ok(wire)
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match try_list(&shared, path, query) {
        Ok(wire) => Json(wire).into_response(),
        Err(error) => error.into_response(),
    }
}

fn try_list(
    shared: &Shared,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Vec<Value>, AlpacaError> {
    let account_id = account_path(path)?;
    let Query(query) = query.map_err(|_| AlpacaError::bad_request("invalid query parameters"))?;
    let direction = match query.get("direction").map(String::as_str) {
        None | Some("") => None,
        Some(text) => Some(
            Direction::parse(&text.to_ascii_uppercase())
                .ok_or_else(|| AlpacaError::bad_request("invalid direction"))?,
        ),
    };
    let number = |name: &str| -> Result<Option<usize>, AlpacaError> {
        match query.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse::<usize>()
                .map(Some)
                .map_err(|_| AlpacaError::bad_request(format!("invalid {name}"))),
        }
    };
    let offset = number("offset")?.unwrap_or(0);
    let world = shared.world();
    let cap = world.settings.alpaca.list_page_cap.unwrap_or(usize::MAX);
    let limit = number("limit")?.unwrap_or(usize::MAX).min(cap);
    let mut transfers: Vec<&Transfer> = world
        .alpaca
        .transfers
        .iter()
        .filter(|t| t.account_id == account_id)
        .filter(|t| direction.is_none_or(|d| t.direction == d))
        .collect();
    // Newest first; creation order breaks ties between equal timestamps.
    transfers.reverse();
    transfers.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    Ok(transfers
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(Transfer::to_wire)
        .collect())
}

pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    match try_delete(&shared, path) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

fn try_delete(
    shared: &Shared,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(), AlpacaError> {
    let (account_id, transfer_id) = account_and_id_path(path, "transfer_id")?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let not_found = || AlpacaError::not_found("transfer not found");
    let status = world
        .alpaca
        .transfers
        .iter()
        .find(|t| t.id == transfer_id && t.account_id == account_id)
        .map(|t| t.status.clone())
        .ok_or_else(not_found)?;
    if !CANCELABLE_TRANSFER.contains(&status.as_str()) {
        return Err(AlpacaError::unprocessable(format!(
            "transfer cannot be canceled in status {status}"
        )));
    }
    world
        .change_transfer(transfer_id, "CANCELED", None, now)
        .map_err(|_| not_found())?;
    Ok(())
}
