//! The Alpaca funding event stream's reader: the comment tap (heartbeats, "dropped N messages",
//! "internal server error"), the SSE parser and each event's JSON, over arbitrary bytes cut into
//! arbitrary chunks. Never a panic, and the cut never changes what is read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, &[u8])| {
    let (cuts, stream) = input;
    funding_alpaca::fuzzing::read_stream(stream, &cuts);
    if let Ok(text) = std::str::from_utf8(stream) {
        funding_alpaca::fuzzing::parse_event_data(text);
    }
});
