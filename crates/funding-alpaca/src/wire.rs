//! Tolerant readers for Alpaca's JSON: optional fields may be missing, `null` or `""` (Plaid-created
//! relationships come back with `"bank_account_type": ""`), amounts are decimal strings that may lack
//! decimals (`"498"`). Unknown fields are ignored everywhere (serde's default).

use std::fmt::Display;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de::Error as _};

/// A string or a number, as an amount may come.
#[derive(Deserialize)]
#[serde(untagged)]
enum DecimalText {
    Text(String),
    Number(serde_json::Number),
}

impl DecimalText {
    fn parse<E: serde::de::Error>(self) -> Result<Decimal, E> {
        let text = match self {
            Self::Text(text) => text,
            Self::Number(number) => number.to_string(),
        };
        let text = text.trim();
        Decimal::from_str(text)
            .map_err(|_| E::custom(format_args!("{text:?} is not a decimal amount")))
    }
}

/// A required decimal amount, from `"498"`, `"500.00"` or `500`.
pub(crate) fn decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    DecimalText::deserialize(deserializer)?.parse()
}

/// An optional decimal amount: missing, `null` and `""` are `None`.
pub(crate) fn optional_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    match Option::<DecimalText>::deserialize(deserializer)? {
        None => Ok(None),
        Some(DecimalText::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(value) => value.parse().map(Some),
    }
}

/// Optional text: missing, `null` and `""` are `None`.
pub(crate) fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|text| !text.is_empty()))
}

/// An optional value parsed from text (a UUID, a timestamp): missing, `null` and `""` are `None`.
pub(crate) fn optional_parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    match optional_text(deserializer)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[derive(Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "decimal")]
        amount: Decimal,
        #[serde(default, deserialize_with = "optional_decimal")]
        fee: Option<Decimal>,
        #[serde(default, deserialize_with = "optional_text")]
        kind: Option<String>,
        #[serde(default, deserialize_with = "optional_parsed")]
        at: Option<DateTime<Utc>>,
    }

    fn sample(json: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn amounts_without_decimals_and_numbers_are_read_exactly() {
        assert_eq!(
            sample(r#"{"amount":"498"}"#).unwrap().amount,
            Decimal::from(498)
        );
        assert_eq!(
            sample(r#"{"amount":"500.10"}"#).unwrap().amount,
            Decimal::new(50010, 2)
        );
        assert_eq!(
            sample(r#"{"amount":12.5}"#).unwrap().amount,
            Decimal::new(125, 1)
        );
        assert!(sample(r#"{"amount":"NaN"}"#).is_err());
        assert!(sample(r#"{"amount":""}"#).is_err());
    }

    #[test]
    fn empty_and_null_optionals_are_none() {
        let read = sample(r#"{"amount":"1","fee":"","kind":"","at":null}"#).unwrap();
        assert_eq!((read.fee, read.kind, read.at), (None, None, None));
        let read = sample(r#"{"amount":"1"}"#).unwrap();
        assert_eq!((read.fee, read.kind, read.at), (None, None, None));
        let read = sample(
            r#"{"amount":"1","fee":"2","kind":"CHECKING","at":"2021-04-08T23:01:53.35743328Z"}"#,
        )
        .unwrap();
        assert_eq!(read.fee, Some(Decimal::from(2)));
        assert_eq!(read.kind.as_deref(), Some("CHECKING"));
        assert_eq!(read.at.unwrap().timestamp_subsec_nanos(), 357_433_280);
    }
}
