//! The HTTP control routes of Plaid Link and Items (`/_sandbox/plaid/…`): the link tokens
//! issued, an Item's state (and its risk data: `http_risk`), a reset login, any Item webhook, and
//! a Link session completed without a browser. Each calls the [`SandboxControl`] method of the same name.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::SandboxControl;
use super::fields::Fields;
use super::http::{control, respond};
use super::http_risk;
use crate::error::ControlError;
use crate::plaid::item_webhooks::ItemWebhookCode;
use crate::state::Shared;

/// Routes relative to `/_sandbox`.
pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/plaid/link_tokens", get(link_tokens))
        .route("/plaid/link/complete", post(complete_link))
        .route(
            "/plaid/items/{item_id}",
            get(item).post(http_risk::set_item_risk),
        )
        .route("/plaid/items/{item_id}/reset_login", post(reset_login))
        .route("/plaid/items/{item_id}/webhook", post(fire_item_webhook))
}

pub(super) fn item_id(path: Result<Path<String>, PathRejection>) -> Result<String, ControlError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ControlError::Invalid(rejection.to_string()))
}

async fn link_tokens(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).link_tokens()).into_response()
}

async fn item(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = item_id(path).and_then(|id| {
        control(shared)
            .item(&id)
            .map(Json)
            .ok_or(ControlError::ItemNotFound(id))
    });
    respond(result)
}

async fn reset_login(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = item_id(path).and_then(|id| control(shared).reset_login(&id));
    respond(result.map(|()| StatusCode::NO_CONTENT))
}

/// `{"webhook_code": "PENDING_EXPIRATION"}`.
async fn fire_item_webhook(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let result = async {
        let id = item_id(path)?;
        let mut fields = Fields::read(body).await?;
        let code = fields.require::<String>("webhook_code")?;
        fields.finish()?;
        let code = code
            .parse::<ItemWebhookCode>()
            .map_err(|error| ControlError::Invalid(format!("webhook_code: {error}")))?;
        control(shared).fire_item_webhook(&id, code)?;
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

/// `{"link_token": "link-sandbox-…", "institution_id"?: "ins_109508"}`.
async fn complete_link(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mut fields = Fields::read(body).await?;
        let link_token = fields.require::<String>("link_token")?;
        let institution = fields.take::<String>("institution_id")?;
        fields.finish()?;
        let control: SandboxControl = control(shared);
        control
            .complete_link(&link_token, institution.as_deref().unwrap_or("ins_109508"))
            .map(Json)
    };
    respond(result.await)
}
