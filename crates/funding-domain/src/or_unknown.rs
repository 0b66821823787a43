//! [`OrUnknown`]: an enum value a provider sent, or the string itself when this service does not
//! know it, so a value the provider adds later is kept and reported instead of failing the whole
//! answer. It reads and writes as the provider's string, so stored JSON keeps the wire's text.

use std::fmt;

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A known `T`, or the unknown string as the provider sent it.
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

impl<T: fmt::Display> fmt::Display for OrUnknown<T> {
    /// The provider's string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(value) => value.fmt(f),
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
    use crate::Network;

    #[test]
    fn known_values_are_read_and_unknown_ones_kept() {
        let known: OrUnknown<Network> = serde_json::from_str(r#""same-day-ach""#).unwrap();
        assert_eq!(known, OrUnknown::Known(Network::SameDayAch));
        assert_eq!(known.to_string(), "same-day-ach");
        let unknown: OrUnknown<Network> = serde_json::from_str(r#""rtp""#).unwrap();
        assert_eq!(unknown, OrUnknown::Unknown("rtp".into()));
        assert_eq!(serde_json::to_string(&unknown).unwrap(), r#""rtp""#);
        assert_eq!(unknown.to_string(), "rtp");
        assert_eq!(unknown.known(), None);
    }
}
