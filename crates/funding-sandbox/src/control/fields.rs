//! Reading a control request's JSON object field by field, so that every refusal names the field
//! at fault (`"delay_ms: invalid type: string \"x\", expected u64"`, `"unknown field: dealy_ms"`),
//! which a typed `serde` struct cannot do for a value of the wrong type.

use std::str::FromStr;

use axum::body::Body;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::body::read_capped;
use crate::error::ControlError;

/// The fields of one request body not taken yet.
pub(super) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// Reads the body: a JSON object, or nothing (no fields).
    pub(super) async fn read(body: Body) -> Result<Self, ControlError> {
        let bytes = read_capped(body)
            .await
            .map_err(|_| ControlError::Invalid("unreadable or too large body".into()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self { map: Map::new() });
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self { map }),
            Ok(_) => Err(ControlError::Invalid(
                "the body must be a JSON object".into(),
            )),
            Err(error) => Err(ControlError::Invalid(format!(
                "the body is not JSON: {error}"
            ))),
        }
    }

    /// Whether the request has this field (null included).
    pub(super) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// An optional field; null counts as absent.
    pub(super) fn take<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, ControlError> {
        Ok(self.take_nullable(name)?.flatten())
    }

    /// A field that may be absent (`None`), null (`Some(None)`) or a value.
    pub(super) fn take_nullable<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<Option<T>>, ControlError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(value) => serde_json::from_value(value)
                .map(|value| Some(Some(value)))
                .map_err(|error| ControlError::Invalid(format!("{name}: {error}"))),
        }
    }

    /// A field that must be there.
    pub(super) fn require<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, ControlError> {
        self.take(name)?
            .ok_or_else(|| ControlError::Invalid(format!("{name} is required")))
    }

    /// A decimal string (`"2"`, `"100.00"`) that may be absent (`None`) or null (`Some(None)`).
    /// JSON numbers are refused: money never goes through a float here.
    pub(super) fn take_decimal(
        &mut self,
        name: &str,
    ) -> Result<Option<Option<Decimal>>, ControlError> {
        let refused = || {
            ControlError::Invalid(format!(
                "{name}: must be a decimal string such as \"100.00\""
            ))
        };
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(text)) => Decimal::from_str(text.trim())
                .map(|value| Some(Some(value)))
                .map_err(|_| refused()),
            Some(_) => Err(refused()),
        }
    }

    /// A field taken as it is (any JSON but null).
    pub(super) fn take_raw(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|value| !value.is_null())
    }

    /// Refuses whatever field was not taken.
    pub(super) fn finish(self) -> Result<(), ControlError> {
        let unknown: Vec<&str> = self.map.keys().map(String::as_str).collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ControlError::Invalid(format!(
                "unknown field: {}",
                unknown.join(", ")
            )))
        }
    }
}
