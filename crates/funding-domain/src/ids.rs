//! Identifiers. Alpaca's account, ACH relationship and transfer ids are UUIDs, and so are the ids this
//! service gives its own bank links and transfers; each gets its own type so one can never be passed
//! for another. Plaid's ids are opaque strings with their own light checks.
//!
//! Ours are unprefixed ([`BankLinkId`], [`TransferId`], [`BankTransferId`]); a provider's are named
//! for the provider ([`AlpacaTransferId`], [`PlaidBankTransferId`], [`PlaidItemId`], …).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The field name used in errors about this id.
            pub const FIELD: &'static str = $field;

            /// Accepts a UUID in its hyphenated form, any case.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                if input.is_empty() {
                    return Err(ValidationError::new($field, "is required"));
                }
                if input.len() != 36 {
                    return Err(ValidationError::new($field, "must be a UUID such as 8e00606a-c9ac-409a-ba45-f55e8f77984a"));
                }
                Uuid::try_parse(input)
                    .map(Self)
                    .map_err(|_| ValidationError::new($field, "must be a UUID such as 8e00606a-c9ac-409a-ba45-f55e8f77984a"))
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

macro_rules! new_uuid_id {
    ($name:ident) => {
        impl $name {
            /// A fresh id, time-ordered (UUIDv7) so that ids sort by creation.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }
    };
}

uuid_id!(
    /// An Alpaca brokerage account.
    AccountId, "account_id"
);
uuid_id!(
    /// An ACH relationship at Alpaca.
    AchRelationshipId, "ach_relationship_id"
);
uuid_id!(
    /// A transfer at Alpaca (Alpaca's id; ours is [`TransferId`]).
    AlpacaTransferId, "provider_transfer_id"
);
uuid_id!(
    /// A bank link of this service: one Plaid account linked to one Alpaca account.
    BankLinkId, "bank_link_id"
);
uuid_id!(
    /// A transfer of this service on the Alpaca rail (ours; Alpaca's is [`AlpacaTransferId`]).
    TransferId, "transfer_id"
);
uuid_id!(
    /// A bank transfer of this service on the Plaid processor rail (ours; Plaid's is
    /// [`PlaidBankTransferId`]).
    BankTransferId, "id"
);
new_uuid_id!(BankLinkId);
new_uuid_id!(TransferId);
new_uuid_id!(BankTransferId);

/// The longest opaque provider id accepted.
const MAX_OPAQUE_ID_LEN: usize = 128;

fn parse_opaque(field: &'static str, input: &str) -> Result<String, ValidationError> {
    if input.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if input.len() > MAX_OPAQUE_ID_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_OPAQUE_ID_LEN} characters"),
        ));
    }
    if !input
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValidationError::new(
            field,
            "must contain only ASCII letters, digits, '-' and '_'",
        ));
    }
    Ok(input.to_owned())
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The field name used in errors about this id.
            pub const FIELD: &'static str = $field;

            /// Accepts 1 to 128 ASCII letters, digits, `-` and `_`.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                parse_opaque($field, input).map(Self)
            }

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
                write!(f, concat!(stringify!($name), "({})"), self.0)
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

opaque_id!(
    /// A Plaid account within an Item (`account_id` in Link's metadata and `/accounts/get`).
    PlaidAccountId, "plaid_account_id"
);
opaque_id!(
    /// A Plaid Item, the login at one institution that holds the accounts.
    PlaidItemId, "item_id"
);
opaque_id!(
    /// A Plaid bank transfer (`bank_transfer_id`: Plaid's id; ours is [`BankTransferId`]).
    PlaidBankTransferId, "bank_transfer_id"
);
opaque_id!(
    /// A Plaid origination account (the FBO account transfers move money into or out of).
    OriginationAccountId, "origination_account_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_accept_hyphenated_uuids() {
        let id = AccountId::parse("8E00606A-C9AC-409A-BA45-F55E8F77984A").unwrap();
        assert_eq!(id.to_string(), "8e00606a-c9ac-409a-ba45-f55e8f77984a");
    }

    #[test]
    fn malformed_uuid_ids_are_refused_naming_the_field() {
        for bad in [
            "",
            "not-a-uuid",
            "8e00606ac9ac409aba45f55e8f77984a",
            "8e00606a-c9ac-409a-ba45-f55e8f77984",
            "{8e00606a-c9ac-409a-ba45-f55e8f77984a}",
        ] {
            assert_eq!(
                AccountId::parse(bad).unwrap_err().field(),
                "account_id",
                "{bad}"
            );
        }
        assert_eq!(
            AchRelationshipId::parse("x").unwrap_err().field(),
            "ach_relationship_id"
        );
        assert_eq!(BankLinkId::parse("x").unwrap_err().field(), "bank_link_id");
        assert_eq!(TransferId::parse("x").unwrap_err().field(), "transfer_id");
        assert_eq!(
            AlpacaTransferId::parse("x").unwrap_err().field(),
            "provider_transfer_id"
        );
    }

    #[test]
    fn generated_ids_are_distinct_and_ordered() {
        let a = BankLinkId::generate();
        let b = BankLinkId::generate();
        assert_ne!(a, b);
        assert!(a < b);
    }

    #[test]
    fn opaque_ids_accept_plaid_shapes_and_refuse_others() {
        PlaidAccountId::parse("vzeNDwK7KQIm4yEog683uElbp9GRLEFXGK98D").unwrap();
        PlaidBankTransferId::parse("460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9").unwrap();
        assert_eq!(
            PlaidAccountId::parse("").unwrap_err().field(),
            "plaid_account_id"
        );
        assert_eq!(
            PlaidAccountId::parse("a b").unwrap_err().field(),
            "plaid_account_id"
        );
        assert_eq!(
            OriginationAccountId::parse(&"a".repeat(129))
                .unwrap_err()
                .field(),
            "origination_account_id"
        );
        PlaidAccountId::parse(&"a".repeat(128)).unwrap();
    }
}
