//! The Alpaca Broker API emulator (funding side): ACH relationships, transfers, the trading
//! account's cash and the funding event stream, behind HTTP Basic auth, at the root path.

mod accounts;
pub(crate) mod auth;
mod cursor;
pub(crate) mod error;
pub(crate) mod events;
mod lifecycle;
mod relationships;
mod request;
pub(crate) mod settings;
mod sse;
pub(crate) mod store;
mod transfers;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};

use crate::state::Shared;
use error::AlpacaError;

/// Routes of the Alpaca emulator, authenticated (without the control API and the traffic layer).
pub(crate) fn router(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/v1/accounts/{account_id}/ach_relationships",
            get(relationships::list).post(relationships::create),
        )
        .route(
            "/v1/accounts/{account_id}/ach_relationships/{relationship_id}",
            delete(relationships::delete),
        )
        .route(
            "/v1/accounts/{account_id}/transfers",
            get(transfers::list).post(transfers::create),
        )
        .route(
            "/v1/accounts/{account_id}/transfers/{transfer_id}",
            delete(transfers::delete),
        )
        .route("/v1/accounts/{account_id}", get(accounts::broker_account))
        .route(
            "/v1/trading/accounts/{account_id}/account",
            get(accounts::trading_account),
        )
        .route("/v2/events/funding/status", get(sse::funding_status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            Arc::clone(shared),
            auth::require_basic_auth,
        ))
}

async fn not_found() -> Response {
    AlpacaError::not_found("endpoint not found").into_response()
}

async fn method_not_allowed() -> Response {
    AlpacaError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    )
    .into_response()
}
