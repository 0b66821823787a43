//! The idempotency record every create claims (links, transfers, bank transfers), and what claiming
//! it found: a new key, or the resource an earlier request with the same key made.

/// The idempotency record a create claims: one per (caller, operation, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub caller: String,
    /// e.g. `CreateBankLink`.
    pub operation: &'static str,
    pub key: String,
    /// The request's fields, canonical, secrets replaced by their SHA-256; compared on a repeat.
    pub fingerprint: String,
}

/// What `begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin<T> {
    /// The key was new: the record was created with the resource.
    Created(T),
    /// The key was used before: the stored fingerprint and the resource it made.
    Existing { fingerprint: String, resource: T },
}
