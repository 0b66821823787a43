//! [`OrUnknown`]: an enum value Plaid sent, or the string itself when this adapter does not know it,
//! so a value Plaid adds later is kept and reported instead of failing the whole response.

use std::fmt;

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A known `T`, or the unknown string as Plaid sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrUnknown<T> {
    Known(T),
    Unknown(String),
}

impl<T> OrUnknown<T> {
    /// The known value, if it is one.
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown(_) => None,
        }
    }
}

impl<T> From<T> for OrUnknown<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: Serialize> fmt::Display for OrUnknown<T> {
    /// The wire string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(value) => match serde_json::to_value(value) {
                Ok(serde_json::Value::String(text)) => f.write_str(&text),
                _ => f.write_str("?"),
            },
            Self::Unknown(text) => f.write_str(text),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OrUnknown<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let known = T::deserialize(text.as_str().into_deserializer())
            .map_err(|_: serde::de::value::Error| ());
        Ok(known.map_or(Self::Unknown(text), Self::Known))
    }
}

impl<T: Serialize> Serialize for OrUnknown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => value.serialize(serializer),
            Self::Unknown(text) => serializer.serialize_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use funding_domain::Network;

    #[test]
    fn known_values_are_read_and_unknown_ones_kept() {
        let known: OrUnknown<Network> = serde_json::from_str(r#""same-day-ach""#).unwrap();
        assert_eq!(known, OrUnknown::Known(Network::SameDayAch));
        assert_eq!(known.to_string(), "same-day-ach");
        let unknown: OrUnknown<Network> = serde_json::from_str(r#""rtp""#).unwrap();
        assert_eq!(unknown, OrUnknown::Unknown("rtp".into()));
        assert_eq!(serde_json::to_string(&unknown).unwrap(), r#""rtp""#);
        assert_eq!(unknown.known(), None);
    }
}
