//! The Plaid API emulator: every endpoint is `POST` with a JSON body, mounted at the root so a
//! client only swaps its base URL. Unknown paths answer Plaid's 404 `NOT_FOUND` error object.
//! The same listener serves Plaid Link, offline (`link_page`): `link-initialize.js` at Plaid's CDN
//! path, the Link page it frames, and the hosted/redirect form at `/link`.

mod bank_transfer_events;
mod bank_transfer_rules;
pub(crate) mod bank_transfer_store;
mod bank_transfers;
pub(crate) mod enums;
pub(crate) mod error;
pub(crate) mod item_errors;
pub(crate) mod item_webhooks;
pub(crate) mod link;
pub(crate) mod link_flow;
mod link_page;
pub(crate) mod link_store;
mod link_token;
pub(crate) mod model;
mod name_match;
mod processor;
mod request;
mod risk_reads;
pub(crate) mod schema;
pub(crate) mod store;
mod webhook_keys;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::ids::plaid_request_id;
use crate::state::Shared;
use error::PlaidError;

/// Routes of the Plaid emulator (without the control API and the traffic layer).
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/sandbox/public_token/create",
            post(link::sandbox_public_token_create),
        )
        .route(
            "/item/public_token/exchange",
            post(link::item_public_token_exchange),
        )
        .route("/link/token/create", post(link_token::link_token_create))
        .route(
            "/sandbox/item/fire_webhook",
            post(item_webhooks::sandbox_item_fire_webhook),
        )
        .route(
            "/sandbox/item/reset_login",
            post(item_webhooks::sandbox_item_reset_login),
        )
        .merge(link_page::router())
        .route("/accounts/get", post(link::accounts_get))
        .route(
            "/accounts/balance/get",
            post(risk_reads::accounts_balance_get),
        )
        .route("/identity/get", post(risk_reads::identity_get))
        .route("/identity/match", post(risk_reads::identity_match))
        .route(
            "/processor/identity/match",
            post(risk_reads::processor_identity_match),
        )
        .route("/item/get", post(link::item_get))
        .route("/item/remove", post(link::item_remove))
        .route(
            "/processor/token/create",
            post(processor::processor_token_create),
        )
        .route(
            "/sandbox/processor_token/create",
            post(processor::sandbox_processor_token_create),
        )
        .route("/processor/auth/get", post(processor::processor_auth_get))
        .route(
            "/processor/identity/get",
            post(processor::processor_identity_get),
        )
        .route(
            "/processor/balance/get",
            post(processor::processor_balance_get),
        )
        .route(
            "/processor/account/get",
            post(processor::processor_account_get),
        )
        .route(
            "/processor/bank_transfer/create",
            post(bank_transfers::processor_bank_transfer_create),
        )
        .route(
            "/bank_transfer/create",
            post(bank_transfers::bank_transfer_create),
        )
        .route(
            "/bank_transfer/get",
            post(bank_transfers::bank_transfer_get),
        )
        .route(
            "/bank_transfer/cancel",
            post(bank_transfers::bank_transfer_cancel),
        )
        .route(
            "/bank_transfer/list",
            post(bank_transfers::bank_transfer_list),
        )
        .route(
            "/bank_transfer/event/list",
            post(bank_transfer_events::event_list),
        )
        .route(
            "/bank_transfer/event/sync",
            post(bank_transfer_events::event_sync),
        )
        .route(
            "/bank_transfer/balance/get",
            post(bank_transfers::bank_transfer_balance_get),
        )
        .route(
            "/sandbox/bank_transfer/simulate",
            post(bank_transfer_events::sandbox_simulate),
        )
        .route(
            "/sandbox/bank_transfer/fire_webhook",
            post(webhooks::sandbox_fire_webhook),
        )
        .route(
            "/webhook_verification_key/get",
            post(webhooks::webhook_verification_key_get),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> Response {
    PlaidError::not_found().render(&plaid_request_id())
}

async fn method_not_allowed() -> Response {
    let error = PlaidError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_REQUEST",
        "NOT_FOUND",
        "only POST requests are supported",
    );
    error.render(&plaid_request_id()).into_response()
}
