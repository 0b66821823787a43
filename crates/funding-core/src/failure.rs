//! How a definite provider failure is kept, for links, transfers and bank transfers alike, so that a
//! repeat of the same create (same idempotency key) answers with the same error as the first time.
//! The provider, the kind of failure and the provider's code are stored together in the resource's
//! `failure_code` as `provider/kind/code`.

use crate::ports::{Provider, ProviderError, ProviderErrorKind};

/// A link whose public token exchange had an unknown outcome: a new public token is needed.
pub const PUBLIC_TOKEN_NEEDED: &str = "service/public_token_needed";
/// A link, transfer or bank transfer whose work ran out of attempts.
pub const ATTEMPTS_EXHAUSTED: &str = "service/attempts_exhausted";

const KINDS: &[(ProviderErrorKind, &str)] = &[
    (ProviderErrorKind::InvalidRequest, "invalid_request"),
    (ProviderErrorKind::InvalidInput, "invalid_input"),
    (ProviderErrorKind::NotFound, "not_found"),
    (ProviderErrorKind::Conflict, "conflict"),
    (ProviderErrorKind::Forbidden, "forbidden"),
    (ProviderErrorKind::Unauthorized, "unauthorized"),
    (ProviderErrorKind::RateLimited, "rate_limited"),
    (ProviderErrorKind::Unavailable, "unavailable"),
    (ProviderErrorKind::Transport, "transport"),
    (ProviderErrorKind::NotProcessed, "not_processed"),
    (ProviderErrorKind::Decode, "decode"),
];

/// `plaid/invalid_input/INVALID_PUBLIC_TOKEN`.
pub fn encode(error: &ProviderError) -> String {
    let kind = KINDS
        .iter()
        .find(|(kind, _)| *kind == error.kind)
        .map_or("unknown", |(_, name)| name);
    format!("{}/{}/{}", error.provider, kind, error.code)
}

/// The error a stored failure stands for, with `message` as stored in the resource's status reason.
pub fn decode(stored: &str, message: &str) -> Option<ProviderError> {
    let mut parts = stored.splitn(3, '/');
    let provider = match parts.next()? {
        "plaid" => Provider::Plaid,
        "alpaca" => Provider::Alpaca,
        _ => return None,
    };
    let kind_name = parts.next()?;
    let kind = KINDS.iter().find(|(_, name)| *name == kind_name)?.0;
    let code = parts.next()?;
    Some(ProviderError::new(provider, kind, code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_back_as_the_same_error() {
        let error = ProviderError::new(
            Provider::Plaid,
            ProviderErrorKind::InvalidInput,
            "INVALID_PUBLIC_TOKEN",
            "expired",
        );
        let stored = encode(&error);
        assert_eq!(stored, "plaid/invalid_input/INVALID_PUBLIC_TOKEN");
        assert_eq!(decode(&stored, "expired"), Some(error));
        assert_eq!(decode("nonsense", "x"), None);
    }
}
