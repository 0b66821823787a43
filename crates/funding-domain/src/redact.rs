//! The one token redactor: masks every Plaid token shape (`<kind>-<environment>-<identifier>`, the
//! shapes [`PublicToken`](crate::PublicToken), [`AccessToken`](crate::AccessToken) and
//! [`ProcessorToken`](crate::ProcessorToken) check) in text that leaves the service, such as a
//! provider's error message that might echo what it was sent: `access-sandbox-abc-123` becomes
//! `access-sandbox-[REDACTED]`. It masks a token wherever it appears, even glued to other text.

const KINDS: &[&str] = &["public", "access", "processor", "link"];
const ENVIRONMENTS: &[&str] = &["sandbox", "production", "development"];

/// `text` with the identifier of every `<kind>-<environment>-<identifier>` token masked.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, prefix_len)) = find_token_prefix(rest) {
        let after_prefix = &rest[start + prefix_len..];
        let identifier_len = after_prefix
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        out.push_str(&rest[..start + prefix_len]);
        if identifier_len > 0 {
            out.push_str("[REDACTED]");
        }
        rest = &after_prefix[identifier_len..];
    }
    out.push_str(rest);
    out
}

/// The first `<kind>-<environment>-`, as (offset, length).
fn find_token_prefix(text: &str) -> Option<(usize, usize)> {
    (0..text.len()).find_map(|start| {
        let candidate = text.get(start..)?;
        KINDS.iter().find_map(|kind| {
            let after_kind = candidate.strip_prefix(kind)?.strip_prefix('-')?;
            ENVIRONMENTS.iter().find_map(|environment| {
                after_kind.strip_prefix(environment)?.strip_prefix('-')?;
                Some((start, kind.len() + environment.len() + 2))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_wherever_they_appear() {
        assert_eq!(
            redact_tokens("bad token access-sandbox-de3ce8ef-33f8 given"),
            "bad token access-sandbox-[REDACTED] given"
        );
        assert_eq!(
            redact_tokens("public-production-abc,processor-sandbox-0asd1-a92nc"),
            "public-production-[REDACTED],processor-sandbox-[REDACTED]"
        );
        assert_eq!(
            redact_tokens(
                "invalid processor-sandbox-161c86dd-d470-47e9 for access-production-abc, public-development-x."
            ),
            "invalid processor-sandbox-[REDACTED] for access-production-[REDACTED], public-development-[REDACTED]."
        );
        assert_eq!(
            redact_tokens("glued:naccess-sandbox-x1"),
            "glued:naccess-sandbox-[REDACTED]"
        );
        assert_eq!(
            redact_tokens("link-sandbox-af1a0311"),
            "link-sandbox-[REDACTED]"
        );
    }

    #[test]
    fn format_descriptions_and_ordinary_text_stay_as_they_are() {
        for text in [
            "expected format: public-<environment>-<identifier>",
            "the public token is invalid",
            "",
            "public-facing processor-staging-x access- denied",
            "é access-staging-abc",
        ] {
            assert_eq!(redact_tokens(text), text);
        }
    }
}
