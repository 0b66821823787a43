//! Plaid's answers (bank transfers, events, balance, verification keys, link answers, error
//! objects) as the adapter reads them: never a panic, no Plaid token in an error message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    funding_plaid::fuzzing::decode_answers(status, body);
});
