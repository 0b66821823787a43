//! Item and token endpoints: `/sandbox/public_token/create`, `/item/public_token/exchange`,
//! `/accounts/get`, `/item/get` and `/item/remove`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::enums::{ITEM_REMOVE_REASON_CODES, PRODUCTS};
use super::error::PlaidError;
use super::model::{Item, PlaidAccount};
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use crate::state::Shared;

const TRANSACTIONS_OPTIONS: &[Field] = &[
    optional("start_date", Kind::Str),
    optional("end_date", Kind::Str),
    optional("days_requested", Kind::Int { min: 1, max: 730 }),
];
const STATEMENTS_OPTIONS: &[Field] = &[
    required("start_date", Kind::Str),
    required("end_date", Kind::Str),
];
/// `SandboxPublicTokenCreateRequestOptions`.
const PUBLIC_TOKEN_OPTIONS: &[Field] = &[
    optional("webhook", Kind::Str),
    nullable("override_username", Kind::Str),
    nullable("override_password", Kind::Str),
    nullable("transactions", Kind::Object(TRANSACTIONS_OPTIONS)),
    optional("statements", Kind::Object(STATEMENTS_OPTIONS)),
    optional("income_verification", Kind::FreeObject),
];
/// `SandboxPublicTokenCreateRequest`.
const PUBLIC_TOKEN_CREATE: &[Field] = &[
    required("institution_id", Kind::Str),
    required(
        "initial_products",
        Kind::Array {
            item: &Kind::Enum(PRODUCTS),
            min_items: 1,
        },
    ),
    optional("options", Kind::Object(PUBLIC_TOKEN_OPTIONS)),
    optional("user_token", Kind::Str),
    optional("user_id", Kind::Str),
];
/// `ItemPublicTokenExchangeRequest`.
const EXCHANGE: &[Field] = &[required("public_token", Kind::Str)];
/// `AccountsGetRequestOptions`.
const ACCOUNTS_OPTIONS: &[Field] = &[optional(
    "account_ids",
    Kind::Array {
        item: &Kind::Str,
        min_items: 0,
    },
)];
/// `AccountsGetRequest`.
const ACCOUNTS_GET: &[Field] = &[
    required("access_token", Kind::Str),
    optional("options", Kind::Object(ACCOUNTS_OPTIONS)),
];
/// `ItemGetRequest`.
const ITEM_GET: &[Field] = &[required("access_token", Kind::Str)];
/// `ItemRemoveRequest`.
const ITEM_REMOVE: &[Field] = &[
    required("access_token", Kind::Str),
    nullable("reason_code", Kind::Enum(ITEM_REMOVE_REASON_CODES)),
    nullable("reason_note", Kind::Str),
];

#[derive(Deserialize)]
struct PublicTokenCreate {
    institution_id: String,
    initial_products: Vec<String>,
    options: Option<PublicTokenOptions>,
}

#[derive(Deserialize)]
struct PublicTokenOptions {
    webhook: Option<String>,
}

#[derive(Deserialize)]
struct Exchange {
    public_token: String,
}

#[derive(Deserialize)]
struct AccessTokenOnly {
    access_token: String,
}

/// `AccountsGetRequest`, `AccountsBalanceGetRequest`, `IdentityGetRequest`.
#[derive(Deserialize)]
pub(crate) struct AccountsGet {
    pub access_token: String,
    pub options: Option<AccountsOptions>,
}

#[derive(Deserialize)]
pub(crate) struct AccountsOptions {
    pub account_ids: Option<Vec<String>>,
}

/// Sandbox institutions are the ones whose id looks like Plaid's (`ins_<digits>`).
pub(crate) fn check_institution(institution_id: &str) -> Result<(), PlaidError> {
    match institution_id.strip_prefix("ins_") {
        Some(rest) if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(()),
        _ => Err(PlaidError::invalid_institution()),
    }
}

pub(crate) async fn sandbox_public_token_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        PUBLIC_TOKEN_CREATE,
        |shared, request: PublicTokenCreate| {
            check_institution(&request.institution_id)?;
            let now = shared.clock.now();
            let webhook = request.options.and_then(|options| options.webhook);
            let item = Item::sandbox(request.institution_id, request.initial_products, webhook);
            let mut world = shared.world();
            let item_id = world.plaid.add_item(item);
            let public_token = world.plaid.issue_public_token(&item_id, now);
            Ok(json!({ "public_token": public_token }))
        },
    )
    .await
}

pub(crate) async fn item_public_token_exchange(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        EXCHANGE,
        |shared, request: Exchange| {
            let now = shared.clock.now();
            let mut world = shared.world();
            let ttl = world.settings.public_token_ttl;
            let (access_token, item_id) = world.plaid.exchange(&request.public_token, now, ttl)?;
            Ok(json!({ "access_token": access_token, "item_id": item_id }))
        },
    )
    .await
}

pub(crate) async fn accounts_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        ACCOUNTS_GET,
        |shared, request: AccountsGet| {
            let world = shared.world();
            let item = world
                .plaid
                .usable_item_by_access_token(&request.access_token)?;
            let wanted = request.options.and_then(|options| options.account_ids);
            let accounts: Vec<Value> = item
                .selected(wanted.as_deref())?
                .into_iter()
                .map(PlaidAccount::to_wire)
                .collect();
            Ok(json!({ "accounts": accounts, "item": item.to_wire() }))
        },
    )
    .await
}

pub(crate) async fn item_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        ITEM_GET,
        |shared, request: AccessTokenOnly| {
            let world = shared.world();
            let item = world.plaid.item_by_access_token(&request.access_token)?;
            Ok(json!({ "item": item.to_wire() }))
        },
    )
    .await
}

pub(crate) async fn item_remove(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        ITEM_REMOVE,
        |shared, request: AccessTokenOnly| {
            shared.world().plaid.remove_item(&request.access_token)?;
            Ok(json!({}))
        },
    )
    .await
}
