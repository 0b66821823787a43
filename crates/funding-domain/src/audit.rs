//! The audit trail's hash chain (DESIGN §12): every audit event holds the SHA-256 of the previous
//! event's hash and its own fields, so a changed, inserted or deleted row breaks the chain from
//! that row on. [`chain_hash`] computes a link; [`verify_chain`] walks a trail in order and names
//! the first row that does not fit.

use sha2::{Digest, Sha256};

/// The hash the first event chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event's fields, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFields<'a> {
    /// Its place in the trail: 1, 2, 3, … with no gaps.
    pub sequence: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who: the calling client's name, or the service itself (`service`).
    pub actor: &'a str,
    /// What: `freeze_account`, `approve_review`, `set_limits`, …
    pub action: &'a str,
    /// Which resource: `accounts/…`, `transfers/…`.
    pub resource: &'a str,
    /// Why: the operator's note, or the return that caused it.
    pub reason: &'a str,
    /// Anything else, as the writer serialised it (JSON).
    pub details: &'a str,
}

/// The hash of `fields` chained to `previous` (hex SHA-256 over each field, length-prefixed so no
/// two different rows hash alike).
pub fn chain_hash(previous: &str, fields: &AuditFields<'_>) -> String {
    let mut hasher = Sha256::new();
    let mut put = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    put(previous.as_bytes());
    put(&fields.sequence.to_be_bytes());
    put(&fields.at_ms.to_be_bytes());
    put(fields.actor.as_bytes());
    put(fields.action.as_bytes());
    put(fields.resource.as_bytes());
    put(fields.reason.as_bytes());
    put(fields.details.as_bytes());
    hex::encode(hasher.finalize())
}

/// Where a trail stops being what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error(
        "audit event {sequence}: its hash does not match its fields and the event before it (changed, or an event before it was)"
    )]
    Mismatch { sequence: i64 },
    #[error("audit event {found} follows {after}: an event is missing or was inserted")]
    Gap { after: i64, found: i64 },
}

/// Walks `trail` (each event's fields and stored hash, in sequence order) from the genesis hash.
/// The number of events verified, or the first break.
pub fn verify_chain<'a>(
    trail: impl IntoIterator<Item = (AuditFields<'a>, &'a str)>,
) -> Result<u64, ChainBreak> {
    let mut previous = GENESIS.to_owned();
    let mut last_sequence = 0;
    let mut verified = 0;
    for (fields, stored) in trail {
        if fields.sequence != last_sequence + 1 {
            return Err(ChainBreak::Gap {
                after: last_sequence,
                found: fields.sequence,
            });
        }
        let expected = chain_hash(&previous, &fields);
        if expected != stored {
            return Err(ChainBreak::Mismatch {
                sequence: fields.sequence,
            });
        }
        previous = expected;
        last_sequence = fields.sequence;
        verified += 1;
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(reasons: &[&'static str]) -> Vec<(AuditFields<'static>, String)> {
        let mut previous = GENESIS.to_owned();
        reasons
            .iter()
            .enumerate()
            .map(|(i, reason)| {
                let fields = AuditFields {
                    sequence: i as i64 + 1,
                    at_ms: 1_700_000_000_000 + i as i64,
                    actor: "ops-console",
                    action: "freeze_account",
                    resource: "accounts/8e00606a-c9ac-409a-ba45-f55e8f77984a",
                    reason,
                    details: "{}",
                };
                let hash = chain_hash(&previous, &fields);
                previous = hash.clone();
                (fields, hash)
            })
            .collect()
    }

    fn check(trail: &[(AuditFields<'static>, String)]) -> Result<u64, ChainBreak> {
        verify_chain(
            trail
                .iter()
                .map(|(fields, hash)| (fields.clone(), hash.as_str())),
        )
    }

    #[test]
    fn an_untouched_trail_verifies() {
        assert_eq!(
            check(&trail(&["R10 return", "operator note", "unfreeze"])),
            Ok(3)
        );
        assert_eq!(check(&[]), Ok(0));
    }

    #[test]
    fn a_changed_row_is_named_and_so_is_a_missing_one() {
        let mut changed = trail(&["R10 return", "operator note", "unfreeze"]);
        changed[1].0.reason = "a different note";
        assert_eq!(check(&changed), Err(ChainBreak::Mismatch { sequence: 2 }));
        let mut missing = trail(&["a", "b", "c"]);
        missing.remove(1);
        assert_eq!(check(&missing), Err(ChainBreak::Gap { after: 1, found: 3 }));
        // Rewriting a row's hash to fit its new text breaks the next row instead.
        let mut rehashed = trail(&["a", "b", "c"]);
        rehashed[1].0.reason = "B";
        rehashed[1].1 = chain_hash(&rehashed[0].1, &rehashed[1].0);
        assert_eq!(check(&rehashed), Err(ChainBreak::Mismatch { sequence: 3 }));
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = AuditFields {
            sequence: 1,
            at_ms: 0,
            actor: "ab",
            action: "c",
            resource: "",
            reason: "",
            details: "",
        };
        let b = AuditFields {
            actor: "a",
            action: "bc",
            ..a.clone()
        };
        assert_ne!(chain_hash(GENESIS, &a), chain_hash(GENESIS, &b));
    }
}
