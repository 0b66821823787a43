//! Masks Plaid tokens in text that came from Plaid (error messages), so that an error message or a
//! log line never carries one even if Plaid's wording ever echoed it: `access-sandbox-abc-123`
//! becomes `access-sandbox-[REDACTED]`.

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

/// The first `<kind>-<environment>-` that starts a word, as (offset, length).
fn find_token_prefix(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| {
        let at_word_start = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !at_word_start {
            return None;
        }
        let candidate = &text.get(start..)?;
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
    fn tokens_in_text_are_masked() {
        assert_eq!(
            redact_tokens("bad token access-sandbox-de3ce8ef-33f8 given"),
            "bad token access-sandbox-[REDACTED] given"
        );
        assert_eq!(
            redact_tokens("public-production-abc,processor-sandbox-0asd1-a92nc"),
            "public-production-[REDACTED],processor-sandbox-[REDACTED]"
        );
    }

    #[test]
    fn format_descriptions_and_ordinary_text_stay_as_they_are() {
        for text in [
            "expected format: public-<environment>-<identifier>",
            "the public token is invalid",
            "",
            "naccess-sandbox-x is not a token start",
            "é access-staging-abc",
        ] {
            assert_eq!(redact_tokens(text), text);
        }
    }
}
