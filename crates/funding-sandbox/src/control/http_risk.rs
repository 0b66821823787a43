//! `POST /_sandbox/plaid/items/{item_id}`: an Item's risk data ([`SandboxControl::set_item_risk`]):
//! `{"available"?: "120.00", "current"?: "130.00", "account_id"?: "…", "owner_names"?: ["John Q
//! Public"], "balance_unavailable"?: true}`. Balances are decimal strings or JSON numbers (null:
//! the bank reports none); they apply to the checking account unless `account_id` names another.
//! Answers the Item as `GET` does; 400 naming the field at fault, 404 for an unknown Item. The
//! owner of an Alpaca account is set through `POST /_sandbox/accounts/{id}` (`http`).

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::Value;

use super::fields::Fields;
use super::http::{control, respond};
use super::http_link::item_id;
use super::risk::ItemRiskSettings;
use crate::error::ControlError;
use crate::state::Shared;

/// A balance: absent (`None`), null (`Some(None)`), a decimal string or a JSON number.
fn take_balance(fields: &mut Fields, name: &str) -> Result<Option<Option<Decimal>>, ControlError> {
    let refused = || {
        ControlError::Invalid(format!(
            "{name}: must be a decimal string such as \"120.00\", a number, or null"
        ))
    };
    let parse = |text: &str| {
        let text = text.trim();
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map_err(|_| refused())
    };
    match fields.take_nullable::<Value>(name)? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(Value::String(text))) => parse(&text).map(|amount| Some(Some(amount))),
        Some(Some(Value::Number(number))) => {
            parse(&number.to_string()).map(|amount| Some(Some(amount)))
        }
        Some(Some(_)) => Err(refused()),
    }
}

/// The settings a request body asks for.
fn settings(mut fields: Fields) -> Result<ItemRiskSettings, ControlError> {
    let not_null = |name: &str| ControlError::Invalid(format!("{name}: must not be null"));
    let settings = ItemRiskSettings {
        account_id: fields.take::<String>("account_id")?,
        available: take_balance(&mut fields, "available")?,
        current: take_balance(&mut fields, "current")?,
        owner_names: match fields.take_nullable::<Vec<String>>("owner_names")? {
            Some(None) => return Err(not_null("owner_names")),
            other => other.flatten(),
        },
        balance_unavailable: match fields.take_nullable::<bool>("balance_unavailable")? {
            Some(None) => return Err(not_null("balance_unavailable")),
            other => other.flatten(),
        },
    };
    fields.finish()?;
    Ok(settings)
}

pub(super) async fn set_item_risk(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let result = async {
        let id = item_id(path)?;
        let settings = settings(Fields::read(body).await?)?;
        control(shared).set_item_risk(&id, settings).map(Json)
    };
    respond(result.await)
}
