//! Plaid's webhook JWTs: an arbitrary `Plaid-Verification` header never panics the verifier and
//! is never accepted for a body it does not hash; a token signed with the fuzz key is accepted
//! exactly when its body and `iat` are right, and never once a byte of it is altered.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Arbitrary {
        token: &'a str,
        body: &'a [u8],
        now_offset: i32,
    },
    Signed {
        signed_body: &'a [u8],
        received_body: &'a [u8],
        age: i16,
        tamper: Option<u16>,
    },
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Arbitrary {
        token,
        body,
        now_offset,
    } => funding_plaid::fuzzing::verify_token(token, body, now_offset),
    Input::Signed {
        signed_body,
        received_body,
        age,
        tamper,
    } => funding_plaid::fuzzing::signed_webhook(signed_body, received_body, age, tamper),
});
