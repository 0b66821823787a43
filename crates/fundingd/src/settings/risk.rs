//! `[risk]` (DESIGN §11: the checks before money moves) and `[returns]` (DESIGN §12: what an ACH
//! return leads to), parsed into `funding_domain`'s types as the file is read, so that a bad word, a
//! bad amount or an unknown return code is one line naming its key and the file (or environment
//! variable) it came from. What holds between keys (a soft limit under its hard one, a threshold
//! on Plaid's 0–100 scale, …) is checked by [`RiskSettings::validate`] and
//! [`ReturnSettings::validate`], from `Settings::validate`.

use funding_domain::Amount;
use funding_domain::returns::ReturnPolicy;
use funding_domain::risk::balance::{BalanceCheck, BalanceUnavailable};
use funding_domain::risk::format_cents;
use funding_domain::risk::limits::{FundingLimits, Limit};
use funding_domain::risk::names::{NameCheck, PLAID_MATCH_THRESHOLD};
use serde::{Deserialize, Serialize};

/// The default `review_expiry_ms`: three days.
pub const DEFAULT_REVIEW_EXPIRY_MS: u64 = 3 * 86_400_000;
/// The shortest `review_expiry_ms`: a second.
pub const MIN_REVIEW_EXPIRY_MS: u64 = 1_000;
/// The longest `review_expiry_ms`: a year (a hold is not a way to park money forever, and the
/// expiry must stay far from overflowing a timestamp).
pub const MAX_REVIEW_EXPIRY_MS: u64 = 366 * 86_400_000;

/// `[risk]`: the checks before money moves (DESIGN §11), run by `funding_core::risk` on the
/// Alpaca rail's transfers, on links, and (the balance check) on the Plaid rail's debits. The Plaid
/// rail's limits are validated and shown by `fundingd --check` but not applied yet: its transfers
/// carry no account of ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskSettings {
    /// The bank's available balance against a debit of it: `refuse` (`INSUFFICIENT_BANK_BALANCE`),
    /// `review` or `off` (default).
    #[serde(with = "choice")]
    pub balance_check: BalanceCheck,
    /// When the balance cannot be had: `accept` (default, as Plaid's own), `review` or `refuse`.
    #[serde(with = "choice")]
    pub balance_unavailable: BalanceUnavailable,
    /// The bank owner's name against the Alpaca account owner's at link time: `refuse`
    /// (`NAME_MISMATCH`), `review` or `off` (default).
    #[serde(with = "choice")]
    pub name_check: NameCheck,
    /// A name score (0–100, Plaid's scale) at or above this is a match; default Plaid's 70.
    pub name_match_threshold: u8,
    /// How long a transfer or bank transfer held for review (PENDING_REVIEW) waits for
    /// `ApproveReview` before it expires; default three days, at least a second, at most a year.
    pub review_expiry_ms: u64,
    /// Refuse new transfers on a link whose Plaid Item needs its user to log in again
    /// (NEEDS_REAUTH). Default false: on the Alpaca rail Alpaca already holds the account numbers.
    pub refuse_on_needs_reauth: bool,
    /// The default limits per rail and direction (`[risk.limits.<rail>.<direction>]`); an account's
    /// own limits (`RiskService.SetAccountLimits`) replace them limit by limit.
    pub limits: RiskLimits,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            balance_check: BalanceCheck::default(),
            balance_unavailable: BalanceUnavailable::default(),
            name_check: NameCheck::default(),
            name_match_threshold: PLAID_MATCH_THRESHOLD,
            review_expiry_ms: DEFAULT_REVIEW_EXPIRY_MS,
            refuse_on_needs_reauth: false,
            limits: RiskLimits::default(),
        }
    }
}

/// `[risk.limits]`: the default limits of each rail and direction; none unless configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskLimits {
    pub alpaca: AlpacaLimits,
    pub plaid: PlaidLimits,
}

/// `[risk.limits.alpaca.deposit]`, `[risk.limits.alpaca.withdrawal]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlpacaLimits {
    #[serde(with = "limit_table")]
    pub deposit: FundingLimits,
    #[serde(with = "limit_table")]
    pub withdrawal: FundingLimits,
}

/// `[risk.limits.plaid.debit]`, `[risk.limits.plaid.credit]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaidLimits {
    #[serde(with = "limit_table")]
    pub debit: FundingLimits,
    #[serde(with = "limit_table")]
    pub credit: FundingLimits,
}

impl RiskLimits {
    /// Each rail and direction with its limits, as the configuration names them.
    pub fn each(&self) -> [(&'static str, &'static str, FundingLimits); 4] {
        [
            ("alpaca", "deposit", self.alpaca.deposit),
            ("alpaca", "withdrawal", self.alpaca.withdrawal),
            ("plaid", "debit", self.plaid.debit),
            ("plaid", "credit", self.plaid.credit),
        ]
    }
}

impl RiskSettings {
    /// As the risk use cases take them; an approved transfer's submit work gets
    /// `submit_max_attempts`, an approved bank transfer's `bank_transfer_submit_max_attempts`.
    pub fn core_settings(
        &self,
        returns: &ReturnSettings,
        submit_max_attempts: u32,
        bank_transfer_submit_max_attempts: u32,
    ) -> funding_core::RiskSettings {
        funding_core::RiskSettings {
            balance_check: self.balance_check,
            balance_unavailable: self.balance_unavailable,
            name_check: self.name_check,
            name_match_threshold: self.name_match_threshold,
            review_expiry: std::time::Duration::from_millis(self.review_expiry_ms),
            limits: funding_core::risk::DefaultLimits {
                alpaca_deposit: self.limits.alpaca.deposit,
                alpaca_withdrawal: self.limits.alpaca.withdrawal,
                plaid_debit: self.limits.plaid.debit,
                plaid_credit: self.limits.plaid.credit,
            },
            submit_max_attempts,
            return_policy: returns.policy.clone(),
            insufficient_funds_review_after: returns.r01_review_after,
            bank_transfer_submit_max_attempts,
        }
    }

    /// The checks between keys: the threshold on Plaid's scale, the review expiry's bounds, and in
    /// each limits table no limit that could never apply (see [`dead_limit`]).
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if self.name_match_threshold > 100 {
            bail!(
                "risk.name_match_threshold must be between 0 and 100 (Plaid's score scale; Plaid's own match is {PLAID_MATCH_THRESHOLD}), not {}",
                self.name_match_threshold
            );
        }
        if !(MIN_REVIEW_EXPIRY_MS..=MAX_REVIEW_EXPIRY_MS).contains(&self.review_expiry_ms) {
            bail!(
                "risk.review_expiry_ms must be between {MIN_REVIEW_EXPIRY_MS} (a second) and {MAX_REVIEW_EXPIRY_MS} (a year)"
            );
        }
        for (rail, direction, limits) in self.limits.each() {
            if let Some(problem) = dead_limit(&limits) {
                bail!("risk.limits.{rail}.{direction}.{problem}");
            }
        }
        Ok(())
    }
}

/// The first limit of a table that could never decide anything, as `key (amount) is above …`:
/// - a soft limit above the hard one of its window (whatever passes it is refused already);
/// - a limit of a shorter window (per transfer < daily < rolling 30 days) above a hard limit of a
///   longer one (a daily hard above the 30-day hard: the 30-day limit refuses first, since the
///   30 days include today and a transfer's amount is part of both sums);
/// - for the same reason a soft limit above the soft limit of a longer window (already sent to
///   review by it).
///
/// A hard limit above a longer window's soft limit is fine: past the soft one a transfer goes to
/// review, past the hard one it is refused.
fn dead_limit(limits: &FundingLimits) -> Option<String> {
    let windows = [
        ("per_transfer", limits.per_transfer),
        ("daily", limits.daily),
        ("rolling_30_days", limits.rolling_30_days),
    ];
    // (window, is hard, key, cents) of each limit that is set, shortest window first, soft first.
    let set: Vec<(usize, bool, String, i64)> = windows
        .iter()
        .enumerate()
        .flat_map(|(window, (name, limit))| {
            [(false, limit.soft), (true, limit.hard)]
                .into_iter()
                .filter_map(move |(hard, cents)| {
                    let kind = if hard { "hard" } else { "soft" };
                    cents.map(|cents| (window, hard, format!("{name}_{kind}"), cents))
                })
        })
        .collect();
    for a in &set {
        for b in &set {
            let same = a.0 == b.0 && a.1 == b.1;
            if !same && b.0 >= a.0 && b.3 < a.3 && (b.1 || !a.1) {
                let already = if b.1 { "refused" } else { "sent to review" };
                return Some(format!(
                    "{} ({}) is above {} ({}): it could never apply, a transfer past it is {already} by {} already",
                    a.2,
                    format_cents(a.3),
                    b.2,
                    format_cents(b.3),
                    b.2
                ));
            }
        }
    }
    None
}

/// `[returns]`: what an ACH return leads to (DESIGN §12). Read by the returns handling (issue 22);
/// until it exists only validated and shown by `fundingd --check`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReturnSettings {
    /// After this many insufficient-funds returns (R01, R09, or whatever `[returns.policy]`
    /// counts) of one link in 60 days, that link's deposits go to review. Default 3, at least 1.
    pub r01_review_after: u32,
    /// The table of return code → consequence: the domain's defaults with `[returns.policy]`'s
    /// overrides (`R16 = "none"`; `count_insufficient_funds`, `link_unusable`, `freeze_account`,
    /// `none`).
    #[serde(with = "policy_table")]
    pub policy: ReturnPolicy,
}

impl Default for ReturnSettings {
    fn default() -> Self {
        Self {
            r01_review_after: 3,
            policy: ReturnPolicy::default(),
        }
    }
}

impl ReturnSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.r01_review_after == 0 {
            anyhow::bail!(
                "returns.r01_review_after must be at least 1 (the insufficient-funds returns of a link in 60 days after which its deposits go to review)"
            );
        }
        Ok(())
    }
}

/// A setting that is one of a few words, read with the domain's own `parse`.
pub(crate) trait Choice: Copy + PartialEq + Sized + 'static {
    /// Every word, in the order messages list them.
    const WORDS: &'static [&'static str];
    fn parse(text: &str) -> Option<Self>;

    /// The word for this value.
    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|word| Self::parse(word) == Some(self))
            .copied()
            .unwrap_or("?")
    }
}

impl Choice for BalanceCheck {
    const WORDS: &'static [&'static str] = &["refuse", "review", "off"];
    fn parse(text: &str) -> Option<Self> {
        BalanceCheck::parse(text)
    }
}

impl Choice for BalanceUnavailable {
    const WORDS: &'static [&'static str] = &["accept", "review", "refuse"];
    fn parse(text: &str) -> Option<Self> {
        BalanceUnavailable::parse(text)
    }
}

impl Choice for NameCheck {
    const WORDS: &'static [&'static str] = &["refuse", "review", "off"];
    fn parse(text: &str) -> Option<Self> {
        NameCheck::parse(text)
    }
}

mod choice {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::Choice;

    pub fn serialize<T: Choice, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.word())
    }

    pub fn deserialize<'de, T: Choice, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::parse(text.trim()).ok_or_else(|| {
            D::Error::custom(format!(
                "must be one of {}, not {text:?}",
                T::WORDS.join(", ")
            ))
        })
    }
}

/// One limits table: six optional amounts, decimal strings in the file.
#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitTable {
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    per_transfer_soft: Option<i64>,
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    per_transfer_hard: Option<i64>,
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    daily_soft: Option<i64>,
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    daily_hard: Option<i64>,
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    rolling_30_days_soft: Option<i64>,
    #[serde(with = "cents", skip_serializing_if = "Option::is_none")]
    rolling_30_days_hard: Option<i64>,
}

mod limit_table {
    use funding_domain::risk::limits::{FundingLimits, Limit};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::LimitTable;

    pub fn serialize<S: Serializer>(
        limits: &FundingLimits,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        LimitTable {
            per_transfer_soft: limits.per_transfer.soft,
            per_transfer_hard: limits.per_transfer.hard,
            daily_soft: limits.daily.soft,
            daily_hard: limits.daily.hard,
            rolling_30_days_soft: limits.rolling_30_days.soft,
            rolling_30_days_hard: limits.rolling_30_days.hard,
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FundingLimits, D::Error> {
        let table = LimitTable::deserialize(deserializer)?;
        Ok(FundingLimits {
            per_transfer: Limit {
                soft: table.per_transfer_soft,
                hard: table.per_transfer_hard,
            },
            daily: Limit {
                soft: table.daily_soft,
                hard: table.daily_hard,
            },
            rolling_30_days: Limit {
                soft: table.rolling_30_days_soft,
                hard: table.rolling_30_days_hard,
            },
        })
    }
}

/// An amount in cents, a decimal string in the file (`"1000.00"`), read by [`Amount::parse`]:
/// positive, at most two decimals, at most 10,000,000.00. A bare number is taken as the decimal
/// it reads as (an environment variable `…=1000.50` arrives as one).
mod cents {
    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};
    use serde::{Serialize, Serializer};

    use super::Amount;

    pub fn serialize<S: Serializer>(cents: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        cents
            .map(funding_domain::risk::format_cents)
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        deserializer.deserialize_any(CentsVisitor).map(Some)
    }

    struct CentsVisitor;

    impl CentsVisitor {
        fn read<E: de::Error>(text: &str) -> Result<i64, E> {
            Amount::parse(text.trim())
                .map(|amount| amount.cents())
                .map_err(|error| {
                    E::custom(format!(
                        "{text:?} {} (an amount such as \"1000.00\")",
                        error.rule()
                    ))
                })
        }
    }

    impl Visitor<'_> for CentsVisitor {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an amount such as \"1000.00\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
            Self::read(text)
        }

        fn visit_u64<E: de::Error>(self, whole: u64) -> Result<i64, E> {
            Self::read(&whole.to_string())
        }

        fn visit_i64<E: de::Error>(self, whole: i64) -> Result<i64, E> {
            Self::read(&whole.to_string())
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
            // The shortest text that reads back as this float: `1000.5`, `0.001`.
            Self::read(&value.to_string())
        }
    }
}

/// `[returns.policy]`: code = consequence overrides, read by [`ReturnPolicy::with_overrides`]
/// (codes in any case; an environment variable's lower-case key is the same code). Written out as
/// the whole table, which reads back as itself.
mod policy_table {
    use std::collections::BTreeMap;

    use funding_domain::returns::ReturnPolicy;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(
        policy: &ReturnPolicy,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            policy
                .entries()
                .map(|(code, consequence)| (code.code().to_owned(), consequence.as_str())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ReturnPolicy, D::Error> {
        let table = BTreeMap::<String, String>::deserialize(deserializer)?;
        // Upper case, so that a message names `R99` as the file would, not the environment's `r99`.
        let table: Vec<(String, &str)> = table
            .iter()
            .map(|(code, consequence)| (code.trim().to_ascii_uppercase(), consequence.as_str()))
            .collect();
        ReturnPolicy::with_overrides(
            table
                .iter()
                .map(|(code, consequence)| (code.as_str(), *consequence)),
        )
        .map_err(|error| D::Error::custom(error.to_string()))
    }
}

/// A limit as `--check` shows it: `hard 1000.00, soft 500.00`.
pub(crate) fn describe_limit(limit: &Limit) -> Option<String> {
    let parts: Vec<String> = [("soft", limit.soft), ("hard", limit.hard)]
        .into_iter()
        .filter_map(|(kind, cents)| cents.map(|cents| format!("{kind} {}", format_cents(cents))))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
