//! Scrubbing of text that leaves the adapter in an error message or a log line. Alpaca's own error
//! messages might echo what it was sent, so any Plaid token shape (`processor-`, `access-` or
//! `public-` followed by an environment and an identifier) and the client's own credentials are
//! replaced, and long texts (an HTML error page) are cut.

/// The longest message kept from a provider.
const MAX_MESSAGE_CHARS: usize = 500;

const TOKEN_KINDS: [&str; 3] = ["processor-", "access-", "public-"];
const ENVIRONMENTS: [&str; 3] = ["sandbox-", "production-", "development-"];

/// Replaces Plaid tokens and each of `secrets` (when non-empty) in `text`, and cuts it to a sane length.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut scrubbed = scrub_tokens(text);
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

/// `processor-sandbox-abc-123` → `processor-sandbox-[REDACTED]`, wherever it appears.
fn scrub_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        match find_token(rest) {
            Some((start, prefix_len, end)) => {
                out.push_str(&rest[..start + prefix_len]);
                out.push_str("[REDACTED]");
                rest = &rest[end..];
            }
            None => {
                out.push_str(rest);
                break;
            }
        }
    }
    out
}

/// The first token in `text`: (start, length of `<kind>-<env>-`, end of the identifier).
fn find_token(text: &str) -> Option<(usize, usize, usize)> {
    let mut best: Option<(usize, usize, usize)> = None;
    for kind in TOKEN_KINDS {
        let mut from = 0;
        while let Some(offset) = text[from..].find(kind) {
            let start = from + offset;
            from = start + kind.len();
            let after_kind = &text[start + kind.len()..];
            let Some(env) = ENVIRONMENTS.iter().find(|env| after_kind.starts_with(*env)) else {
                continue;
            };
            let prefix_len = kind.len() + env.len();
            let identifier_len = text[start + prefix_len..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .count();
            if identifier_len == 0 {
                continue;
            }
            if best.is_none_or(|(best_start, _, _)| start < best_start) {
                best = Some((start, prefix_len, start + prefix_len + identifier_len));
            }
            break;
        }
    }
    best
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
