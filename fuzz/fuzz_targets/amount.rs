//! `Amount::parse`: any text is an amount or a refusal under `amount`, never a panic. An amount
//! read prints as two fraction digits, reads back as itself, and stays within ACH's maximum.
#![no_main]

use funding_domain::{Amount, MAX_AMOUNT_CENTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    match Amount::parse(input) {
        Ok(amount) => {
            let printed = amount.to_string();
            assert_eq!(
                printed.split_once('.').map(|(_, f)| f.len()),
                Some(2),
                "{printed}"
            );
            assert_eq!(
                Amount::parse(&printed).ok(),
                Some(amount),
                "{printed} reads back"
            );
            assert!(amount.cents() > 0 && amount.cents() <= MAX_AMOUNT_CENTS);
        }
        Err(error) => assert_eq!(error.field(), "amount"),
    }
});
