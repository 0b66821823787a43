//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default): the code that
//! reads what Alpaca sends, fed arbitrary bytes. Each function runs the adapter's own reading code
//! and checks the properties that must hold for any input; a violated property panics, which the
//! fuzzer reports. None of this is part of the adapter's API.

use eventsource_stream::EventStreamError;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::events::comments::CommentTap;
use crate::events::connection::{Interruption, sse_events};
use crate::events::wire::{parse_event, status_is_known};
use crate::http::Answer;

/// A credential of the fuzzed client: it must never come out in an error message.
const SECRET: &str = "fuzz-secret-9f2c41";

/// Decodes `body` as each Alpaca answer the adapter reads (a relationship, a list of them, a
/// transfer, a list of them, a trading account) and, with `status`, as an error answer.
///
/// Properties: no panic; an account number in the body never comes out whole (only its last four
/// digits are kept, and no error quotes it); the client's secret never appears in an error.
pub fn decode_answers(status: u16, header_pairs: &[(String, String)], body: &[u8]) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let answer = Answer {
        status,
        body: body.to_vec(),
    };
    let account_numbers = account_numbers(body);
    let leaks = |text: &str| {
        account_numbers
            .iter()
            .any(|number| number.len() > 4 && text.contains(number.as_str()))
    };

    match answer.json::<crate::relationships::RelationshipWire>("ACHRelationship") {
        Ok(wire) => {
            let relationship = wire.into_port();
            if let Some(mask) = &relationship.bank_account_mask {
                assert!(mask.chars().count() == 4, "a mask is four digits: {mask:?}");
            }
            assert!(
                !leaks(&format!("{relationship:?}")),
                "a relationship kept an account number"
            );
        }
        Err(error) => assert!(
            !leaks(&error.message),
            "a decode error quoted an account number"
        ),
    }
    if let Err(error) =
        answer.json::<Vec<crate::relationships::RelationshipWire>>("ACHRelationship list")
    {
        assert!(
            !leaks(&error.message),
            "a decode error quoted an account number"
        );
    }
    if let Ok(transfer) = answer.json::<crate::transfers::Transfer>("Transfer") {
        transfer.warn_if_unknown();
    }
    // The lists as the adapter reads them: each element on its own, the unreadable ones skipped
    // (their log line names a UUID id and a reason, never a value).
    if let Ok(page) = answer.json::<Vec<serde_json::Value>>("list") {
        let (relationships, _) = crate::items::decode_each::<crate::relationships::RelationshipWire>(
            page.clone(),
            "ach_relationship",
        );
        for wire in relationships {
            let relationship = wire.into_port();
            assert!(
                !leaks(&format!("{relationship:?}")),
                "a listed relationship kept an account number"
            );
        }
        let _ = crate::items::decode_each::<crate::transfers::Transfer>(page, "transfer");
    }
    for element in serde_json::from_slice::<Vec<serde_json::Value>>(body).unwrap_or_default() {
        if let Err(error) =
            serde_json::from_value::<crate::relationships::RelationshipWire>(element)
        {
            assert!(
                !leaks(&crate::items::why(&error)),
                "a skip reason quoted an account number"
            );
        }
    }
    let _ = answer.json::<crate::trading::TradeAccountWire>("TradeAccount");

    let mut headers = HeaderMap::new();
    for (name, value) in header_pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let error_status = if status.is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        status
    };
    let error = crate::errors::http_error(error_status, &headers, body, &[SECRET]);
    assert!(
        !error.message.contains(SECRET) && !error.code.contains(SECRET),
        "the client's secret reached an error"
    );
    assert!(
        error.message.chars().count() <= 501,
        "an error message is cut to 500 characters"
    );
}

/// The account numbers a body carries (`bank_account_number` as text or number, at any depth).
fn account_numbers(body: &[u8]) -> Vec<String> {
    fn collect(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    if key == "bank_account_number" {
                        match value {
                            serde_json::Value::String(text) => found.push(text.trim().to_owned()),
                            serde_json::Value::Number(number) => found.push(number.to_string()),
                            _ => {}
                        }
                    }
                    collect(value, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        collect(&value, &mut found);
    }
    found
}

/// Reads `stream` as the funding event stream does (byte order marks, the comment tap, the SSE
/// parser, each event's JSON), with the bytes cut into chunks at `cuts` (offsets, taken modulo the
/// length).
///
/// Properties: no panic; the tap never passes on more bytes than it was given; for a stream of
/// valid UTF-8, how the bytes are cut into chunks changes neither where the stream is cut by a
/// signal nor the events read.
pub fn read_stream(stream: &[u8], cuts: &[u16]) {
    let mut offsets: Vec<usize> = cuts
        .iter()
        .map(|&cut| usize::from(cut) % (stream.len() + 1))
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for offset in offsets {
        chunks.push(&stream[start..offset]);
        start = offset;
    }
    chunks.push(&stream[start..]);

    let whole = tap(std::iter::once(stream));
    let chunked = tap(chunks.iter().copied());
    assert_eq!(
        whole.1, chunked.1,
        "chunking changed whether the stream was cut"
    );
    // A comment that starts in an earlier chunk was already passed on when its end shows it calls
    // for a reconnect: only that unterminated comment line may come in addition, and the SSE
    // parser drops it (a comment, and the last line, unended, when the connection is cut).
    let extra = chunked.0.strip_prefix(whole.0.as_slice());
    assert!(
        extra.is_some_and(|extra| extra.is_empty()
            || (extra[0] == b':' && !extra.iter().any(|b| *b == b'\n' || *b == b'\r'))),
        "chunking changed what the tap passed on"
    );

    let read_whole = events(&[stream]);
    let read_chunked = events(&chunks);
    if std::str::from_utf8(stream).is_ok() {
        assert_eq!(read_whole, read_chunked, "chunking changed the events read");
    }
}

/// What the tap passes on, and whether it ended the stream with a signal.
fn tap<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, bool) {
    let mut tap = CommentTap::default();
    let mut passed = Vec::new();
    for chunk in chunks {
        let (pass, signal) = tap.feed(chunk);
        assert!(
            pass <= chunk.len(),
            "the tap passed on bytes it was not given"
        );
        passed.extend_from_slice(&chunk[..pass]);
        if signal.is_some() {
            return (passed, true);
        }
    }
    (passed, false)
}

/// What the production reader makes of `chunks`: each event read as a funding event (its id, or
/// why not), up to the first interruption, which ends a connection.
fn events(chunks: &[&[u8]]) -> Vec<Result<String, String>> {
    let items: Vec<Result<bytes::Bytes, Interruption>> = chunks
        .iter()
        .map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk)))
        .collect();
    let mut connection = sse_events(futures::stream::iter(items));
    let mut read = Vec::new();
    futures::executor::block_on(async {
        while let Some(item) = connection.next().await {
            match item {
                Ok(event) => read.push(match parse_event(&event.data) {
                    Ok(parsed) => {
                        let _ = status_is_known(&parsed);
                        Ok(parsed.event_id)
                    }
                    Err(error) => Err(error.to_string()),
                }),
                Err(EventStreamError::Transport(interruption)) => {
                    read.push(Err(interruption.to_string()));
                    return;
                }
                Err(error) => read.push(Err(error.to_string())),
            }
        }
    });
    read
}

/// Reads one SSE event's data as a funding event. Property: no panic; an event read has a ULID
/// id and a `status_to`.
pub fn parse_event_data(data: &str) {
    if let Ok(event) = parse_event(data) {
        assert!(ulid::Ulid::from_string(&event.event_id).is_ok());
        assert!(!event.status_to.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b":heartbeat\r\n\ndata: {\"account_id\":\"b9b19618-22dd-4e80-8432-fc9e1ba0b27d\",\"at\":\"2021-06-10T19:49:05.223789Z\",\"entity_id\":\"fe6b5b0a-5aa6-4d8f-9e5c-d8dc1ad4b3a4\",\"entity_type\":\"Transfer\",\"event_id\":\"01F7TF8AX8EVAT0DQ8ZRMTR9BP\",\"status_from\":\"QUEUED\",\"status_to\":\"SENT_TO_CLEARING\"}\n\ndata: not json\n\n: you are reading too slowly, dropped 3 messages\ndata: {}\n\n";

    #[test]
    fn every_cut_of_a_stream_reads_the_same() {
        for cut in 0..u16::try_from(STREAM.len()).unwrap_or(u16::MAX) {
            read_stream(STREAM, &[cut, cut / 2, cut.saturating_add(7)]);
        }
        let (passed, signalled) = tap(std::iter::once(STREAM));
        assert!(
            signalled,
            "the dropped-messages comment ends the connection"
        );
        assert!(
            !passed.ends_with(b"data: {}\n\n"),
            "nothing after the gap is read"
        );
    }

    #[test]
    fn a_stream_may_start_with_byte_order_marks_in_any_chunks() {
        // The `alpaca_sse` fuzz target's first find: eventsource-stream panicked on a leading BOM.
        read_stream(b"^\xEF\xBB\xBF\xE6", &[]);
        let mut stream = b"\xEF\xBB\xBF\xEF\xBB\xBF".to_vec();
        stream.extend_from_slice(STREAM);
        for cut in 0..8 {
            read_stream(&stream, &[cut, cut + 1]);
        }
        let led = events(&[b"\xEF\xBB", b"\xBF", STREAM]);
        assert_eq!(led, events(&[STREAM]));
        assert_eq!(led[0].as_deref(), Ok("01F7TF8AX8EVAT0DQ8ZRMTR9BP"));
        // A BOM's first bytes and then other bytes are given back (and refused as UTF-8).
        let refused = events(&[b"\xEF\xBBdata: x\n\n"]);
        assert!(refused.iter().all(Result::is_err), "{refused:?}");
    }

    #[test]
    fn account_numbers_are_masked_in_every_answer() {
        let body = br#"{"id":"61e69015-8549-4bfd-b9c3-01e75843f47d","account_id":"b9b19618-22dd-4e80-8432-fc9e1ba0b27d","created_at":"2021-03-16T18:38:01.942282Z","status":"QUEUED","bank_account_number":"123456789012","account_owner_name":"Jane"}"#;
        decode_answers(200, &[], body);
        decode_answers(
            422,
            &[("x-request-id".into(), "r1".into())],
            br#"{"code":42210000,"message":"fuzz-secret-9f2c41 is bad"}"#,
        );
    }
}
