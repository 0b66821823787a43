//! `GET /v2/events/funding/status`, a Server-Sent Events stream of `StatusFundingEvent`s. The
//! replay (per the cursor) and the live subscription are taken in one critical section, so the
//! stream has no gap and no duplicate between them. Each event is `data: {json}\n\n`; a
//! `:heartbeat\n\n` comment goes out every heartbeat interval; a subscriber that falls too far
//! behind gets `: you are reading too slowly, dropped N messages` and is closed, as at Alpaca.
//! Events an event fault drops are skipped, and the same comment says how many once the rule's
//! run ends (or before anything else is sent); the stream goes on. Streams also close on
//! `/_sandbox/streams/disconnect` and on shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use ulid::Ulid;

use super::cursor::Cursor;
use super::error::AlpacaError;
use super::events::{FundingEvent, StreamItem};
use crate::state::Shared;

/// Shortest heartbeat interval honoured (a zero interval would spin).
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// Frames buffered per subscriber between the stream task and the connection.
const FRAME_BUFFER: usize = 256;

type Frames = mpsc::Sender<Result<Bytes, Infallible>>;

pub(crate) async fn funding_status(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let cursor = match query
        .map_err(|_| AlpacaError::bad_request("invalid query parameters"))
        .and_then(|Query(query)| Cursor::parse(&query))
    {
        Ok(cursor) => cursor,
        Err(error) => return error.into_response(),
    };
    let (replay, live, newest, heartbeat) = {
        let world = shared.world();
        let (replay, live) = world
            .events
            .replay_and_subscribe(|event| cursor.replays() && cursor.admits(event));
        let heartbeat = world.settings.heartbeat_interval.max(MIN_HEARTBEAT);
        (replay, live, world.events.last_id(), heartbeat)
    };
    let (frames, receiver) = mpsc::channel(FRAME_BUFFER);
    tokio::spawn(stream_events(
        Arc::clone(&shared),
        cursor,
        replay,
        live,
        newest,
        heartbeat,
        frames,
    ));
    let mut response = (
        StatusCode::OK,
        Body::from_stream(ReceiverStream::new(receiver)),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn data_frame(event: &FundingEvent) -> Bytes {
    Bytes::from(format!("data: {}\n\n", event.json))
}

async fn send(frames: &Frames, frame: Bytes) -> bool {
    frames.send(Ok(frame)).await.is_ok()
}

fn dropped_notice(dropped: u64) -> Bytes {
    Bytes::from(format!(
        ": you are reading too slowly, dropped {dropped} messages\n\n"
    ))
}

/// Sends the notice for events dropped so far, if any; false when the reader is gone.
async fn flush_dropped(frames: &Frames, dropped: &mut u64) -> bool {
    if *dropped == 0 {
        return true;
    }
    let notice = dropped_notice(*dropped);
    *dropped = 0;
    send(frames, notice).await
}

async fn stream_events(
    shared: Arc<Shared>,
    cursor: Cursor,
    replay: Vec<Arc<FundingEvent>>,
    mut live: broadcast::Receiver<StreamItem>,
    newest: Option<Ulid>,
    heartbeat: Duration,
    frames: Frames,
) {
    let mut last_sent: Option<Ulid> = None;
    for event in replay {
        if cursor.is_past_end(&event) {
            return;
        }
        if !send(&frames, data_frame(&event)).await {
            return;
        }
        last_sent = Some(event.id);
    }
    if cursor.ended(newest, shared.clock.now()) {
        return;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    // Events skipped by a drop fault and not announced yet.
    let mut dropped: u64 = 0;
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = frames.closed() => return,
            _ = ticker.tick() => {
                // An `until` time that has passed ends the stream even when no event comes.
                if cursor.ended(None, shared.clock.now()) {
                    return;
                }
                if !flush_dropped(&frames, &mut dropped).await
                    || !send(&frames, Bytes::from_static(b":heartbeat\n\n")).await
                {
                    return;
                }
            }
            item = live.recv() => match item {
                Ok(StreamItem::Event(event)) => {
                    if last_sent.is_some_and(|last| event.id <= last) || !cursor.admits(&event) {
                        continue;
                    }
                    if cursor.is_past_end(&event) {
                        return;
                    }
                    if !flush_dropped(&frames, &mut dropped).await
                        || !send(&frames, data_frame(&event)).await
                    {
                        return;
                    }
                    last_sent = Some(event.id);
                }
                // Dropped by an event fault: counted, announced after the rule's last one.
                Ok(StreamItem::Dropped { event, last }) => {
                    let wanted = last_sent.is_none_or(|sent| event.id > sent)
                        && cursor.admits(&event);
                    if wanted {
                        if cursor.is_past_end(&event) {
                            return;
                        }
                        dropped = dropped.saturating_add(1);
                        last_sent = Some(event.id);
                    }
                    if last && !flush_dropped(&frames, &mut dropped).await {
                        return;
                    }
                }
                // Sent twice or late on purpose (an event fault): no check against what was sent.
                Ok(StreamItem::Again(event)) => {
                    if !cursor.admits(&event) || cursor.is_past_end(&event) {
                        continue;
                    }
                    if !flush_dropped(&frames, &mut dropped).await
                        || !send(&frames, data_frame(&event)).await
                    {
                        return;
                    }
                    last_sent = last_sent.max(Some(event.id));
                }
                Ok(StreamItem::Disconnect) | Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    let _ = send(&frames, dropped_notice(dropped.saturating_add(lost))).await;
                    return;
                }
            },
        }
    }
}
