//! Field rules of the Alpaca funding requests: ABA routing numbers (nine digits with a valid
//! checksum, "must be a valid format" even in sandbox), bank account numbers, masking, and
//! transfer amounts (decimal > 0 with at most two fraction digits).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// Nine digits whose weighted sum (3, 7, 1, …) is a multiple of ten.
pub(crate) fn is_valid_routing_number(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if text.len() != 9 || digits.len() != 9 {
        return false;
    }
    let weights = [3, 7, 1];
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(index, digit)| digit * weights[index % 3])
        .sum();
    sum.is_multiple_of(10)
}

/// Four to seventeen ASCII letters or digits (sandbox samples such as `32131231abc` pass).
pub(crate) fn is_valid_account_number(text: &str) -> bool {
    (4..=17).contains(&text.len()) && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// All but the last four characters replaced by `X`.
pub(crate) fn mask(text: &str) -> String {
    let count = text.chars().count();
    text.chars()
        .enumerate()
        .map(|(index, c)| if index + 4 < count { 'X' } else { c })
        .collect()
}

/// Why an amount was refused (each maps to Alpaca's 422 message).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AmountError {
    Missing,
    Invalid,
    NotPositive,
    TooPrecise,
    TooLarge,
}

impl AmountError {
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::Missing => "amount is required",
            Self::Invalid => "invalid amount",
            Self::NotPositive => "amount must be greater than 0.00",
            Self::TooPrecise => "amount must have at most 2 decimal places",
            Self::TooLarge => "amount exceeds the maximum transfer amount",
        }
    }
}

/// Largest transfer the emulator accepts (999,999,999.99), which keeps every sum of amounts far
/// from decimal overflow.
fn max_amount() -> Decimal {
    Decimal::new(99_999_999_999, 2)
}

/// Reads an amount given as a decimal string (or a JSON number, which Alpaca also decodes).
pub(crate) fn parse_amount(value: Option<&Value>) -> Result<Decimal, AmountError> {
    let text = match value {
        None | Some(Value::Null) => return Err(AmountError::Missing),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(_) => return Err(AmountError::Invalid),
    };
    let plain = !text.is_empty()
        && text.len() <= 32
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    if !plain {
        return Err(AmountError::Invalid);
    }
    let amount = Decimal::from_str(&text).map_err(|_| AmountError::Invalid)?;
    if amount <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    if amount.normalize().scale() > 2 {
        return Err(AmountError::TooPrecise);
    }
    if amount > max_amount() {
        return Err(AmountError::TooLarge);
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routing_numbers_need_a_valid_checksum() {
        assert!(is_valid_routing_number("121000358"));
        assert!(is_valid_routing_number("011401533"));
        assert!(!is_valid_routing_number("121000359"));
        assert!(!is_valid_routing_number("12100035"));
        assert!(!is_valid_routing_number("12100035a"));
    }

    #[test]
    fn account_numbers_are_masked_but_the_last_four() {
        assert_eq!(mask("32131231abc"), "XXXXXXX1abc");
        assert!(is_valid_account_number("32131231abc"));
        assert!(!is_valid_account_number("12-34"));
    }

    #[test]
    fn amounts_follow_the_two_decimal_rule() {
        assert_eq!(
            parse_amount(Some(&json!("10.00"))),
            Ok(Decimal::new(1000, 2))
        );
        assert_eq!(parse_amount(Some(&json!(5))), Ok(Decimal::new(5, 0)));
        assert_eq!(
            parse_amount(Some(&json!("10.001"))),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(
            parse_amount(Some(&json!("0"))),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            parse_amount(Some(&json!("-1"))),
            Err(AmountError::NotPositive)
        );
        for bad in ["1e3", "NaN", "", "abc", "1.2.3"] {
            assert_eq!(
                parse_amount(Some(&json!(bad))),
                Err(AmountError::Invalid),
                "{bad}"
            );
        }
        assert_eq!(parse_amount(None), Err(AmountError::Missing));
        assert_eq!(
            parse_amount(Some(&json!("99999999999999999999999999999999999"))),
            Err(AmountError::Invalid)
        );
        assert_eq!(
            parse_amount(Some(&json!("1000000000"))),
            Err(AmountError::TooLarge)
        );
    }
}
