//! The HTTP control API, served under `/_sandbox` on both listeners (no auth, JSON in and out,
//! errors as `{"error": "..."}`, naming the field at fault). Each route calls the matching
//! [`SandboxControl`] method; the route list is documented in the crate root.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

use super::SandboxControl;
use super::fields::Fields;
use super::risk::{checked_owner, split_owner_name};
use super::{http_faults, http_link, http_settings};
use crate::error::ControlError;
use crate::ids::alpaca_timestamp;
use crate::state::Shared;

/// Routes relative to `/_sandbox`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/delays", get(get_delays).post(set_delays))
        .route("/relationships/{id}/status", post(set_relationship_status))
        .route("/transfers/{id}/status", post(set_transfer_status))
        .route(
            "/faults",
            post(http_faults::add_fault).delete(http_faults::clear_faults),
        )
        .route("/calls", get(calls).delete(reset_calls))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/accounts/{id}", get(account).post(update_account))
        .route("/streams/disconnect", post(disconnect_streams))
        .route("/events", get(events))
        .route(
            "/events/faults",
            post(http_faults::add_event_fault).delete(http_faults::clear_event_faults),
        )
        .route(
            "/alpaca/settings",
            get(http_settings::get_settings).post(http_settings::set_settings),
        )
        .route("/plaid/public_token", post(create_public_token))
        .route(
            "/plaid/webhook",
            get(webhook).post(set_webhook).delete(clear_webhook),
        )
        .route("/plaid/webhook_key/rotate", post(rotate_webhook_key))
        .route("/plaid/tokens", get(issued_tokens))
        .route(
            "/plaid/webhook_faults",
            post(http_faults::add_webhook_fault).delete(http_faults::clear_webhook_faults),
        )
        .route(
            "/plaid/webhook_deliveries",
            get(webhook_deliveries).delete(reset_webhook_deliveries),
        )
        .merge(http_link::router())
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "no such control route") })
}

pub(super) fn control(shared: Arc<Shared>) -> SandboxControl {
    SandboxControl::new(shared)
}

pub(super) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::RelationshipNotFound(_)
            | ControlError::TransferNotFound(_)
            | ControlError::ItemNotFound(_) => StatusCode::NOT_FOUND,
            ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        refuse(status, self.to_string())
    }
}

fn uuid_in(path: Result<Path<String>, PathRejection>) -> Result<Uuid, ControlError> {
    let Path(raw) = path.map_err(|rejection| ControlError::Invalid(rejection.to_string()))?;
    Uuid::parse_str(&raw).map_err(|_| ControlError::Invalid(format!("{raw:?} is not a UUID")))
}

pub(super) fn respond<T: IntoResponse>(result: Result<T, ControlError>) -> Response {
    match result {
        Ok(value) => value.into_response(),
        Err(error) => error.into_response(),
    }
}

fn delays_json(control: &SandboxControl) -> Json<serde_json::Value> {
    let delays = control.delays();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Json(json!({
        "relationship_approval_delay_ms": millis(delays.relationship_approval_delay),
        "transfer_step_delay_ms": millis(delays.transfer_step_delay),
        "heartbeat_interval_ms": millis(delays.heartbeat_interval),
    }))
}

async fn get_delays(State(shared): State<Arc<Shared>>) -> Response {
    delays_json(&control(shared)).into_response()
}

async fn set_delays(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mut fields = Fields::read(body).await?;
        let approval = fields.take::<u64>("relationship_approval_delay_ms")?;
        let step = fields.take::<u64>("transfer_step_delay_ms")?;
        let heartbeat = fields.take::<u64>("heartbeat_interval_ms")?;
        fields.finish()?;
        let control = control(shared);
        if let Some(ms) = approval {
            control.set_relationship_approval_delay(Duration::from_millis(ms));
        }
        if let Some(ms) = step {
            control.set_transfer_step_delay(Duration::from_millis(ms));
        }
        if let Some(ms) = heartbeat {
            control.set_heartbeat_interval(Duration::from_millis(ms));
        }
        Ok(delays_json(&control))
    };
    respond(result.await)
}

/// `{"status": "...", "reason"?: "..."}`.
async fn status_request(body: Body) -> Result<(String, Option<String>), ControlError> {
    let mut fields = Fields::read(body).await?;
    let status = fields.require::<String>("status")?;
    let reason = fields.take::<String>("reason")?;
    fields.finish()?;
    Ok((status, reason))
}

async fn set_relationship_status(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let result = async {
        let id = uuid_in(path)?;
        let (status, reason) = status_request(body).await?;
        control(shared).set_relationship_status(id, status, reason)?;
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

async fn set_transfer_status(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let result = async {
        let id = uuid_in(path)?;
        let (status, reason) = status_request(body).await?;
        control(shared).set_transfer_status(id, status, reason)?;
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).calls()).into_response()
}

async fn reset_calls(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).reset_calls();
    StatusCode::NO_CONTENT
}

async fn clock(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "now": alpaca_timestamp(control(shared).now()) })).into_response()
}

async fn advance_clock(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mut fields = Fields::read(body).await?;
        let seconds = fields.require::<f64>("seconds")?;
        fields.finish()?;
        let by = Duration::try_from_secs_f64(seconds)
            .map_err(|_| ControlError::Invalid("seconds: must be a non-negative number".into()))?;
        let control = control(shared);
        control.advance_clock(by);
        Ok(Json(json!({ "now": alpaca_timestamp(control.now()) })))
    };
    respond(result.await)
}

fn account_json(control: &SandboxControl, id: Uuid) -> Json<serde_json::Value> {
    let account = control.account(id);
    Json(json!({
        "account_id": id,
        "status": account.status,
        "cash": account.cash.normalize().to_string(),
        "owner_name": account.owner_name(),
        "given_name": account.given_name,
        "family_name": account.family_name,
    }))
}

/// The owner a `POST /_sandbox/accounts/{id}` asks for: `owner_name` (split at its last word), or
/// `given_name` with `family_name`; checked before anything changes.
fn requested_owner(fields: &mut Fields) -> Result<Option<(String, String)>, ControlError> {
    let owner_name = fields.take::<String>("owner_name")?;
    let given_name = fields.take::<String>("given_name")?;
    let family_name = fields.take::<String>("family_name")?;
    match (owner_name, given_name, family_name) {
        (None, None, None) => Ok(None),
        (Some(name), None, None) => split_owner_name(&name).map(Some),
        (None, Some(given), Some(family)) => checked_owner(&given, &family).map(Some),
        (Some(_), _, _) => Err(ControlError::Invalid(
            "owner_name: give either owner_name or given_name with family_name, not both".into(),
        )),
        (None, Some(_), None) => Err(ControlError::Invalid(
            "family_name is required with given_name".into(),
        )),
        (None, None, Some(_)) => Err(ControlError::Invalid(
            "given_name is required with family_name".into(),
        )),
    }
}

async fn account(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    respond(uuid_in(path).map(|id| account_json(&control(shared), id)))
}

async fn update_account(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let result = async {
        let id = uuid_in(path)?;
        let mut fields = Fields::read(body).await?;
        let status = fields.take::<String>("status")?;
        let cash = fields.take_decimal("cash")?.flatten();
        let owner = requested_owner(&mut fields)?;
        fields.finish()?;
        let control = control(shared);
        if let Some(status) = status {
            control.set_account_status(id, status);
        }
        if let Some(cash) = cash {
            control.set_account_cash(id, cash);
        }
        if let Some((given, family)) = owner {
            control.store_owner(id, given, family);
        }
        Ok(account_json(&control, id))
    };
    respond(result.await)
}

async fn disconnect_streams(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).disconnect_streams();
    StatusCode::NO_CONTENT
}

async fn events(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).funding_events()).into_response()
}

async fn create_public_token(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mut fields = Fields::read(body).await?;
        let institution = fields.take::<String>("institution_id")?;
        fields.finish()?;
        let institution = institution.as_deref().unwrap_or("ins_109508");
        control(shared).create_public_token(institution).map(Json)
    };
    respond(result.await)
}

fn webhook_json(control: &SandboxControl) -> Json<serde_json::Value> {
    Json(json!({
        "url": control.plaid_webhook_url(),
        "key_id": control.webhook_key_id(),
    }))
}

async fn webhook(State(shared): State<Arc<Shared>>) -> Response {
    webhook_json(&control(shared)).into_response()
}

async fn set_webhook(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mut fields = Fields::read(body).await?;
        // `null` (or no url) clears it.
        let url = fields.take::<String>("url")?;
        fields.finish()?;
        let control = control(shared);
        control.set_plaid_webhook_url(url.as_deref())?;
        Ok(webhook_json(&control))
    };
    respond(result.await)
}

async fn clear_webhook(State(shared): State<Arc<Shared>>) -> Response {
    respond(
        control(shared)
            .set_plaid_webhook_url(None)
            .map(|()| StatusCode::NO_CONTENT),
    )
}

async fn issued_tokens(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).issued_tokens()).into_response()
}

async fn rotate_webhook_key(State(shared): State<Arc<Shared>>) -> Response {
    respond(
        control(shared)
            .rotate_webhook_key_reporting()
            .map(|(key_id, expired)| Json(json!({ "key_id": key_id, "expired_key_id": expired }))),
    )
}

async fn webhook_deliveries(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).webhook_deliveries()).into_response()
}

async fn reset_webhook_deliveries(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).reset_webhook_deliveries();
    StatusCode::NO_CONTENT
}
