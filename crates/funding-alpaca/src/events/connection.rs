//! One connection to `GET /v2/events/funding/status`: the request (Basic auth,
//! `Accept: text/event-stream`, `since_id` when resuming), the verdict on a refusal (credentials
//! refused: fatal; 429, 5xx, no answer: try again), and the pipeline over the body: idle timeout on
//! the bytes, the comment tap, then `eventsource-stream`'s SSE parser.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};

use super::comments::{CommentTap, Signal};
use crate::client::AlpacaClient;
use crate::errors::http_error;

/// The SSE messages of one open connection.
pub(crate) type Connection =
    Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<Interruption>>> + Send>>;

/// Why an open connection stopped giving events.
#[derive(Debug)]
pub(crate) enum Interruption {
    /// No byte for the idle timeout.
    Idle,
    Transport(reqwest::Error),
    Signal(Signal),
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Idle => f.write_str("no data, not even a heartbeat, within the idle timeout"),
            Self::Transport(error) => write!(f, "connection failed: {error}"),
            Self::Signal(Signal::DataLost(comment)) => {
                write!(f, "Alpaca dropped messages ({comment})")
            }
            Self::Signal(Signal::ServerError) => {
                f.write_str("Alpaca reported an internal server error")
            }
        }
    }
}

/// A connection attempt that failed.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// Trying again cannot help (credentials refused, bad cursor): the stream ends with this error.
    Fatal(ProviderError),
    /// Transient (429, 5xx, no answer): reconnect after a backoff.
    Retry(ProviderError),
}

impl AlpacaClient {
    /// Opens the stream after `since_id` (live only when `None`).
    #[tracing::instrument(skip_all, fields(since_id = since_id.unwrap_or("")))]
    pub(crate) async fn open_funding_stream(
        &self,
        since_id: Option<&str>,
    ) -> Result<Connection, ConnectFailure> {
        let inner = &self.inner;
        let mut url = self.endpoint(&["v2", "events", "funding", "status"]);
        if let Some(since_id) = since_id {
            url.query_pairs_mut().append_pair("since_id", since_id);
        }
        // No whole-request timeout: the body lasts as long as the stream. The headers must come in time.
        let request = inner
            .http
            .get(url)
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .send();
        let response = match tokio::time::timeout(inner.request_timeout, request).await {
            Err(_) => {
                return Err(ConnectFailure::Retry(ProviderError::new(
                    Provider::Alpaca,
                    ProviderErrorKind::Transport,
                    "TIMEOUT",
                    "the funding event stream did not answer in time",
                )));
            }
            Ok(Err(error)) => return Err(ConnectFailure::Retry(self.transport(&error))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(pipeline(response, inner.stream.idle_timeout));
        }
        let headers = response.headers().clone();
        let body = tokio::time::timeout(inner.request_timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let error = http_error(status, &headers, &body, &self.credentials());
        if error.is_retryable() {
            Err(ConnectFailure::Retry(error))
        } else {
            Err(ConnectFailure::Fatal(error))
        }
    }
}

/// Bytes → (idle timeout) → comment tap → SSE messages.
fn pipeline(response: reqwest::Response, idle_timeout: Duration) -> Connection {
    let bytes =
        tokio_stream::StreamExt::timeout(response.bytes_stream(), idle_timeout).map(|item| {
            match item {
                Err(_elapsed) => Err(Interruption::Idle),
                Ok(Err(error)) => Err(Interruption::Transport(error.without_url())),
                Ok(Ok(chunk)) => Ok(chunk),
            }
        });
    sse_events(bytes)
}

/// A connection's bytes as SSE events: leading byte order marks dropped, then the comment tap
/// (which cuts the stream before a comment that calls for a reconnect), then the SSE parser.
pub(crate) fn sse_events<S>(bytes: S) -> Connection
where
    S: Stream<Item = Result<Bytes, Interruption>> + Send + 'static,
{
    let mut bom = LeadingBom::default();
    let mut tap = CommentTap::default();
    let tapped = bytes.flat_map(move |item| {
        let items = match item {
            Err(interruption) => vec![Err(interruption)],
            Ok(chunk) => {
                let chunk = bom.strip(chunk);
                let (pass, signal) = tap.feed(&chunk);
                let mut items = vec![Ok(chunk.slice(..pass))];
                if let Some(signal) = signal {
                    items.push(Err(Interruption::Signal(signal)));
                }
                items
            }
        };
        futures::stream::iter(items)
    });
    Box::pin(tapped.eventsource())
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Drops the byte order marks a stream starts with, across chunk boundaries. The SSE spec lets a
/// stream start with one; eventsource-stream 0.2.3 slices it at a byte that is not a char
/// boundary and panics (found by the `alpaca_sse` fuzz target), so none may reach it.
#[derive(Debug, Default)]
struct LeadingBom {
    /// Bytes of a BOM matched so far (held back until it is whole or proves not to be one).
    matched: usize,
    done: bool,
}

impl LeadingBom {
    fn strip(&mut self, chunk: Bytes) -> Bytes {
        if self.done {
            return chunk;
        }
        for (index, &byte) in chunk.iter().enumerate() {
            if byte == BOM[self.matched] {
                self.matched = (self.matched + 1) % BOM.len();
                continue;
            }
            self.done = true;
            if self.matched == 0 {
                return chunk.slice(index..);
            }
            // A BOM's first bytes and then something else: not a BOM, give them back.
            let mut given_back = BOM[..self.matched].to_vec();
            given_back.extend_from_slice(&chunk[index..]);
            return Bytes::from(given_back);
        }
        Bytes::new()
    }
}
