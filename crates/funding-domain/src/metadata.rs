//! A Plaid bank transfer's `metadata`: string keys to string values, at most 50 pairs, ASCII only,
//! keys of at most 40 characters and values of at most 500. Plaid refuses nested values, so the type
//! only holds strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ValidationError, ValidationErrors};

/// Validated metadata; iteration is in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub const MAX_PAIRS: usize = 50;
    pub const MAX_KEY_CHARS: usize = 40;
    pub const MAX_VALUE_CHARS: usize = 500;

    /// Checks every pair and reports each broken rule, under `metadata` or `metadata.<key>`.
    pub fn parse<'a, I>(pairs: I) -> Result<Self, ValidationErrors>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut errors = ValidationErrors::new();
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            let field = if key.is_ascii() && !key.is_empty() && key.len() <= Self::MAX_KEY_CHARS {
                format!("metadata.{key}")
            } else {
                "metadata".to_owned()
            };
            if key.is_empty() {
                errors.push(ValidationError::new(&field, "keys must not be empty"));
            } else if !key.is_ascii() {
                errors.push(ValidationError::new(&field, "keys must be ASCII"));
            } else if key.len() > Self::MAX_KEY_CHARS {
                errors.push(ValidationError::new(
                    &field,
                    "keys must be at most 40 characters",
                ));
            }
            if !value.is_ascii() {
                errors.push(ValidationError::new(&field, "values must be ASCII"));
            } else if value.len() > Self::MAX_VALUE_CHARS {
                errors.push(ValidationError::new(
                    &field,
                    "values must be at most 500 characters",
                ));
            }
            map.insert(key.to_owned(), value.to_owned());
        }
        if map.len() > Self::MAX_PAIRS {
            errors.push(ValidationError::new(
                "metadata",
                "must have at most 50 pairs",
            ));
        }
        errors.into_result().map(|()| Self(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = ValidationErrors;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        Self::parse(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl From<Metadata> for BTreeMap<String, String> {
    fn from(value: Metadata) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("key{i}"), format!("value{i}")))
            .collect()
    }

    fn parse(pairs: &[(String, String)]) -> Result<Metadata, ValidationErrors> {
        Metadata::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    #[test]
    fn exactly_fifty_pairs_are_accepted() {
        assert_eq!(parse(&pairs(50)).unwrap().len(), 50);
    }

    #[test]
    fn fifty_one_pairs_are_refused() {
        let errors = parse(&pairs(51)).unwrap_err();
        assert!(errors.names("metadata"));
    }

    #[test]
    fn a_forty_character_key_and_a_five_hundred_character_value_are_accepted() {
        let key = "k".repeat(40);
        let value = "v".repeat(500);
        let metadata = Metadata::parse([(key.as_str(), value.as_str())]).unwrap();
        assert_eq!(metadata.get(&key), Some(value.as_str()));
    }

    #[test]
    fn long_keys_long_values_and_non_ascii_are_refused() {
        let long_key = "k".repeat(41);
        let errors = Metadata::parse([(long_key.as_str(), "v")]).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.field() == "metadata" && e.rule().contains("40"))
        );

        let long_value = "v".repeat(501);
        let errors = Metadata::parse([("key", long_value.as_str())]).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.field() == "metadata.key" && e.rule().contains("500"))
        );

        let errors = Metadata::parse([("clé", "v")]).unwrap_err();
        assert!(errors.iter().any(|e| e.rule().contains("ASCII")));
        let errors = Metadata::parse([("key", "värde")]).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.field() == "metadata.key" && e.rule().contains("ASCII"))
        );
        assert!(Metadata::parse([("", "v")]).is_err());
    }

    #[test]
    fn metadata_round_trips_through_json_and_refuses_nested_values() {
        let metadata = Metadata::parse([("key1", "value1")]).unwrap();
        let json = serde_json::to_string(&metadata).unwrap();
        assert_eq!(json, r#"{"key1":"value1"}"#);
        assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), metadata);
        assert!(serde_json::from_str::<Metadata>(r#"{"a":{"b":"c"}}"#).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"a":1}"#).is_err());
    }
}
