//! Processor endpoints: `/processor/token/create` and `/sandbox/processor_token/create` (what the
//! funding service calls), and the reads a processor partner such as Alpaca makes with the token:
//! `/processor/auth/get`, `/processor/identity/get`, `/processor/balance/get`,
//! `/processor/account/get`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::enums::PROCESSORS;
use super::error::PlaidError;
use super::link::check_institution;
use super::model::{Item, PlaidAccount};
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use crate::state::Shared;

/// `ProcessorTokenCreateRequest`.
const TOKEN_CREATE: &[Field] = &[
    required("access_token", Kind::Str),
    required("account_id", Kind::Str),
    required("processor", Kind::Enum(PROCESSORS)),
];
/// `SandboxProcessorTokenCreateRequestOptions`.
const SANDBOX_TOKEN_OPTIONS: &[Field] = &[
    nullable("override_username", Kind::Str),
    nullable("override_password", Kind::Str),
];
/// `SandboxProcessorTokenCreateRequest`.
const SANDBOX_TOKEN_CREATE: &[Field] = &[
    required("institution_id", Kind::Str),
    optional("options", Kind::Object(SANDBOX_TOKEN_OPTIONS)),
];
/// `ProcessorAuthGetRequest`, `ProcessorIdentityGetRequest`, `ProcessorAccountGetRequest`.
const PROCESSOR_READ: &[Field] = &[required("processor_token", Kind::Str)];
/// `ProcessorBalanceGetRequestOptions`.
const BALANCE_OPTIONS: &[Field] = &[optional("min_last_updated_datetime", Kind::Str)];
/// `ProcessorBalanceGetRequest`.
const BALANCE_GET: &[Field] = &[
    required("processor_token", Kind::Str),
    optional("options", Kind::Object(BALANCE_OPTIONS)),
];

#[derive(Deserialize)]
struct TokenCreate {
    access_token: String,
    account_id: String,
    processor: String,
}

#[derive(Deserialize)]
struct SandboxTokenCreate {
    institution_id: String,
}

#[derive(Deserialize)]
struct ProcessorRead {
    processor_token: String,
}

pub(crate) async fn processor_token_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        TOKEN_CREATE,
        |shared, request: TokenCreate| {
            let mut world = shared.world();
            let item = world
                .plaid
                .usable_item_by_access_token(&request.access_token)?;
            if item.account(&request.account_id).is_none() {
                return Err(PlaidError::invalid_account_id());
            }
            let item_id = item.item_id.clone();
            let token = world.plaid.issue_processor_token(
                &item_id,
                &request.account_id,
                Some(request.processor),
            );
            Ok(json!({ "processor_token": token }))
        },
    )
    .await
}

pub(crate) async fn sandbox_processor_token_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        SANDBOX_TOKEN_CREATE,
        |shared, request: SandboxTokenCreate| {
            check_institution(&request.institution_id)?;
            let item = Item::sandbox(request.institution_id, vec!["auth".into()], None);
            let account_id = item
                .checking()
                .map(|account| account.account_id.clone())
                .unwrap_or_default();
            let mut world = shared.world();
            let item_id = world.plaid.add_item(item);
            let token = world
                .plaid
                .issue_processor_token(&item_id, &account_id, None);
            Ok(json!({ "processor_token": token }))
        },
    )
    .await
}

/// Runs `read` on the item and account behind the request's processor token; an Item in error
/// (`ITEM_LOGIN_REQUIRED`) answers its error, as the institution cannot be reached.
fn with_account(
    shared: &Shared,
    processor_token: &str,
    read: impl FnOnce(&Item, &PlaidAccount) -> Value,
) -> Result<Value, PlaidError> {
    let world = shared.world();
    let (_, item, account) = world
        .plaid
        .resolve_processor_token(processor_token)
        .ok_or_else(PlaidError::invalid_processor_token)?;
    if let Some(error) = &item.error {
        return Err(error.clone());
    }
    Ok(read(item, account))
}

pub(crate) async fn processor_auth_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        PROCESSOR_READ,
        |shared, request: ProcessorRead| {
            with_account(shared, &request.processor_token, |_, account| {
                json!({
                    "account": account.to_wire(),
                    "numbers": {
                        "ach": account.ach_numbers(),
                        "bacs": null,
                        "eft": null,
                        "international": null,
                    },
                })
            })
        },
    )
    .await
}

pub(crate) async fn processor_identity_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        PROCESSOR_READ,
        |shared, request: ProcessorRead| {
            with_account(
                shared,
                &request.processor_token,
                |item, account| json!({ "account": account.to_identity_wire(&item.owner_names) }),
            )
        },
    )
    .await
}

pub(crate) async fn processor_balance_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        BALANCE_GET,
        |shared, request: ProcessorRead| {
            let world = shared.world();
            let (_, item, account) = world
                .plaid
                .resolve_processor_token(&request.processor_token)
                .ok_or_else(PlaidError::invalid_processor_token)?;
            // The Item's own error first, then a balance the bank cannot give now.
            match item.balance_error() {
                Some(error) => Err(error),
                None => Ok(json!({ "account": account.to_wire() })),
            }
        },
    )
    .await
}

pub(crate) async fn processor_account_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, PROCESSOR_READ, |shared, request: ProcessorRead| {
        with_account(shared, &request.processor_token, |item, account| {
            json!({ "account": account.to_wire(), "institution_id": item.institution_id })
        })
    })
    .await
}
