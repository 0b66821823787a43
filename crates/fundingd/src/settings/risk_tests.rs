//! Unit tests of `[risk]` and `[returns]`: the defaults, a full table, and each bad value refused
//! naming its key.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use funding_domain::AchReturnCode;
use funding_domain::returns::Consequence;
use funding_domain::risk::balance::{BalanceCheck, BalanceUnavailable};
use funding_domain::risk::limits::Limit;
use funding_domain::risk::names::NameCheck;

use super::*;
use crate::settings::{Settings, describe};

/// The settings from `toml` over the defaults, validated: the settings, or the line `fundingd`
/// would print.
fn read(toml: &str) -> Result<Settings, String> {
    let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::string(toml))
        .extract()
        .map_err(|error| describe(&error))?;
    settings.validate().map_err(|error| format!("{error:#}"))?;
    Ok(settings)
}

fn refused(toml: &str) -> String {
    match read(toml) {
        Ok(_) => panic!("accepted: {toml}"),
        Err(message) => message,
    }
}

#[test]
fn the_defaults_check_nothing_and_limit_nothing() {
    let settings = read("").unwrap();
    let risk = &settings.risk;
    assert_eq!(risk.balance_check, BalanceCheck::Off);
    assert_eq!(risk.balance_unavailable, BalanceUnavailable::Accept);
    assert_eq!(risk.name_check, NameCheck::Off);
    assert_eq!(risk.name_match_threshold, 70);
    assert_eq!(risk.review_expiry_ms, 259_200_000);
    assert!(!risk.refuse_on_needs_reauth);
    assert_eq!(risk.limits, RiskLimits::default());
    assert_eq!(settings.returns.r01_review_after, 3);
    assert_eq!(settings.returns.policy, ReturnPolicy::default());
}

#[test]
fn a_full_table_reads_into_the_domain_types() {
    let settings = read(
        r#"
[risk]
balance_check = "review"
balance_unavailable = "refuse"
name_check = "refuse"
name_match_threshold = 85
review_expiry_ms = 86400000
refuse_on_needs_reauth = true
[risk.limits.alpaca.deposit]
per_transfer_soft = "2500.00"
per_transfer_hard = "5000"
daily_hard = "10000.5"
rolling_30_days_soft = "20000.00"
rolling_30_days_hard = "50000.00"
[risk.limits.plaid.credit]
daily_soft = "0.01"
[returns]
r01_review_after = 2
[returns.policy]
R16 = "none"
r08 = "freeze_account"
"#,
    )
    .unwrap();
    let risk = &settings.risk;
    assert_eq!(risk.balance_check, BalanceCheck::Review);
    assert_eq!(risk.balance_unavailable, BalanceUnavailable::Refuse);
    assert_eq!(risk.name_check, NameCheck::Refuse);
    assert_eq!(risk.name_match_threshold, 85);
    assert_eq!(risk.review_expiry_ms, 86_400_000);
    assert!(risk.refuse_on_needs_reauth);
    let deposit = risk.limits.alpaca.deposit;
    assert_eq!(
        deposit.per_transfer,
        Limit {
            soft: Some(250_000),
            hard: Some(500_000)
        }
    );
    assert_eq!(
        deposit.daily,
        Limit {
            soft: None,
            hard: Some(1_000_050)
        }
    );
    assert_eq!(deposit.rolling_30_days.hard, Some(5_000_000));
    assert!(risk.limits.alpaca.withdrawal.per_transfer.is_none());
    assert_eq!(risk.limits.plaid.credit.daily.soft, Some(1));
    assert_eq!(settings.returns.r01_review_after, 2);
    let policy = &settings.returns.policy;
    let of = |code: &str| policy.consequence(&AchReturnCode::parse(code));
    assert_eq!(of("R16"), Consequence::None);
    assert_eq!(of("R08"), Consequence::FreezeAccount);
    assert_eq!(of("R01"), Consequence::CountInsufficientFunds);
}

#[test]
fn the_settings_read_back_as_themselves() {
    // The defaults go through serde as figment's first layer: a table written out reads back.
    let settings = read(
        "[risk]\nname_check = \"review\"\n[risk.limits.plaid.debit]\ndaily_hard = \"700.25\"\n\
         [returns.policy]\nR16 = \"none\"\n",
    )
    .unwrap();
    let again: Settings = Figment::from(Serialized::defaults(&settings))
        .extract()
        .unwrap();
    assert_eq!(again.risk.name_check, NameCheck::Review);
    assert_eq!(again.risk.limits, settings.risk.limits);
    assert_eq!(again.returns.policy, settings.returns.policy);
}

#[test]
fn each_bad_value_is_refused_naming_its_key() {
    let cases = [
        (
            "[risk]\nbalance_check = \"sometimes\"\n",
            "risk.balance_check: must be one of refuse, review, off, not \"sometimes\"",
        ),
        (
            "[risk]\nbalance_unavailable = \"off\"\n",
            "risk.balance_unavailable: must be one of accept, review, refuse",
        ),
        (
            "[risk]\nname_check = \"warn\"\n",
            "risk.name_check: must be one of",
        ),
        (
            "[risk]\nname_match_threshold = 101\n",
            "risk.name_match_threshold must be between 0 and 100",
        ),
        (
            "[risk]\nname_match_threshold = 300\n",
            "risk.name_match_threshold must be a whole number",
        ),
        (
            "[risk]\nreview_expiry_ms = 999\n",
            "risk.review_expiry_ms must be between 1000",
        ),
        ("[risk]\nbogus = 1\n", "unknown setting `risk.bogus`"),
        (
            "[risk.limits.alpaca.deposits]\ndaily_hard = \"1.00\"\n",
            "unknown setting `risk.limits.alpaca.deposits`",
        ),
        (
            "[risk.limits.plaid.debit]\ndaily = \"1.00\"\n",
            "unknown setting `risk.limits.plaid.debit.daily`",
        ),
        (
            "[risk.limits.alpaca.deposit]\nper_transfer_soft = \"2000.00\"\nper_transfer_hard = \"1000.00\"\n",
            "risk.limits.alpaca.deposit.per_transfer_soft (2000.00) is above per_transfer_hard (1000.00): it could never apply",
        ),
        (
            "[risk.limits.alpaca.withdrawal]\ndaily_hard = \"5000\"\nrolling_30_days_hard = \"1000\"\n",
            "risk.limits.alpaca.withdrawal.daily_hard (5000.00) is above rolling_30_days_hard (1000.00)",
        ),
        (
            "[risk.limits.plaid.credit]\nper_transfer_soft = \"900\"\ndaily_soft = \"800\"\n",
            "risk.limits.plaid.credit.per_transfer_soft (900.00) is above daily_soft (800.00): it could never apply, a transfer past it is sent to review by daily_soft already",
        ),
        (
            "[risk.limits.alpaca.deposit]\ndaily_hard = \"10.001\"\n",
            "risk.limits.alpaca.deposit.daily_hard: \"10.001\" must have at most two fraction digits",
        ),
        (
            "[risk.limits.alpaca.deposit]\ndaily_hard = \"0.00\"\n",
            "risk.limits.alpaca.deposit.daily_hard: \"0.00\" must be greater than 0.00",
        ),
        (
            "[risk.limits.alpaca.deposit]\ndaily_hard = \"-5\"\n",
            "risk.limits.alpaca.deposit.daily_hard: \"-5\" must be a decimal number",
        ),
        (
            "[risk.limits.alpaca.deposit]\ndaily_hard = 0.001\n",
            "risk.limits.alpaca.deposit.daily_hard: \"0.001\" must have at most two fraction digits",
        ),
        (
            "[returns]\nr01_review_after = 0\n",
            "returns.r01_review_after must be at least 1",
        ),
        (
            "[returns.policy]\nR99 = \"none\"\n",
            "returns.policy: \"R99\" is not an ACH return code the service knows",
        ),
        (
            "[returns.policy]\nR16 = \"ignore\"\n",
            "returns.policy: R16: \"ignore\" is not a consequence",
        ),
    ];
    let mut failures = Vec::new();
    for (toml, expected) in cases {
        let message = refused(toml);
        if !message.contains(expected) {
            failures.push(format!("{toml:?}: {message:?} lacks {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn limits_that_can_each_apply_are_accepted() {
    // A hard limit above a longer window's soft one: review first, refusal further on.
    read(
        "[risk.limits.alpaca.deposit]\nper_transfer_hard = \"5000\"\ndaily_soft = \"1000\"\n\
         daily_hard = \"5000\"\nrolling_30_days_soft = \"2000\"\nrolling_30_days_hard = \"5000\"\n",
    )
    .unwrap();
}
