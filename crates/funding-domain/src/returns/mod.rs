//! What an ACH return means for the bank link and the account (DESIGN §12), as data: a
//! [`ReturnPolicy`] maps each return code to a [`Consequence`], starting from the table below and
//! replaceable code by code from configuration; [`rates`] computes the 60-day return rates NACHA
//! holds an originator to, by category.

pub mod rates;

use std::collections::BTreeMap;
use std::fmt;

use crate::AchReturnCode;

/// What the service does after a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consequence {
    /// Insufficient or uncollected funds: counted per link; past the configured count in 60 days,
    /// the link's deposits go to REVIEW.
    CountInsufficientFunds,
    /// The bank account is gone or wrong: the link becomes UNUSABLE, its Alpaca relationship is
    /// deleted, its Plaid Item removed; new transfers on it are refused.
    LinkUnusable,
    /// Unauthorized: the account's funding is frozen until an operator unfreezes it.
    FreezeAccount,
    /// Nothing beyond the transfer's own status (and the rates).
    None,
}

impl Consequence {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CountInsufficientFunds => "count_insufficient_funds",
            Self::LinkUnusable => "link_unusable",
            Self::FreezeAccount => "freeze_account",
            Self::None => "none",
        }
    }

    /// Whether the return changes something when it arrives (the link, the account). Insufficient
    /// funds acts later, when the checks count the link's returns; nothing else does at all.
    pub fn acts_now(&self) -> bool {
        matches!(self, Self::LinkUnusable | Self::FreezeAccount)
    }

    /// The configuration's spelling (`[returns.policy] R16 = "link_unusable"`).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::CountInsufficientFunds,
            Self::LinkUnusable,
            Self::FreezeAccount,
            Self::None,
        ]
        .into_iter()
        .find(|consequence| consequence.as_str() == text)
    }
}

impl fmt::Display for Consequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default table: insufficient funds (R01, R09) counted; the account gone or wrong (closed, not
/// found, invalid number, non-transaction account, frozen, holder deceased, routing errors) makes
/// the link unusable; unauthorized (NACHA's R05, R07, R10, R11, R29, R51) freezes the account.
const DEFAULT: &[(&str, Consequence)] = &[
    ("R01", Consequence::CountInsufficientFunds),
    ("R09", Consequence::CountInsufficientFunds),
    ("R02", Consequence::LinkUnusable),
    ("R03", Consequence::LinkUnusable),
    ("R04", Consequence::LinkUnusable),
    ("R12", Consequence::LinkUnusable),
    ("R13", Consequence::LinkUnusable),
    ("R14", Consequence::LinkUnusable),
    ("R15", Consequence::LinkUnusable),
    ("R16", Consequence::LinkUnusable),
    ("R20", Consequence::LinkUnusable),
    ("R28", Consequence::LinkUnusable),
    ("R05", Consequence::FreezeAccount),
    ("R07", Consequence::FreezeAccount),
    ("R10", Consequence::FreezeAccount),
    ("R11", Consequence::FreezeAccount),
    ("R29", Consequence::FreezeAccount),
    ("R51", Consequence::FreezeAccount),
];

/// Why an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0:?} is not an ACH return code the service knows")]
    UnknownCode(String),
    #[error(
        "{code}: {given:?} is not a consequence (count_insufficient_funds, link_unusable, freeze_account, none)"
    )]
    UnknownConsequence { code: String, given: String },
}

/// Each return code's consequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPolicy {
    table: BTreeMap<String, Consequence>,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        Self {
            table: DEFAULT
                .iter()
                .map(|(code, consequence)| ((*code).to_owned(), *consequence))
                .collect(),
        }
    }
}

impl ReturnPolicy {
    /// The default table with `overrides` (code → consequence, as configured) in place; every
    /// code must be one the service knows, every consequence one of [`Consequence`]'s.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyError> {
        let mut policy = Self::default();
        for (code, consequence) in overrides {
            let parsed = AchReturnCode::parse(code);
            if parsed.description().is_none() {
                return Err(PolicyError::UnknownCode(code.to_owned()));
            }
            let consequence =
                Consequence::parse(consequence).ok_or_else(|| PolicyError::UnknownConsequence {
                    code: code.to_owned(),
                    given: consequence.to_owned(),
                })?;
            policy.table.insert(parsed.code().to_owned(), consequence);
        }
        Ok(policy)
    }

    /// What a return with `code` leads to; [`Consequence::None`] for a code not in the table
    /// (an unknown code included: the return itself is never dropped).
    pub fn consequence(&self, code: &AchReturnCode) -> Consequence {
        self.table
            .get(code.code())
            .copied()
            .unwrap_or(Consequence::None)
    }

    /// The table, code by code, with each code's description (for `fundingctl` and docs).
    pub fn entries(&self) -> impl Iterator<Item = (AchReturnCode, Consequence)> + '_ {
        self.table
            .iter()
            .map(|(code, consequence)| (AchReturnCode::parse(code), *consequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReturnCategory;

    #[test]
    fn the_default_table_follows_nacha_and_design() {
        let policy = ReturnPolicy::default();
        let of = |code: &str| policy.consequence(&AchReturnCode::parse(code));
        assert_eq!(of("R01"), Consequence::CountInsufficientFunds);
        assert_eq!(of("R09"), Consequence::CountInsufficientFunds);
        for code in ["R02", "R03", "R04", "R20"] {
            assert_eq!(of(code), Consequence::LinkUnusable, "{code}");
        }
        assert_eq!(of("R08"), Consequence::None);
        assert_eq!(of("X99"), Consequence::None);
        // Every code NACHA counts as unauthorized freezes the account.
        for code in AchReturnCode::all_known() {
            if code.category() == ReturnCategory::Unauthorized {
                assert_eq!(
                    policy.consequence(&code),
                    Consequence::FreezeAccount,
                    "{code}"
                );
            }
            if code.category() == ReturnCategory::Administrative {
                assert_eq!(
                    policy.consequence(&code),
                    Consequence::LinkUnusable,
                    "{code}"
                );
            }
        }
        // Every code of the table has its description.
        for (code, _) in policy.entries() {
            assert!(code.description().is_some(), "{code}");
        }
    }

    #[test]
    fn only_a_changed_link_or_account_acts_when_the_return_arrives() {
        assert!(Consequence::LinkUnusable.acts_now());
        assert!(Consequence::FreezeAccount.acts_now());
        assert!(!Consequence::CountInsufficientFunds.acts_now());
        assert!(!Consequence::None.acts_now());
    }

    #[test]
    fn configuration_replaces_codes_one_by_one_and_refuses_what_it_cannot_read() {
        let policy =
            ReturnPolicy::with_overrides([("R08", "freeze_account"), ("R16", "none")]).unwrap();
        assert_eq!(
            policy.consequence(&AchReturnCode::parse("R08")),
            Consequence::FreezeAccount
        );
        assert_eq!(
            policy.consequence(&AchReturnCode::parse("R16")),
            Consequence::None
        );
        assert_eq!(
            policy.consequence(&AchReturnCode::parse("R03")),
            Consequence::LinkUnusable
        );
        assert_eq!(
            ReturnPolicy::with_overrides([("R99x", "none")]),
            Err(PolicyError::UnknownCode("R99x".into()))
        );
        assert!(matches!(
            ReturnPolicy::with_overrides([("R01", "explode")]),
            Err(PolicyError::UnknownConsequence { .. })
        ));
    }
}
