//! The fault routes of the control API: provider request faults (`/faults`), funding stream
//! faults (`/events/faults`) and Plaid webhook faults (`/plaid/webhook_faults`). Every refusal
//! names the field at fault.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::calls::Host;
use super::faults::{EventFault, Fault, FaultMode, WebhookFault};
use super::fields::Fields;
use super::http::{control, respond};
use crate::error::ControlError;
use crate::state::Shared;

/// Longest delay a rule may ask for (longer ones are cut to it).
const MAX_DELAY_MS: u64 = 600_000;

fn delay(ms: Option<u64>) -> Duration {
    Duration::from_millis(ms.unwrap_or(0).min(MAX_DELAY_MS))
}

/// `{"host", "method"?, "path_prefix"?, "status", "times"?, "mode"?, "delay_ms"?, "body"?}`.
fn fault_from(mut fields: Fields) -> Result<Fault, ControlError> {
    let host: Host = fields.require("host")?;
    let method = fields
        .take::<String>("method")?
        .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
        .transpose()
        .map_err(|_| ControlError::Invalid("method: not an HTTP method".into()))?;
    let path_prefix = fields.take::<String>("path_prefix")?.unwrap_or_default();
    let status: u16 = fields.require("status")?;
    if status != Fault::NO_ANSWER && !(100..=599).contains(&status) {
        return Err(ControlError::Invalid(
            "status: must be an HTTP status (100-599), or 0 for no answer".into(),
        ));
    }
    let times = fields.take::<u32>("times")?.unwrap_or(1);
    let mode = fields.take::<FaultMode>("mode")?.unwrap_or_default();
    let delay = delay(fields.take::<u64>("delay_ms")?);
    let body = fields.take_raw("body");
    if body.as_ref().is_some_and(|body| !body.is_object()) {
        return Err(ControlError::Invalid(
            "body: must be a JSON object (the provider's error object)".into(),
        ));
    }
    fields.finish()?;
    Ok(Fault {
        host,
        method,
        path_prefix,
        status,
        times,
        mode,
        delay,
        body,
    })
}

pub(super) async fn add_fault(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let fault = fault_from(Fields::read(body).await?)?;
        control(shared).inject_fault(fault);
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

pub(super) async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).clear_faults();
    StatusCode::NO_CONTENT
}

/// `{"times"?, "duplicate"?, "delay_ms"?}` or `{"drop": N}`.
fn event_fault_from(mut fields: Fields) -> Result<EventFault, ControlError> {
    if fields.has("drop") {
        let count: u32 = fields.require("drop")?;
        if ["times", "duplicate", "delay_ms"]
            .iter()
            .any(|name| fields.has(name))
        {
            return Err(ControlError::Invalid(
                "drop: cannot be combined with times, duplicate or delay_ms".into(),
            ));
        }
        fields.finish()?;
        return Ok(EventFault::dropped(count));
    }
    let fault = EventFault {
        times: fields.take::<u32>("times")?.unwrap_or(1),
        duplicate: fields.take::<bool>("duplicate")?.unwrap_or(false),
        delay: delay(fields.take::<u64>("delay_ms")?),
        drop: false,
    };
    fields.finish()?;
    Ok(fault)
}

pub(super) async fn add_event_fault(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let fault = event_fault_from(Fields::read(body).await?)?;
        control(shared).inject_event_fault(fault);
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

pub(super) async fn clear_event_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).clear_event_faults();
    StatusCode::NO_CONTENT
}

/// `{"times"?, "duplicate"?, "delay_ms"?}`.
fn webhook_fault_from(mut fields: Fields) -> Result<WebhookFault, ControlError> {
    let fault = WebhookFault {
        times: fields.take::<u32>("times")?.unwrap_or(1),
        duplicate: fields.take::<bool>("duplicate")?.unwrap_or(false),
        delay: delay(fields.take::<u64>("delay_ms")?),
    };
    fields.finish()?;
    Ok(fault)
}

pub(super) async fn add_webhook_fault(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let fault = webhook_fault_from(Fields::read(body).await?)?;
        control(shared).inject_webhook_fault(fault);
        Ok(StatusCode::NO_CONTENT)
    };
    respond(result.await)
}

pub(super) async fn clear_webhook_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).clear_webhook_faults();
    StatusCode::NO_CONTENT
}
