//! `/v1/accounts/{account_id}/ach_relationships`: create (from a Plaid processor token issued by
//! the Plaid emulator, or from manual bank details), list (optionally by `statuses`), and delete
//! (CANCEL_REQUESTED, then CANCELED). At most one active relationship per account: a second
//! answers 409.

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
use super::store::{ACTIVE, Relationship};
use super::validate::{is_valid_account_number, is_valid_routing_number, mask};
use crate::plaid::model::OWNER_NAME;
use crate::state::Shared;

/// `CreateACHRelationshipRequest`, both variants; unknown fields are ignored.
#[derive(Deserialize)]
struct CreateRelationship {
    processor_token: Option<String>,
    account_owner_name: Option<String>,
    bank_account_type: Option<String>,
    bank_account_number: Option<String>,
    bank_routing_number: Option<String>,
    nickname: Option<String>,
}

/// Bank details of a new relationship, once validated.
struct BankDetails {
    owner_name: String,
    account_type: String,
    /// Masked: all but the last four characters are `X`.
    account_number: String,
    routing_number: String,
}

fn manual_details(request: &CreateRelationship) -> Result<BankDetails, AlpacaError> {
    let owner_name = request
        .account_owner_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| AlpacaError::unprocessable("account_owner_name is required"))?;
    let account_type = match request.bank_account_type.as_deref() {
        Some(kind @ ("CHECKING" | "SAVINGS")) => kind,
        None => return Err(AlpacaError::unprocessable("bank_account_type is required")),
        Some(_) => {
            return Err(AlpacaError::unprocessable(
                "bank_account_type must be one of CHECKING, SAVINGS",
            ));
        }
    };
    let account_number = match request.bank_account_number.as_deref() {
        None | Some("") => {
            return Err(AlpacaError::unprocessable(
                "bank_account_number is required",
            ));
        }
        Some(number) if !is_valid_account_number(number) => {
            return Err(AlpacaError::unprocessable("bank_account_number is invalid"));
        }
        Some(number) => number,
    };
    let routing_number = match request.bank_routing_number.as_deref() {
        None | Some("") => {
            return Err(AlpacaError::unprocessable(
                "bank_routing_number is required",
            ));
        }
        Some(number) if !is_valid_routing_number(number) => {
            return Err(AlpacaError::unprocessable("bank_routing_number is invalid"));
        }
        Some(number) => number,
    };
    Ok(BankDetails {
        owner_name: owner_name.to_owned(),
        account_type: account_type.to_owned(),
        account_number: mask(account_number),
        routing_number: routing_number.to_owned(),
    })
}

fn processor_details(shared: &Shared, token: &str) -> Result<BankDetails, AlpacaError> {
    let world = shared.world();
    let invalid = || AlpacaError::unprocessable("invalid processor token");
    let (grant, item, account) = world
        .plaid
        .resolve_processor_token(token)
        .ok_or_else(invalid)?;
    if grant.processor.as_deref().is_some_and(|p| p != "alpaca") {
        return Err(invalid());
    }
    // What Alpaca reads from Plaid's /processor/auth/get and /processor/identity/get: the
    // account's kind, its ACH numbers (kept masked, as for manual details) and the (first) owner.
    let owner_name = item.owner_names.first().map_or(OWNER_NAME, String::as_str);
    Ok(BankDetails {
        owner_name: owner_name.to_owned(),
        account_type: account.alpaca_account_type().to_owned(),
        account_number: mask(account.account_number),
        routing_number: account.routing().to_owned(),
    })
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
    let request: CreateRelationship = read_json(body).await?;
    let details = match request.processor_token.as_deref() {
        Some(token) if !token.is_empty() => processor_details(shared, token)?,
        _ => manual_details(&request)?,
    };
    let now = shared.clock.now();
    let mut world = shared.world();
    if world.alpaca.account(account_id).status != ACTIVE {
        return Err(AlpacaError::forbidden("account is not active"));
    }
    if world
        .alpaca
        .relationships_of(account_id)
        .any(Relationship::is_active)
    {
        return Err(AlpacaError::conflict(
            "The account already has an active relationship",
        ));
    }
    let relationship = Relationship {
        id: Uuid::new_v4(),
        account_id,
        created_at: now,
        updated_at: now,
        status: "QUEUED".to_owned(),
        account_owner_name: details.owner_name,
        bank_account_type: details.account_type,
        bank_account_number: details.account_number,
        bank_routing_number: details.routing_number,
        nickname: request.nickname.filter(|nickname| !nickname.is_empty()),
        version: 0,
    };
    let wire = relationship.to_wire();
    world.create_relationship(relationship, now);
    drop(world);
    shared.wake_scheduler();
    Ok(wire)
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    statuses: Option<String>,
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let account_id = match account_path(path) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let Ok(Query(query)) = query else {
        return AlpacaError::bad_request("invalid query parameters").into_response();
    };
    let wanted: Option<Vec<String>> = query.statuses.map(|statuses| {
        statuses
            .split(',')
            .map(|status| status.trim().to_ascii_uppercase())
            .filter(|status| !status.is_empty())
            .collect()
    });
    let world = shared.world();
    let relationships: Vec<Value> = world
        .alpaca
        .relationships_of(account_id)
        .filter(|r| wanted.as_ref().is_none_or(|w| w.contains(&r.status)))
        .map(Relationship::to_wire)
        .collect();
    Json(relationships).into_response()
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
    let (account_id, relationship_id) = account_and_id_path(path, "relationship_id")?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let status = world
        .alpaca
        .relationships_of(account_id)
        .find(|r| r.id == relationship_id)
        .map(|r| r.status.clone())
        .ok_or_else(|| AlpacaError::not_found("relationship not found"))?;
    // Deleting again while the cancel is under way (or done, or after a rejection) is a no-op.
    if matches!(
        status.as_str(),
        "CANCEL_REQUESTED" | "CANCEL_SENT" | "CANCELED" | "REJECTED"
    ) {
        return Ok(());
    }
    world
        .request_relationship_cancel(relationship_id, now)
        .map_err(|_| AlpacaError::not_found("relationship not found"))?;
    drop(world);
    shared.wake_scheduler();
    Ok(())
}
