//! The request schema and field rules of `/processor/bank_transfer/create` and
//! `/bank_transfer/create`: `idempotency_key` ≤ 50, `description` 1..=10, `custom_tag` ≤ 100,
//! `iso_currency_code` USD, amount a positive decimal with at most two fraction digits,
//! `ach_class` required on ACH networks and compatible with the type (credit: ccd, ppd; debit:
//! ccd, tel, web), `user.legal_name` required, `user.email_address` well formed,
//! `user.routing_number` refused (response only), metadata ≤ 50 ASCII string pairs with keys ≤ 40
//! and values ≤ 500 characters.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::PlaidError;
use super::schema::{Field, Kind, nullable, optional, required};

const TYPES: &[&str] = &["debit", "credit"];
const NETWORKS: &[&str] = &["ach", "same-day-ach", "wire"];
const ACH_CLASSES: &[&str] = &["ccd", "ppd", "tel", "web"];

/// `BankTransferUser` in a request.
const USER: &[Field] = &[
    required("legal_name", Kind::Str),
    nullable("email_address", Kind::Str),
    optional("routing_number", Kind::Str),
];

/// Fields both create variants share.
macro_rules! common_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            required("idempotency_key", Kind::Str),
            $($extra,)*
            required("type", Kind::Enum(TYPES)),
            required("network", Kind::Enum(NETWORKS)),
            required("amount", Kind::Str),
            required("iso_currency_code", Kind::Str),
            required("description", Kind::Str),
            optional("ach_class", Kind::Enum(ACH_CLASSES)),
            required("user", Kind::Object(USER)),
            nullable("custom_tag", Kind::Str),
            nullable("metadata", Kind::FreeObject),
            nullable("origination_account_id", Kind::Str),
        ]
    };
}

/// `ProcessorBankTransferCreateRequest`.
pub(crate) const PROCESSOR_CREATE: &[Field] =
    common_fields![required("processor_token", Kind::Str)];
/// `BankTransferCreateRequest`.
pub(crate) const ACCESS_TOKEN_CREATE: &[Field] = common_fields![
    required("access_token", Kind::Str),
    required("account_id", Kind::Str),
];

/// `BankTransferUser` as sent.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub(crate) struct UserRequest {
    pub legal_name: String,
    pub email_address: Option<String>,
    pub routing_number: Option<String>,
}

/// Either create request, as sent.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub(crate) struct CreateRequest {
    pub idempotency_key: String,
    pub processor_token: Option<String>,
    pub access_token: Option<String>,
    pub account_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub network: String,
    pub amount: String,
    pub iso_currency_code: String,
    pub description: String,
    pub ach_class: Option<String>,
    pub user: UserRequest,
    pub custom_tag: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub origination_account_id: Option<String>,
}

/// What the rules produce from a valid request.
pub(crate) struct Checked {
    /// The amount with exactly two fraction digits (`"12.30"`).
    pub amount: String,
    pub metadata: Option<BTreeMap<String, String>>,
}

fn invalid(message: impl Into<String>) -> PlaidError {
    PlaidError::invalid_field(message)
}

fn length(text: &str) -> usize {
    text.chars().count()
}

/// Applies every rule, first failure wins.
pub(crate) fn check(request: &CreateRequest) -> Result<Checked, PlaidError> {
    if request.idempotency_key.is_empty() || length(&request.idempotency_key) > 50 {
        return Err(invalid(
            "idempotency_key must be between 1 and 50 characters",
        ));
    }
    let amount = check_amount(&request.amount)?;
    if request.iso_currency_code != "USD" {
        return Err(invalid("iso_currency_code must be USD"));
    }
    if request.description.trim().is_empty() || length(&request.description) > 10 {
        return Err(invalid("description must be between 1 and 10 characters"));
    }
    check_ach_class(request)?;
    if request.user.legal_name.trim().is_empty() {
        return Err(invalid("user.legal_name must not be empty"));
    }
    if request.user.routing_number.is_some() {
        return Err(invalid(
            "user.routing_number is a response-only field and must not be sent",
        ));
    }
    if let Some(email) = &request.user.email_address
        && !is_email(email)
    {
        return Err(invalid("user.email_address is not a valid email address"));
    }
    if request
        .custom_tag
        .as_deref()
        .is_some_and(|tag| length(tag) > 100)
    {
        return Err(invalid("custom_tag must be at most 100 characters"));
    }
    let metadata = request.metadata.as_ref().map(check_metadata).transpose()?;
    Ok(Checked { amount, metadata })
}

/// Largest single transfer accepted (999,999,999.99).
fn single_transfer_limit() -> Decimal {
    Decimal::new(99_999_999_999, 2)
}

fn check_amount(text: &str) -> Result<String, PlaidError> {
    let shape_ok = !text.is_empty()
        && text.len() <= 20
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text
            .split('.')
            .nth(1)
            .is_none_or(|fraction| fraction.len() <= 2);
    let amount = Decimal::from_str(text)
        .ok()
        .filter(|_| shape_ok)
        .filter(|amount| *amount > Decimal::ZERO)
        .ok_or_else(|| {
            invalid("amount must be a positive decimal string with at most two digits of precision")
        })?;
    if amount > single_transfer_limit() {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_LIMIT_EXCEEDED",
            "bank transfer single transfer limit exceeded",
        ));
    }
    Ok(format!("{amount:.2}"))
}

fn check_ach_class(request: &CreateRequest) -> Result<(), PlaidError> {
    let ach = matches!(request.network.as_str(), "ach" | "same-day-ach");
    let Some(class) = request.ach_class.as_deref() else {
        return if ach {
            Err(invalid(
                "ach_class is required for ach and same-day-ach transfers",
            ))
        } else {
            Ok(())
        };
    };
    let allowed: &[&str] = match request.kind.as_str() {
        "credit" => &["ccd", "ppd"],
        _ => &["ccd", "tel", "web"],
    };
    if allowed.contains(&class) {
        Ok(())
    } else {
        Err(invalid(format!(
            "ach_class {class} is not allowed for {} transfers",
            request.kind
        )))
    }
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !text.chars().any(char::is_whitespace)
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<BTreeMap<String, String>, PlaidError> {
    if metadata.len() > 50 {
        return Err(invalid("metadata must have at most 50 key/value pairs"));
    }
    let mut checked = BTreeMap::new();
    for (key, value) in metadata {
        let Value::String(value) = value else {
            return Err(invalid(format!("metadata.{key} must be a string")));
        };
        if !key.is_ascii() || !value.is_ascii() {
            return Err(invalid("metadata keys and values must be ASCII"));
        }
        if key.is_empty() || key.len() > 40 {
            return Err(invalid("metadata keys must be between 1 and 40 characters"));
        }
        if value.len() > 500 {
            return Err(invalid("metadata values must be at most 500 characters"));
        }
        checked.insert(key.clone(), value.clone());
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> CreateRequest {
        serde_json::from_value(json!({
            "idempotency_key": "k1", "processor_token": "processor-sandbox-x",
            "type": "credit", "network": "ach", "amount": "12.3", "iso_currency_code": "USD",
            "description": "payout", "ach_class": "ppd", "user": {"legal_name": "Ada"},
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_request_passes_with_a_two_decimal_amount() {
        assert_eq!(check(&request()).unwrap().amount, "12.30");
    }

    #[test]
    fn each_rule_refuses_its_violation() {
        type Mutation = Box<dyn Fn(&mut CreateRequest)>;
        let cases: Vec<Mutation> = vec![
            Box::new(|r| r.description = "elevenchars".into()),
            Box::new(|r| r.amount = "10.001".into()),
            Box::new(|r| r.amount = "0".into()),
            Box::new(|r| r.amount = "1e3".into()),
            Box::new(|r| r.iso_currency_code = "EUR".into()),
            Box::new(|r| r.ach_class = None),
            Box::new(|r| r.ach_class = Some("web".into())),
            Box::new(|r| r.user.routing_number = Some("011401533".into())),
            Box::new(|r| r.user.email_address = Some("not-an-email".into())),
            Box::new(|r| r.custom_tag = Some("x".repeat(101))),
            Box::new(|r| r.idempotency_key = "k".repeat(51)),
            Box::new(|r| {
                r.metadata = Some(json!({"k": 1}).as_object().unwrap().clone());
            }),
            Box::new(|r| {
                r.metadata = Some(json!({"k": "é"}).as_object().unwrap().clone());
            }),
            Box::new(|r| {
                r.metadata = Some(json!({"k".repeat(41): "v"}).as_object().unwrap().clone());
            }),
        ];
        for (index, mutate) in cases.iter().enumerate() {
            let mut r = request();
            mutate(&mut r);
            assert!(check(&r).is_err(), "case {index} should be refused");
        }
    }

    #[test]
    fn debits_allow_tel_and_web_and_wires_need_no_class() {
        let mut r = request();
        r.kind = "debit".into();
        r.ach_class = Some("web".into());
        assert!(check(&r).is_ok());
        r.network = "wire".into();
        r.ach_class = None;
        assert!(check(&r).is_ok());
    }
}
