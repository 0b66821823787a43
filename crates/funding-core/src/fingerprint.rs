//! A request's fingerprint for idempotency: its fields in a canonical JSON object, with secrets
//! replaced by their SHA-256 so that nothing secret is stored. Comparing two fingerprints names the
//! first field that differs.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Builds a fingerprint field by field.
#[derive(Debug, Default)]
pub struct Fingerprint(BTreeMap<String, String>);

impl Fingerprint {
    pub fn new() -> Self {
        Self::default()
    }

    /// A plain field, kept as is.
    #[must_use]
    pub fn field(mut self, name: &str, value: impl ToString) -> Self {
        self.0.insert(name.to_owned(), value.to_string());
        self
    }

    /// A secret field, kept as its SHA-256 in hex.
    #[must_use]
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.0.insert(
            name.to_owned(),
            hex::encode(Sha256::digest(value.as_bytes())),
        );
        self
    }

    /// The canonical text to store.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// The first field (in name order) whose value differs between a stored fingerprint and this one;
    /// `None` when they are the same. An unreadable stored fingerprint differs in `request`.
    pub fn first_difference(&self, stored: &str) -> Option<String> {
        let Ok(stored) = serde_json::from_str::<BTreeMap<String, String>>(stored) else {
            return Some("request".to_owned());
        };
        let names: std::collections::BTreeSet<&String> =
            stored.keys().chain(self.0.keys()).collect();
        names
            .into_iter()
            .find(|name| stored.get(*name) != self.0.get(*name))
            .cloned()
    }
}

impl Fingerprint {
    /// What a create's `begin` answers, for this request: the resource it created, or the one an
    /// earlier request with the same key made, if that request was this one (the same fields);
    /// `IdempotencyKeyReused` naming the first differing field otherwise.
    pub fn resolve<T>(
        &self,
        operation: &'static str,
        begun: crate::ports::Begin<T>,
    ) -> Result<T, crate::error::CoreError> {
        match begun {
            crate::ports::Begin::Created(resource) => Ok(resource),
            crate::ports::Begin::Existing {
                fingerprint: stored,
                resource,
            } => match self.first_difference(&stored) {
                Some(field) => {
                    Err(crate::error::CoreError::IdempotencyKeyReused { operation, field })
                }
                None => Ok(resource),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_fields_make_the_same_fingerprint() {
        let a = Fingerprint::new().field("a", "1").secret("token", "s3cret");
        let b = Fingerprint::new().secret("token", "s3cret").field("a", "1");
        assert_eq!(a.encode(), b.encode());
        assert_eq!(a.first_difference(&b.encode()), None);
        assert!(!a.encode().contains("s3cret"));
    }

    #[test]
    fn the_differing_field_is_named() {
        let stored = Fingerprint::new()
            .field("a", "1")
            .secret("token", "one")
            .encode();
        let now = Fingerprint::new().field("a", "1").secret("token", "two");
        assert_eq!(now.first_difference(&stored).as_deref(), Some("token"));
        let now = Fingerprint::new().field("a", "2").secret("token", "one");
        assert_eq!(now.first_difference(&stored).as_deref(), Some("a"));
        assert_eq!(now.first_difference("garbage").as_deref(), Some("request"));
    }
}
