//! `GET`/`POST /_sandbox/alpaca/settings`: the optional Alpaca behaviours
//! ([`crate::AlpacaSettings`]). GET answers all of them; POST changes the keys it has (null turns
//! one off) and answers all of them:
//! `{"ach_fee": "0", "cash_withdrawable": "net", "list_page_cap": null, "settled_after_complete_ms": null}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::SandboxControl;
use super::fields::Fields;
use super::http::{control, respond};
use crate::alpaca::settings::{AlpacaSettings, CashWithdrawable};
use crate::error::ControlError;
use crate::state::Shared;

fn settings_json(settings: &AlpacaSettings) -> Json<Value> {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Json(json!({
        "ach_fee": settings.ach_fee.normalize().to_string(),
        "cash_withdrawable": settings.cash_withdrawable,
        "list_page_cap": settings.list_page_cap,
        "settled_after_complete_ms": settings.settled_after_complete.map(millis),
    }))
}

pub(super) async fn get_settings(State(shared): State<Arc<Shared>>) -> Response {
    settings_json(&control(shared).alpaca_settings()).into_response()
}

/// The settings `fields` asks for, starting from `current`.
fn changed(mut fields: Fields, current: AlpacaSettings) -> Result<AlpacaSettings, ControlError> {
    let mut settings = current;
    if let Some(fee) = fields.take_decimal("ach_fee")? {
        settings.ach_fee = fee.unwrap_or(Decimal::ZERO);
    }
    if let Some(mode) = fields.take_nullable::<CashWithdrawable>("cash_withdrawable")? {
        settings.cash_withdrawable = mode.unwrap_or_default();
    }
    if let Some(cap) = fields.take_nullable::<usize>("list_page_cap")? {
        settings.list_page_cap = cap;
    }
    if let Some(ms) = fields.take_nullable::<u64>("settled_after_complete_ms")? {
        settings.settled_after_complete = ms.map(Duration::from_millis);
    }
    fields.finish()?;
    Ok(settings)
}

pub(super) async fn set_settings(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let control: SandboxControl = control(shared);
        let settings = changed(Fields::read(body).await?, control.alpaca_settings())?;
        control.set_alpaca_settings(settings)?;
        Ok(settings_json(&control.alpaca_settings()))
    };
    respond(result.await)
}
