//! Scrubbing of text that leaves the adapter in an error message or a log line. Alpaca's own error
//! messages might echo what it was sent, so every Plaid token shape is masked (by the domain's one
//! redactor, [`funding_domain::redact_tokens`]), the client's own credentials are replaced, and long
//! texts (an HTML error page) are cut.

/// The longest message kept from a provider.
const MAX_MESSAGE_CHARS: usize = 500;

/// Replaces Plaid tokens and each of `secrets` (when non-empty) in `text`, and cuts it to a sane length.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut scrubbed = funding_domain::redact_tokens(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret, "[REDACTED]");
    }
    truncate(scrubbed)
}

fn truncate(text: String) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaid_tokens_are_replaced_wherever_they_appear() {
        let text = "invalid processor token processor-sandbox-161c86dd-d470-47e9 for access-production-abc, public-development-x.";
        assert_eq!(
            scrub(text, &[]),
            "invalid processor token processor-sandbox-[REDACTED] for access-production-[REDACTED], public-development-[REDACTED]."
        );
    }

    #[test]
    fn words_that_only_look_like_a_token_prefix_are_kept() {
        let text = "public-facing processor-staging-x access- denied";
        assert_eq!(scrub(text, &[]), text);
    }

    #[test]
    fn credentials_are_replaced_and_empty_ones_ignored() {
        assert_eq!(
            scrub("key CK123 secret s3cr3t", &["CK123", "s3cr3t", ""]),
            "key [REDACTED] secret [REDACTED]"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let text = "é".repeat(2000);
        let cut = scrub(&text, &[]);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
