//! What the settings say in messages: [`describe`] turns a settings error into one line naming the
//! key and where it came from, and [`redact_url`] hides a database URL's password.

/// The settings that are socket addresses.
const ADDRESS_KEYS: &[&str] = &["listen", "metrics_listen", "webhook_listen"];

/// One line for a settings error: the key at fault, what is wrong with it, and where it came from
/// (the file, or the environment variable). Never the value given for a secret.
pub fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;
    let key = error.path.join(".");
    let under = |field: &str| {
        if key.is_empty() {
            field.to_owned()
        } else if key == field || key.ends_with(&format!(".{field}")) {
            key.clone()
        } else {
            format!("{key}.{field}")
        }
    };
    let what = match &error.kind {
        Kind::UnknownField(field, _) => format!("unknown setting `{}`", under(field)),
        Kind::MissingField(field) => format!("{} is required", under(field)),
        Kind::DuplicateField(field) => format!("{} is given twice", under(field)),
        _ if ADDRESS_KEYS.contains(&key.as_str()) => {
            format!("{key} is not an address (e.g. 127.0.0.1:50051)")
        }
        // A secret's value is never repeated.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected)
            if key.contains("secret") || key.contains("encryption_key") =>
        {
            format!("{key} must be {expected}")
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("{key} must be {expected}, not {actual}")
        }
        Kind::InvalidLength(_, expected) => format!("{key} must be {expected}"),
        Kind::UnknownVariant(variant, expected) => {
            format!("{key}: unknown value `{variant}`, expected one of {expected:?}")
        }
        Kind::Message(message) if key.is_empty() => message.clone(),
        Kind::Message(message) => format!("{key}: {message}"),
        other => format!("{key}: {other}"),
    };
    let what = what
        .replace("must be u64", "must be a whole number")
        .replace("must be u32", "must be a whole number")
        .replace("must be usize", "must be a whole number")
        .replace("must be u8", "must be a whole number");
    // One line: TOML's parse errors come over several.
    let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
    let origin = error
        .metadata
        .as_ref()
        .map(|metadata| match &metadata.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ if metadata.name.contains("environment") && !error.path.is_empty() => format!(
                " (from the environment variable FUNDING_{})",
                error.path.join("__").to_uppercase()
            ),
            _ => String::new(),
        });
    format!("{what}{}", origin.unwrap_or_default())
}

/// `url` with the password of its user info (`scheme://user:PASSWORD@host`) and any `password=`
/// query parameter replaced by `[REDACTED]`; a URL without a password is returned as it is.
pub fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(scheme_end) = redacted.find("://").map(|i| i + 3) {
        let rest = &redacted[scheme_end..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_len].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            redacted.replace_range(scheme_end + colon + 1..scheme_end + at, "[REDACTED]");
        }
    }
    if let Some(query_start) = redacted.find('?') {
        let (base, query) = redacted.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=[REDACTED]")
                }
                _ => pair.to_owned(),
            })
            .collect();
        redacted = format!("{base}{}", query.join("&"));
    }
    redacted
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn a_password_in_the_user_info_is_redacted() {
        assert_eq!(
            redact_url("postgres://user:secret@host/db"),
            "postgres://user:[REDACTED]@host/db"
        );
        assert_eq!(
            redact_url("postgresql://funding:p%40ss:w0rd@db.internal:5432/funding?sslmode=require"),
            "postgresql://funding:[REDACTED]@db.internal:5432/funding?sslmode=require"
        );
    }

    #[test]
    fn a_password_parameter_is_redacted() {
        assert_eq!(
            redact_url("postgres://host/db?user=funding&password=secret&sslmode=require"),
            "postgres://host/db?user=funding&password=[REDACTED]&sslmode=require"
        );
    }

    #[test]
    fn a_url_without_a_password_is_unchanged() {
        for url in [
            "postgres://user@host/db",
            "postgres://host:5432/db",
            "sqlite:./var/funding.db",
            "sqlite:///tmp/a@b/funding.db?mode=rwc",
            "postgres://user@host/db?x=a:b@c",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn the_settings_redact_their_database_url() {
        let settings = Settings {
            database_url: "postgres://user:secret@host/db".into(),
            ..Settings::default()
        };
        assert!(!settings.redacted_database_url().contains("secret"));
    }
}
