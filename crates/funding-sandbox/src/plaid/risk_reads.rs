//! The reads a risk check makes before money moves (DESIGN §11): `/accounts/balance/get` (the
//! real-time balances), `/identity/get` (the owners' names), and `/identity/match` and
//! `/processor/identity/match` (how well the caller's user matches the account's owner, scored by
//! [`super::name_match`]). They answer from the Item's state, which control sets
//! (`POST /_sandbox/plaid/items/{item_id}`): balances, owner names, and a balance that cannot be
//! fetched (`INSTITUTION_ERROR`/`INSTITUTION_NOT_RESPONDING` on the balance reads only).
//! `/processor/balance/get` and `/processor/identity/get` are in `processor`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::PlaidError;
use super::link::AccountsGet;
use super::model::{Item, PlaidAccount};
use super::name_match::{MatchUser, scores};
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use crate::state::Shared;

const ACCOUNT_IDS: Kind = Kind::Array {
    item: &Kind::Str,
    min_items: 0,
};
/// `AccountsBalanceGetRequestOptions`.
const BALANCE_OPTIONS: &[Field] = &[
    optional("account_ids", ACCOUNT_IDS),
    optional("min_last_updated_datetime", Kind::Str),
];
/// `AccountsBalanceGetRequest`.
const BALANCE_GET: &[Field] = &[
    required("access_token", Kind::Str),
    optional("options", Kind::Object(BALANCE_OPTIONS)),
];
/// `IdentityGetRequestOptions`, `IdentityMatchRequestOptions`.
const IDENTITY_OPTIONS: &[Field] = &[optional("account_ids", ACCOUNT_IDS)];
/// `IdentityGetRequest`.
const IDENTITY_GET: &[Field] = &[
    required("access_token", Kind::Str),
    optional("options", Kind::Object(IDENTITY_OPTIONS)),
];
/// `AddressDataNotRequired`.
const ADDRESS: &[Field] = &[
    nullable("city", Kind::Str),
    nullable("region", Kind::Str),
    optional("street", Kind::Str),
    nullable("postal_code", Kind::Str),
    nullable("country", Kind::Str),
];
/// `IdentityMatchUser`.
const USER: &[Field] = &[
    nullable("legal_name", Kind::Str),
    nullable("phone_number", Kind::Str),
    nullable("email_address", Kind::Str),
    nullable("address", Kind::Object(ADDRESS)),
];
/// `IdentityMatchRequest`.
const IDENTITY_MATCH: &[Field] = &[
    required("access_token", Kind::Str),
    optional("user", Kind::Object(USER)),
    optional("options", Kind::Object(IDENTITY_OPTIONS)),
];
/// `ProcessorIdentityMatchRequest`.
const PROCESSOR_IDENTITY_MATCH: &[Field] = &[
    required("processor_token", Kind::Str),
    optional("user", Kind::Object(USER)),
];

#[derive(Deserialize)]
struct IdentityMatch {
    access_token: String,
    user: Option<MatchUser>,
    options: Option<super::link::AccountsOptions>,
}

#[derive(Deserialize)]
struct ProcessorIdentityMatch {
    processor_token: String,
    user: Option<MatchUser>,
}

fn wanted(options: Option<super::link::AccountsOptions>) -> Option<Vec<String>> {
    options.and_then(|options| options.account_ids)
}

pub(crate) async fn accounts_balance_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        BALANCE_GET,
        |shared, request: AccountsGet| {
            let world = shared.world();
            let item = world.plaid.item_by_access_token(&request.access_token)?;
            if let Some(error) = item.balance_error() {
                return Err(error);
            }
            let accounts: Vec<Value> = item
                .selected(wanted(request.options).as_deref())?
                .into_iter()
                .map(PlaidAccount::to_wire)
                .collect();
            Ok(json!({ "accounts": accounts, "item": item.to_wire() }))
        },
    )
    .await
}

pub(crate) async fn identity_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        IDENTITY_GET,
        |shared, request: AccountsGet| {
            let world = shared.world();
            let item = world
                .plaid
                .usable_item_by_access_token(&request.access_token)?;
            let accounts: Vec<Value> = item
                .selected(wanted(request.options).as_deref())?
                .into_iter()
                .map(|account| account.to_identity_wire(&item.owner_names))
                .collect();
            Ok(json!({ "accounts": accounts, "item": item.to_wire() }))
        },
    )
    .await
}

/// `AccountIdentityMatchScore`: the account, its four scores, and its balances all null, as in
/// Plaid's example (a match reads no balance).
fn match_wire(item: &Item, account: &PlaidAccount, user: &MatchUser) -> Value {
    let mut wire = account.to_wire();
    if let Value::Object(map) = &mut wire {
        map.insert(
            "balances".into(),
            json!({
                "available": null,
                "current": null,
                "iso_currency_code": null,
                "limit": null,
                "unofficial_currency_code": null,
            }),
        );
        for (name, score) in scores(&item.owner_names, user) {
            map.insert(name.into(), score);
        }
    }
    wire
}

pub(crate) async fn identity_match(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        IDENTITY_MATCH,
        |shared, request: IdentityMatch| {
            let world = shared.world();
            let item = world
                .plaid
                .usable_item_by_access_token(&request.access_token)?;
            let user = request.user.unwrap_or_default();
            let accounts: Vec<Value> = item
                .selected(wanted(request.options).as_deref())?
                .into_iter()
                .map(|account| match_wire(item, account, &user))
                .collect();
            Ok(json!({ "accounts": accounts, "item": item.to_wire() }))
        },
    )
    .await
}

pub(crate) async fn processor_identity_match(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        PROCESSOR_IDENTITY_MATCH,
        |shared, request: ProcessorIdentityMatch| {
            let world = shared.world();
            let (_, item, account) = world
                .plaid
                .resolve_processor_token(&request.processor_token)
                .ok_or_else(PlaidError::invalid_processor_token)?;
            if let Some(error) = &item.error {
                return Err(error.clone());
            }
            let user = request.user.unwrap_or_default();
            Ok(json!({ "account": match_wire(item, account, &user) }))
        },
    )
    .await
}
