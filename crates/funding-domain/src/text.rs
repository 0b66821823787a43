//! Bounded pieces of text with rules of their own: the caller's [`IdempotencyKey`], a bank
//! transfer's [`Description`] and [`CustomTag`], a bank link's [`Nickname`], a person's or business's
//! [`LegalName`] and an [`EmailAddress`]. Lengths are counted in characters, as Plaid counts them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// A line of human text: not blank, at most `max_chars` characters, no control characters.
fn checked_line(
    field: &'static str,
    input: &str,
    max_chars: usize,
    blank: &str,
) -> Result<String, ValidationError> {
    if input.trim().is_empty() {
        return Err(ValidationError::new(field, blank));
    }
    if char_count(input) > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(input.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_value!(
    /// The caller's key for one logical request: 1 to 50 printable ASCII characters (a UUID fits).
    IdempotencyKey
);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 50;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let field = "idempotency_key";
        if input.is_empty() {
            return Err(ValidationError::new(field, "is required"));
        }
        if input.len() > Self::MAX_LEN {
            return Err(ValidationError::new(field, "must be at most 50 characters"));
        }
        if !input.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ValidationError::new(field, "must be printable ASCII"));
        }
        Ok(Self(input.to_owned()))
    }
}

text_value!(
    /// A Plaid bank transfer's description: 1 to 10 characters, as it appears on the bank statement.
    Description
);

impl Description {
    pub const MAX_CHARS: usize = 10;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        checked_line("description", input, Self::MAX_CHARS, "is required").map(Self)
    }
}

text_value!(
    /// A Plaid bank transfer's free-form tag: at most 100 characters.
    CustomTag
);

impl CustomTag {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        if char_count(input) > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "custom_tag",
                "must be at most 100 characters",
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

text_value!(
    /// A caller's name for a bank link: 1 to 100 characters, no control characters.
    Nickname
);

impl Nickname {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        checked_line("nickname", input, Self::MAX_CHARS, "must not be blank").map(Self)
    }
}

text_value!(
    /// The account holder's legal name (the business name for a `ccd` transfer): 1 to 200 characters.
    LegalName
);

impl LegalName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        checked_line("legal_name", input, Self::MAX_CHARS, "is required").map(Self)
    }
}

text_value!(
    /// An e-mail address: `local@domain` with a dotted domain, at most 254 characters, no spaces.
    EmailAddress
);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let field = "email_address";
        let invalid =
            || ValidationError::new(field, "must be an e-mail address such as name@example.com");
        if input.is_empty() {
            return Err(ValidationError::new(field, "must not be empty when given"));
        }
        if input.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                "must be at most 254 characters",
            ));
        }
        if !input.is_ascii()
            || input
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid());
        }
        let (local, domain) = input.rsplit_once('@').ok_or_else(invalid)?;
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !labels_ok {
            return Err(invalid());
        }
        Ok(Self(input.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idempotency_key_of_fifty_characters_is_accepted() {
        IdempotencyKey::parse(&"k".repeat(50)).unwrap();
        IdempotencyKey::parse("a").unwrap();
        IdempotencyKey::parse("b0e2c4ee-a763-4df5-bfe9-46a46bce993d").unwrap();
    }

    #[test]
    fn bad_idempotency_keys_are_refused_naming_the_field() {
        for bad in [
            String::new(),
            "k".repeat(51),
            "tab\tkey".into(),
            "ключ".into(),
            "nul\0".into(),
        ] {
            assert_eq!(
                IdempotencyKey::parse(&bad).unwrap_err().field(),
                "idempotency_key"
            );
        }
    }

    #[test]
    fn a_ten_character_description_is_accepted_and_eleven_refused() {
        Description::parse("0123456789").unwrap();
        Description::parse("Dépôt 1234").unwrap();
        let error = Description::parse("01234567890").unwrap_err();
        assert_eq!(error.field(), "description");
        assert!(error.rule().contains("10"));
        assert_eq!(Description::parse("").unwrap_err().field(), "description");
        assert_eq!(
            Description::parse("   ").unwrap_err().field(),
            "description"
        );
        assert_eq!(
            Description::parse("a\nb").unwrap_err().field(),
            "description"
        );
    }

    #[test]
    fn a_hundred_character_custom_tag_is_accepted_and_more_refused() {
        CustomTag::parse(&"t".repeat(100)).unwrap();
        CustomTag::parse("").unwrap();
        assert_eq!(
            CustomTag::parse(&"t".repeat(101)).unwrap_err().field(),
            "custom_tag"
        );
    }

    #[test]
    fn nicknames_and_legal_names_are_bounded() {
        Nickname::parse(&"n".repeat(100)).unwrap();
        assert_eq!(
            Nickname::parse(&"n".repeat(101)).unwrap_err().field(),
            "nickname"
        );
        assert_eq!(Nickname::parse(" ").unwrap_err().field(), "nickname");
        LegalName::parse(&"n".repeat(200)).unwrap();
        assert_eq!(
            LegalName::parse(&"n".repeat(201)).unwrap_err().field(),
            "legal_name"
        );
        assert_eq!(LegalName::parse("").unwrap_err().field(), "legal_name");
    }

    #[test]
    fn email_addresses_are_checked() {
        for good in ["plaid@plaid.com", "a.b+c@sub.example.co", "x@a.io"] {
            EmailAddress::parse(good).unwrap();
        }
        for bad in [
            "",
            "plaid",
            "@plaid.com",
            "a@",
            "a@b",
            "a b@c.com",
            "a@-b.com",
            "a@b..com",
            "é@b.com",
        ] {
            assert_eq!(
                EmailAddress::parse(bad).unwrap_err().field(),
                "email_address",
                "{bad}"
            );
        }
    }
}
