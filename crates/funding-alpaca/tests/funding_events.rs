//! The funding event stream against a local SSE server: events are read, comments are not events,
//! every interruption reconnects from the last event id without yielding an event twice, and a
//! refusal of the credentials ends the stream with one error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::time::Duration;

use common::sse::{Ending, Script, SseServer};
use common::{ACCOUNT, BASIC_AUTH, RELATIONSHIP, alpaca_error, event_json, sse_data};
use funding_alpaca::AlpacaClient;
use funding_core::ports::{
    Broker, FundingEntity, FundingEvent, FundingEventStream, IncomingEvent, ProviderErrorKind,
};
use futures::StreamExt;

const E0: &str = "01J00000000000000000000000";
const E1: &str = "01J00000000000000000000001";
const E2: &str = "01J00000000000000000000002";
const E3: &str = "01J00000000000000000000003";
const E4: &str = "01J00000000000000000000004";

fn event(id: &str) -> String {
    sse_data(&event_json(
        id,
        "BankRelationship",
        Some("QUEUED"),
        "APPROVED",
    ))
}

fn client_for(server: &SseServer) -> AlpacaClient {
    common::client(&server.url)
}

/// The next item, failing the test (instead of hanging) if none comes.
async fn next_incoming(
    stream: &mut FundingEventStream,
) -> Option<Result<IncomingEvent, funding_core::ports::ProviderError>> {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("the stream yielded nothing")
}

/// The next readable event (or error), failing the test on an unreadable one.
async fn next(
    stream: &mut FundingEventStream,
) -> Option<Result<FundingEvent, funding_core::ports::ProviderError>> {
    next_incoming(stream).await.map(|item| {
        item.map(|incoming| {
            assert_eq!(
                incoming.event.as_ref().map(|e| e.event_id.clone()).ok(),
                Some(incoming.event_id.clone())
            );
            incoming.event.expect("a readable event")
        })
    })
}

async fn next_ids(stream: &mut FundingEventStream, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(
            next(stream)
                .await
                .expect("stream ended")
                .expect("stream failed")
                .event_id,
        );
    }
    ids
}

#[tokio::test]
async fn events_are_read_with_basic_auth_and_comment_lines_are_not_events() {
    let chunks = vec![
        ":heartbeat\n\n".to_owned(),
        event(E1),
        ": some other comment\n".to_owned(),
        ":heartbeat\n\n".to_owned(),
        sse_data(&serde_json::json!({
            "account_id": ACCOUNT, "at": "2025-04-11T19:52:24.066998Z", "correspondent": "LPCA",
            "entity_id": RELATIONSHIP, "entity_type": "BankRelationship", "event_id": E2,
            "reason": "bank account owner name does not match brokerage account name",
            "status_from": "QUEUED", "status_to": "REJECTED"
        })),
    ];
    let server = SseServer::start(vec![Script::events(chunks, Ending::Silence)]).await;
    let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));

    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.event_id, E1);
    assert_eq!(first.entity, FundingEntity::BankRelationship);
    assert_eq!(first.account_id.to_string(), ACCOUNT);
    assert_eq!(first.entity_id.to_string(), RELATIONSHIP);
    assert_eq!(
        (first.status_from.as_deref(), first.status_to.as_str()),
        (Some("QUEUED"), "APPROVED")
    );
    assert_eq!(first.at.to_rfc3339(), "2025-04-11T19:52:24.066998+00:00");
    let second = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(second.event_id, E2);
    assert_eq!(second.status_to, "REJECTED");
    assert_eq!(
        second.reason.as_deref(),
        Some("bank account owner name does not match brokerage account name")
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v2/events/funding/status");
    assert_eq!(
        requests[0].query.as_deref(),
        Some(format!("since_id={E0}").as_str())
    );
    assert_eq!(requests[0].authorization.as_deref(), Some(BASIC_AUTH));
    assert_eq!(requests[0].accept.as_deref(), Some("text/event-stream"));
}

#[tokio::test]
async fn without_a_cursor_the_stream_asks_for_live_events_only() {
    let server = SseServer::start(vec![Script::events(vec![event(E1)], Ending::Silence)]).await;
    let mut stream = client_for(&server).funding_events(None);
    assert_eq!(next_ids(&mut stream, 1).await, [E1]);
    assert_eq!(server.requests()[0].query, None);
}

#[tokio::test]
async fn a_cut_in_the_middle_resumes_from_the_last_event_id_without_duplicates() {
    let partial = event(E3)[..30].to_owned();
    let server = SseServer::start(vec![
        Script::events(vec![event(E1), event(E2), partial], Ending::Abort),
        // Alpaca replays from the cursor; the boundary event comes again.
        Script::events(vec![event(E2), event(E3), event(E4)], Ending::Silence),
    ])
    .await;
    let mut stream = client_for(&server).funding_events(None);

    assert_eq!(next_ids(&mut stream, 4).await, [E1, E2, E3, E4]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].since_id(), None);
    assert_eq!(requests[1].since_id().as_deref(), Some(E2));
    assert_eq!(requests[1].authorization.as_deref(), Some(BASIC_AUTH));
}

#[tokio::test]
async fn a_clean_close_by_the_server_reconnects_too() {
    let server = SseServer::start(vec![
        Script::events(vec![event(E1)], Ending::Close),
        Script::events(vec![event(E2)], Ending::Silence),
    ])
    .await;
    let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));
    assert_eq!(next_ids(&mut stream, 2).await, [E1, E2]);
    let requests = server.requests();
    assert_eq!(requests[0].since_id().as_deref(), Some(E0));
    assert_eq!(requests[1].since_id().as_deref(), Some(E1));
}

#[tokio::test]
async fn the_starting_event_is_not_yielded_again_when_alpaca_replays_it() {
    let server = SseServer::start(vec![Script::events(
        vec![event(E0), event(E1)],
        Ending::Silence,
    )])
    .await;
    let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));
    assert_eq!(next_ids(&mut stream, 1).await, [E1]);
}

#[tokio::test]
async fn dropped_messages_reconnect_from_the_last_event_before_the_gap() {
    let server = SseServer::start(vec![
        Script::events(
            vec![
                event(E1),
                ": you are reading too slowly, dropped 2 messages\n".to_owned(),
                event(E4),
            ],
            Ending::Silence,
        ),
        Script::events(vec![event(E2), event(E3), event(E4)], Ending::Silence),
    ])
    .await;
    let mut stream = client_for(&server).funding_events(None);

    assert_eq!(next_ids(&mut stream, 4).await, [E1, E2, E3, E4]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].since_id().as_deref(), Some(E1));
}

#[tokio::test]
async fn an_internal_server_error_comment_reconnects() {
    let server = SseServer::start(vec![
        Script::events(
            vec![event(E1), ": internal server error\n".to_owned()],
            Ending::Silence,
        ),
        Script::events(vec![event(E2)], Ending::Silence),
    ])
    .await;
    let mut stream = client_for(&server).funding_events(None);
    assert_eq!(next_ids(&mut stream, 2).await, [E1, E2]);
    assert_eq!(server.requests()[1].since_id().as_deref(), Some(E1));
}

#[tokio::test]
async fn a_silent_connection_is_replaced_after_the_idle_timeout() {
    let server = SseServer::start(vec![
        Script::events(vec![event(E1)], Ending::Silence),
        Script::events(vec![event(E2)], Ending::Silence),
    ])
    .await;
    let mut config = common::config(&server.url);
    config.stream.idle_timeout = Duration::from_millis(200);
    let mut stream = AlpacaClient::new(config).unwrap().funding_events(None);

    assert_eq!(next_ids(&mut stream, 2).await, [E1, E2]);
    assert_eq!(server.requests()[1].since_id().as_deref(), Some(E1));
}

#[tokio::test]
async fn refused_credentials_end_the_stream_with_one_error() {
    for (status, kind) in [
        (401, ProviderErrorKind::Unauthorized),
        (403, ProviderErrorKind::Forbidden),
    ] {
        let server = SseServer::start(vec![Script::refusal(
            status,
            alpaca_error(40110000, "request is not authorized"),
        )])
        .await;
        let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));

        let error = next(&mut stream)
            .await
            .expect("one item")
            .expect_err("an error");
        assert_eq!(error.kind, kind);
        assert_eq!(error.http_status, Some(status));
        assert_eq!(error.code, "40110000");
        assert!(
            next(&mut stream).await.is_none(),
            "the stream ends after the error"
        );
        assert_eq!(server.requests().len(), 1, "no reconnect after {status}");
    }
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_with_the_same_cursor() {
    let mut limited = Script::refusal(429, alpaca_error(42900000, "rate limit exceeded"));
    limited.headers.push(("retry-after", "0".to_owned()));
    let server = SseServer::start(vec![
        Script::refusal(503, alpaca_error(50300000, "unavailable")),
        limited,
        Script::events(vec![event(E1)], Ending::Silence),
    ])
    .await;
    let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));

    assert_eq!(next_ids(&mut stream, 1).await, [E1]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.since_id().as_deref() == Some(E0)));
}

#[tokio::test]
async fn a_malformed_event_is_yielded_raw_to_be_kept_and_unknown_entities_and_statuses_are_kept() {
    let server = SseServer::start(vec![Script::events(
        vec![
            "data: {not json\n\n".to_owned(),
            "data: {\"event_id\": \"01J00000000000000000000001\"}\n\n".to_owned(),
            sse_data(&event_json(E2, "WireBank", None, "QUEUED")),
            sse_data(&event_json(E3, "Transfer", Some("SETTLED"), "PARKED")),
        ],
        Ending::Silence,
    )])
    .await;
    let mut stream = client_for(&server).funding_events(None);

    let not_json = next_incoming(&mut stream).await.unwrap().unwrap();
    assert_eq!(not_json.raw, "{not json");
    assert!(not_json.event.is_err());
    assert!(
        not_json.event_id.starts_with("unreadable:"),
        "{}",
        not_json.event_id
    );
    let no_fields = next_incoming(&mut stream).await.unwrap().unwrap();
    assert_eq!(no_fields.event_id, "unreadable:01J00000000000000000000001");
    assert!(no_fields.event.is_err());
    let wire_bank = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(wire_bank.event_id, E2);
    assert_eq!(wire_bank.entity, FundingEntity::Other("WireBank".into()));
    assert_eq!(wire_bank.status_from, None);
    let transfer = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(transfer.event_id, E3);
    assert_eq!(transfer.entity, FundingEntity::Transfer);
    assert_eq!(transfer.status_from.as_deref(), Some("SETTLED"));
    assert_eq!(transfer.status_to, "PARKED");
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_it_answers() {
    // Reserve a port, then free it: the first connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut stream = common::client(&format!("http://{address}")).funding_events(None);
    let pending = tokio::spawn(async move { next(&mut stream).await });

    tokio::time::sleep(Duration::from_millis(100)).await;
    let app_listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let server = common::sse::SseServer::serve_on(
        app_listener,
        vec![Script::events(vec![event(E1)], Ending::Silence)],
    );
    let first = pending.await.unwrap().unwrap().unwrap();
    assert_eq!(first.event_id, E1);
    assert_eq!(server.requests().len(), 1);
}

/// The SSE spec lets a stream start with a byte order mark. eventsource-stream 0.2.3 panicked on
/// one (found by the `alpaca_sse` fuzz target); the reader drops it, even split across chunks.
#[tokio::test]
async fn a_stream_that_starts_with_a_byte_order_mark_is_read() {
    let chunks = vec![
        "\u{feff}".to_owned(),
        ":heartbeat\n\n".to_owned(),
        event(E1),
    ];
    let server = SseServer::start(vec![Script::events(chunks, Ending::Silence)]).await;
    let mut stream = client_for(&server).funding_events(Some(E0.to_owned()));
    assert_eq!(next_ids(&mut stream, 1).await, [E1]);
}
