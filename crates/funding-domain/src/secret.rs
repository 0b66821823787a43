//! Plaid's tokens as secrets. A [`PublicToken`], [`AccessToken`] or [`ProcessorToken`] is checked for
//! its `<kind>-<environment>-<identifier>` shape when built, and never shows its value through `Debug`
//! or `Display`: only [`expose_secret`](AccessToken::expose_secret) gives it out, so every place that
//! sends a token to a provider or encrypts it for storage is easy to find.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::ValidationError;

/// The Plaid environment a token belongs to; tokens cannot move between environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaidEnvironment {
    Sandbox,
    Production,
    /// Plaid's retired third environment; old tokens may still carry it.
    Development,
}

impl PlaidEnvironment {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
            Self::Development => "development",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "sandbox" => Some(Self::Sandbox),
            "production" => Some(Self::Production),
            "development" => Some(Self::Development),
            _ => None,
        }
    }
}

impl fmt::Display for PlaidEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest token accepted; Plaid's are well under 100 characters.
const MAX_TOKEN_LEN: usize = 256;

/// Checks `<prefix>-<environment>-<identifier>`, identifier of ASCII letters, digits and `-`.
fn parse_token(
    field: &'static str,
    prefix: &'static str,
    input: &str,
) -> Result<PlaidEnvironment, ValidationError> {
    let shape = || {
        ValidationError::new(
            field,
            format!("must look like {prefix}-<environment>-<identifier>"),
        )
    };
    if input.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if input.len() > MAX_TOKEN_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_TOKEN_LEN} characters"),
        ));
    }
    let rest = input
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .ok_or_else(shape)?;
    let (environment, identifier) = rest.split_once('-').ok_or_else(shape)?;
    let environment = PlaidEnvironment::parse(environment).ok_or_else(|| {
        ValidationError::new(
            field,
            "environment must be sandbox, production or development",
        )
    })?;
    if identifier.is_empty()
        || !identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(shape());
    }
    Ok(environment)
}

macro_rules! plaid_token {
    ($(#[$doc:meta])* $name:ident, $field:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            value: SecretString,
            environment: PlaidEnvironment,
        }

        impl $name {
            /// The field name used in errors about this token.
            pub const FIELD: &'static str = $field;

            #[doc = concat!("Accepts `", $prefix, "-<environment>-<identifier>`.")]
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                let environment = parse_token($field, $prefix, input)?;
                Ok(Self { value: SecretString::from(input.to_owned()), environment })
            }

            /// The token itself, for the one place that sends or encrypts it.
            pub fn expose_secret(&self) -> &str {
                self.value.expose_secret()
            }

            pub fn environment(&self) -> PlaidEnvironment {
                self.environment
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}-{}-[REDACTED])"), $prefix, self.environment)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}-{}-[REDACTED]", $prefix, self.environment)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose_secret() == other.expose_secret()
            }
        }

        impl Eq for $name {}
    };
}

plaid_token!(
    /// The short-lived token Plaid Link hands the front end (`public-<env>-…`); exchanged once for an access token.
    PublicToken, "public_token", "public"
);
plaid_token!(
    /// The long-lived token for a Plaid Item (`access-<env>-…`).
    AccessToken, "access_token", "access"
);
plaid_token!(
    /// The token a processor such as Alpaca uses to reach one account of an Item (`processor-<env>-…`).
    ProcessorToken, "processor_token", "processor"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_the_right_shape_are_accepted() {
        let token = ProcessorToken::parse("processor-sandbox-0asd1-a92nc").unwrap();
        assert_eq!(token.environment(), PlaidEnvironment::Sandbox);
        assert_eq!(token.expose_secret(), "processor-sandbox-0asd1-a92nc");
        AccessToken::parse("access-production-de3ce8ef-33f8-4b6a-9a6b-0123456789ab").unwrap();
        PublicToken::parse("public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d").unwrap();
    }

    #[test]
    fn tokens_never_print_their_value() {
        let secret = "access-sandbox-de3ce8ef-33f8-4b6a-9a6b-0123456789ab";
        let token = AccessToken::parse(secret).unwrap();
        for shown in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{token:#?}"),
        ] {
            assert!(!shown.contains("de3ce8ef"), "{shown}");
            assert!(shown.contains("REDACTED"), "{shown}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused_naming_the_field() {
        for (bad, rule) in [
            ("", "is required"),
            ("public-sandbox-", "must look like"),
            ("public-sandbox", "must look like"),
            ("access-sandbox-abc", "must look like"),
            ("public-staging-abc", "environment"),
            ("public-sandbox-a b", "must look like"),
            ("public-sandbox-ab\n", "must look like"),
        ] {
            let error = PublicToken::parse(bad).unwrap_err();
            assert_eq!(error.field(), "public_token");
            assert!(error.rule().contains(rule), "{bad}: {}", error.rule());
        }
        assert_eq!(
            ProcessorToken::parse("public-sandbox-abc")
                .unwrap_err()
                .field(),
            "processor_token"
        );
        assert_eq!(
            AccessToken::parse(&"a".repeat(300)).unwrap_err().field(),
            "access_token"
        );
    }

    #[test]
    fn a_refusal_does_not_echo_the_token() {
        let error = AccessToken::parse("access-sandbox-secret value").unwrap_err();
        assert!(!error.to_string().contains("secret value"));
    }
}
