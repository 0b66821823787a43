//! The pipeline every Plaid endpoint shares: a fresh `request_id`; `Content-Type:
//! application/json` or 400 INVALID_HEADERS; a body of at most 1 MiB that parses as a JSON
//! object or 400 INVALID_BODY; credentials from the `PLAID-CLIENT-ID`/`PLAID-SECRET` headers or the
//! `client_id`/`secret` body fields; the endpoint's schema (UNKNOWN_FIELDS, MISSING_FIELDS,
//! INVALID_FIELD, in that order); then INVALID_API_KEYS; then the endpoint's own action. Every
//! answer, success or error, carries the `request_id`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::PlaidError;
use super::schema::{Field, check};
use crate::body::{BodyError, read_capped};
use crate::ids::plaid_request_id;
use crate::state::Shared;

/// Runs `action` on a body that passed every check, and renders the outcome Plaid's way.
pub(crate) async fn serve<T, F>(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Body,
    fields: &'static [Field],
    action: F,
) -> Response
where
    T: DeserializeOwned,
    F: FnOnce(&Shared, T) -> Result<Value, PlaidError>,
{
    let request_id = plaid_request_id();
    let outcome = match accept::<T>(&shared, &headers, body, fields).await {
        Ok(request) => action(&shared, request),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(mut value) => {
            if let Value::Object(map) = &mut value {
                map.insert("request_id".into(), Value::String(request_id));
            }
            (StatusCode::OK, Json(value)).into_response()
        }
        Err(error) => error.render(&request_id),
    }
}

async fn accept<T: DeserializeOwned>(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
    fields: &'static [Field],
) -> Result<T, PlaidError> {
    if !is_json(headers) {
        return Err(PlaidError::invalid_headers(
            "Content-Type header must be set to application/json",
        ));
    }
    let bytes = read_capped(body).await.map_err(|error| match error {
        BodyError::TooLarge => PlaidError::body_too_large(),
        BodyError::Unreadable => PlaidError::invalid_body(),
    })?;
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(PlaidError::invalid_body());
    };
    let credentials = take_credentials(headers, &mut map)?;

    let violations = check(&map, fields);
    if !violations.unknown.is_empty() {
        return Err(PlaidError::unknown_fields(&violations.unknown));
    }
    let mut missing = credentials.missing();
    missing.extend(violations.missing);
    if !missing.is_empty() {
        return Err(PlaidError::missing_fields(&missing));
    }
    if let Some(first) = violations.invalid.into_iter().next() {
        return Err(PlaidError::invalid_field(first));
    }
    if !credentials.accepted_by(shared.plaid_credentials.as_ref()) {
        return Err(PlaidError::invalid_api_keys());
    }
    serde_json::from_value(Value::Object(map))
        .map_err(|error| PlaidError::invalid_field(error.to_string()))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The caller's keys, wherever they came from (headers win over body fields).
struct Credentials {
    client_id: Option<String>,
    secret: Option<String>,
}

impl Credentials {
    fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.client_id.is_none() {
            missing.push("client_id".to_owned());
        }
        if self.secret.is_none() {
            missing.push("secret".to_owned());
        }
        missing
    }

    fn accepted_by(&self, expected: Option<&(String, String)>) -> bool {
        match (expected, &self.client_id, &self.secret) {
            (_, None, _) | (_, _, None) => false,
            (None, Some(_), Some(_)) => true,
            (Some((id, secret)), Some(given_id), Some(given_secret)) => {
                id == given_id && secret == given_secret
            }
        }
    }
}

fn take_credentials(
    headers: &HeaderMap,
    body: &mut Map<String, Value>,
) -> Result<Credentials, PlaidError> {
    let from_body = |body: &mut Map<String, Value>, name: &str| match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(PlaidError::invalid_field(format!(
            "{name} must be a string"
        ))),
    };
    let from_header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let body_id = from_body(body, "client_id")?;
    let body_secret = from_body(body, "secret")?;
    let non_empty = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    Ok(Credentials {
        client_id: non_empty(from_header("plaid-client-id")).or(non_empty(body_id)),
        secret: non_empty(from_header("plaid-secret")).or(non_empty(body_secret)),
    })
}
