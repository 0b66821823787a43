//! Money: [`Amount`] is a positive US-dollar amount with at most two fraction digits, held as a
//! `rust_decimal::Decimal` (never a float) and printed the way both providers want it, `"10.00"`.
//! [`Currency`] is the one currency the service moves.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ValidationError;

/// The largest amount accepted: ACH's network maximum for a single entry, $10,000,000.00.
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000;

const MAX_INPUT_LEN: usize = 16;

/// A positive amount of US dollars, at most two fraction digits, at most [`MAX_AMOUNT_CENTS`] cents.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Amount {
    /// Parses a plain decimal string: digits, optionally a point and one or two digits.
    /// No sign, exponent, spaces, thousands separators, `NaN` or infinity.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let refuse = |rule: &str| Err(ValidationError::new("amount", rule));
        if input.is_empty() {
            return refuse("is required");
        }
        if input.len() > MAX_INPUT_LEN {
            return refuse("is too long to be an amount");
        }
        let (whole, fraction) = match input.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (input, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return refuse("must be a decimal number such as \"10.00\"");
        }
        if let Some(fraction) = fraction {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return refuse("must be a decimal number such as \"10.00\"");
            }
            if fraction.len() > 2 {
                return refuse("must have at most two fraction digits");
            }
        }
        let Ok(value) = Decimal::from_str(input) else {
            return refuse("must be a decimal number such as \"10.00\"");
        };
        Self::from_decimal(value)
    }

    /// An amount from a decimal value, under the same rules as [`Amount::parse`].
    pub fn from_decimal(value: Decimal) -> Result<Self, ValidationError> {
        let refuse = |rule: &str| Err(ValidationError::new("amount", rule));
        if value <= Decimal::ZERO {
            return refuse("must be greater than 0.00");
        }
        if value.normalize().scale() > 2 {
            return refuse("must have at most two fraction digits");
        }
        if value > Decimal::new(MAX_AMOUNT_CENTS, 2) {
            return refuse("must be at most 10000000.00");
        }
        let mut value = value;
        value.rescale(2);
        Ok(Self(value))
    }

    /// An amount of whole cents (`1` is `0.01`).
    pub fn from_cents(cents: i64) -> Result<Self, ValidationError> {
        Self::from_decimal(Decimal::new(cents, 2))
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// The amount in cents; exact, since an amount never has more than two fraction digits.
    pub fn cents(&self) -> i64 {
        let mut scaled = self.0;
        scaled.rescale(2);
        i64::try_from(scaled.mantissa()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl FromStr for Amount {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The currency of every amount the service moves. Plaid's `iso_currency_code` must be `"USD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    /// Accepts exactly `"USD"`.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "USD" => Ok(Self::Usd),
            _ => Err(ValidationError::new("iso_currency_code", "must be \"USD\"")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Usd => "USD",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_smallest_amount_is_one_cent() {
        assert_eq!(Amount::parse("0.01").unwrap().to_string(), "0.01");
        assert_eq!(Amount::parse("0.01").unwrap().cents(), 1);
    }

    #[test]
    fn the_largest_amount_is_ten_million() {
        assert_eq!(
            Amount::parse("10000000.00").unwrap().to_string(),
            "10000000.00"
        );
        assert_eq!(Amount::parse("10000000.01").unwrap_err().field(), "amount");
    }

    #[test]
    fn amounts_print_with_two_fraction_digits() {
        assert_eq!(Amount::parse("10").unwrap().to_string(), "10.00");
        assert_eq!(Amount::parse("10.5").unwrap().to_string(), "10.50");
        assert_eq!(Amount::parse("12.34").unwrap().to_string(), "12.34");
        assert_eq!(Amount::parse("12.30").unwrap().to_string(), "12.30");
    }

    #[test]
    fn values_that_are_not_amounts_are_refused_naming_the_field() {
        for bad in [
            "10.001",
            "0",
            "0.00",
            "-1",
            "1e3",
            "NaN",
            "inf",
            "",
            " 1",
            "1 ",
            "+1",
            "1,000",
            ".5",
            "5.",
            "1.2.3",
            "0x10",
            "١٠",
            "99999999999999999999",
            "10.0000",
        ] {
            let error = Amount::parse(bad).expect_err(bad);
            assert_eq!(error.field(), "amount", "{bad}");
        }
    }

    #[test]
    fn three_fraction_digits_are_refused_even_when_trailing_zeros() {
        let error = Amount::from_decimal(Decimal::new(10_001, 3)).unwrap_err();
        assert!(error.rule().contains("two fraction digits"));
        assert_eq!(
            Amount::from_decimal(Decimal::new(10_000, 3))
                .unwrap()
                .to_string(),
            "10.00"
        );
    }

    #[test]
    fn amounts_serialize_as_strings() {
        let amount = Amount::parse("7.1").unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"7.10\"");
        let back: Amount = serde_json::from_str("\"7.10\"").unwrap();
        assert_eq!(back, amount);
        assert!(serde_json::from_str::<Amount>("\"7.101\"").is_err());
        assert!(serde_json::from_str::<Amount>("7.1").is_err());
    }

    #[test]
    fn only_usd_is_a_currency() {
        assert_eq!(Currency::parse("USD").unwrap(), Currency::Usd);
        for bad in ["usd", "EUR", "", "USD "] {
            assert_eq!(
                Currency::parse(bad).unwrap_err().field(),
                "iso_currency_code"
            );
        }
    }

    proptest! {
        #[test]
        fn every_valid_amount_prints_back_to_what_it_parsed(cents in 1i64..=MAX_AMOUNT_CENTS) {
            let text = format!("{}.{:02}", cents / 100, cents % 100);
            let amount = Amount::parse(&text).unwrap();
            prop_assert_eq!(amount.to_string(), text.clone());
            prop_assert_eq!(amount.cents(), cents);
            prop_assert_eq!(Amount::parse(&amount.to_string()).unwrap(), amount);
        }

        #[test]
        fn short_forms_parse_to_the_same_value(whole in 0i64..100_000, tenths in 0i64..10) {
            prop_assume!(whole > 0 || tenths > 0);
            let short = format!("{whole}.{tenths}");
            let long = format!("{whole}.{tenths}0");
            prop_assert_eq!(Amount::parse(&short).unwrap(), Amount::parse(&long).unwrap());
        }

        #[test]
        fn strings_that_are_not_amounts_are_refused(text in "\\PC*") {
            let looks_like_amount = {
                let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
                !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit())
                    && !fraction.is_empty() && fraction.len() <= 2
                    && fraction.bytes().all(|b| b.is_ascii_digit())
            };
            if !looks_like_amount {
                prop_assert!(Amount::parse(&text).is_err());
            }
        }

        #[test]
        fn more_than_two_fraction_digits_is_always_refused(whole in 0u32..1_000_000, fraction in "[0-9]{3,6}") {
            let text = format!("{whole}.{fraction}");
            prop_assert!(Amount::parse(&text).is_err());
        }

        #[test]
        fn negative_amounts_are_always_refused(cents in 1i64..=MAX_AMOUNT_CENTS) {
            let text = format!("-{}.{:02}", cents / 100, cents % 100);
            prop_assert!(Amount::parse(&text).is_err());
            prop_assert!(Amount::from_cents(-cents).is_err());
        }
    }
}
