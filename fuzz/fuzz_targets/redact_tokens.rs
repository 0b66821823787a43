//! `redact_tokens`, the one redactor every log line and error goes through: never a panic, it is
//! idempotent, and no `<kind>-<environment>-<identifier>` Plaid token survives it.
#![no_main]

use funding_domain::redact_tokens;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let once = redact_tokens(text);
    assert_eq!(
        redact_tokens(&once),
        once,
        "redacting twice changes nothing"
    );
    for kind in ["public", "access", "processor", "link"] {
        for environment in ["sandbox", "production", "development"] {
            let prefix = format!("{kind}-{environment}-");
            for (at, _) in once.match_indices(&prefix) {
                let rest = &once[at + prefix.len()..];
                let identifier = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
                    .count();
                assert!(
                    identifier == 0 || rest.starts_with("[REDACTED]"),
                    "a token survived: {once:?}"
                );
            }
        }
    }
});
