//! Request parsing shared by the Alpaca handlers: UUIDs in paths (400 naming the parameter when
//! malformed) and JSON bodies (capped at 1 MiB; malformed JSON or wrong types answer 400; unknown
//! fields are ignored, as Alpaca does).

use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::AlpacaError;
use crate::body::{BodyError, read_capped};

/// Parses a path parameter that must be a UUID.
pub(crate) fn parse_id(name: &str, raw: &str) -> Result<Uuid, AlpacaError> {
    Uuid::parse_str(raw).map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        AlpacaError::bad_request(format!("invalid {name}: {shown:?} is not a valid UUID"))
    })
}

/// Turns an undecodable path into Alpaca's 400.
pub(crate) fn path_error(rejection: &PathRejection) -> AlpacaError {
    AlpacaError::bad_request(format!("invalid path parameter: {rejection}"))
}

/// The account id of a `/v1/accounts/{account_id}/…` path.
pub(crate) fn account_path(path: Result<Path<String>, PathRejection>) -> Result<Uuid, AlpacaError> {
    let Path(raw) = path.map_err(|rejection| path_error(&rejection))?;
    parse_id("account_id", &raw)
}

/// The account id and the `name`d resource id of a `/v1/accounts/{account_id}/…/{id}` path.
pub(crate) fn account_and_id_path(
    path: Result<Path<(String, String)>, PathRejection>,
    name: &str,
) -> Result<(Uuid, Uuid), AlpacaError> {
    let Path((raw_account, raw_id)) = path.map_err(|rejection| path_error(&rejection))?;
    Ok((
        parse_id("account_id", &raw_account)?,
        parse_id(name, &raw_id)?,
    ))
}

/// Reads and decodes a JSON body.
pub(crate) async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, AlpacaError> {
    let bytes = read_capped(body).await.map_err(|error| match error {
        BodyError::TooLarge => AlpacaError::too_large(),
        BodyError::Unreadable => AlpacaError::malformed_body("could not read the body"),
    })?;
    serde_json::from_slice(&bytes).map_err(AlpacaError::malformed_body)
}
