//! Alpaca's answers (relationships, transfers, the trading account, error bodies) as the adapter
//! reads them: never a panic, an account number never kept or quoted whole, the client's secret
//! never in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Vec<(String, String)>, &[u8])| {
    let (status, headers, body) = input;
    funding_alpaca::fuzzing::decode_answers(status, &headers, body);
});
