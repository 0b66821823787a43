//! The outer layer of both providers: records every provider request in the call log (method,
//! path, final status; never bodies, headers or queries) and applies injected faults, answering
//! the provider's own error body (or the rule's) either instead of the request (before its
//! effect), after running it (a dropped response), or at once with the request run later (a late
//! effect). A rule with status 0 answers nothing: the connection closes before any byte of an
//! answer (recorded as status 0). Control requests under `/_sandbox` pass through untouched.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::alpaca::error::AlpacaError;
use crate::body::read_capped;
use crate::control::calls::{Host, RecordedCall};
use crate::control::faults::{Fault, FaultMode, Triggered};
use crate::ids::plaid_request_id;
use crate::plaid::error::PlaidError;
use crate::state::Shared;

/// Prefix of the control API, which is neither recorded nor faulted.
pub(crate) const CONTROL_PREFIX: &str = "/_sandbox";

/// A response that never answers: its body fails before its first byte, so hyper drops the
/// connection without writing the head it had buffered, and the caller sees the connection close
/// with no answer (over HTTP/1.1; an HTTP/2 caller sees its stream reset).
fn no_answer() -> Response {
    let failing = tokio_stream::once(Err::<Bytes, std::io::Error>(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "sandbox fault: no answer",
    )));
    Response::new(Body::from_stream(failing))
}

/// The rule's own error object as the provider would send it; a Plaid object gets the
/// `request_id` every Plaid body carries when the rule left it out.
fn custom_response(host: Host, status: StatusCode, mut body: Value) -> Response {
    if let (Host::Plaid, Value::Object(map)) = (host, &mut body) {
        map.entry("request_id")
            .or_insert_with(|| Value::String(plaid_request_id()));
    }
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn fault_response(host: Host, fault: &Triggered) -> Response {
    if fault.status == Fault::NO_ANSWER {
        return no_answer();
    }
    if let Some(body) = &fault.body {
        let status = StatusCode::from_u16(fault.status)
            .ok()
            .filter(|code| code.is_client_error() || code.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return custom_response(host, status, body.clone());
    }
    match host {
        Host::Plaid => PlaidError::for_status(fault.status).render(&plaid_request_id()),
        Host::Alpaca => AlpacaError::for_status(fault.status).into_response(),
    }
}

/// Runs `request` after `fault.delay` in the background (its answer is discarded), unless the
/// emulator stops first. The body is read now, while the caller's connection still holds it.
async fn run_late(shared: &Arc<Shared>, request: Request, next: Next, fault: &Triggered) {
    let (parts, body) = request.into_parts();
    // An unreadable body runs as an empty one, which the handler refuses: no effect, as it
    // would have had.
    let bytes = read_capped(body).await.unwrap_or_default();
    let late = Request::from_parts(parts, Body::from(bytes));
    let delay = fault.delay;
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(delay) => {
                let response = next.run(late).await;
                tracing::debug!(status = response.status().as_u16(), "late effect ran");
            }
        }
    });
}

/// The middleware, with the host it guards as state.
pub(crate) async fn record_and_inject(
    State((shared, host)): State<(Arc<Shared>, Host)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path == CONTROL_PREFIX || path.starts_with("/_sandbox/") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    // Recorded even when the caller gives up before the answer (its future is then dropped): a
    // request that reached the provider is a call, answered or not (status 0 then).
    let mut record = Recorder {
        shared: shared.clone(),
        call: Some(RecordedCall {
            host,
            method: method.to_string(),
            path: path.clone(),
            status: Fault::NO_ANSWER,
        }),
    };
    let fault = shared.world().faults.take(host, &method, &path);
    let (response, status) = match fault {
        None => {
            let response = next.run(request).await;
            let status = response.status().as_u16();
            (response, status)
        }
        Some(fault) => {
            let response = match fault.mode {
                FaultMode::BeforeEffect => fault_response(host, &fault),
                FaultMode::Delayed => {
                    let response = next.run(request).await;
                    tokio::time::sleep(fault.delay).await;
                    response
                }
                FaultMode::AfterEffect => {
                    drop(next.run(request).await);
                    fault_response(host, &fault)
                }
                FaultMode::LateEffect => {
                    run_late(&shared, request, next, &fault).await;
                    fault_response(host, &fault)
                }
            };
            let status = if fault.status == Fault::NO_ANSWER && fault.mode != FaultMode::Delayed {
                Fault::NO_ANSWER
            } else {
                response.status().as_u16()
            };
            (response, status)
        }
    };
    tracing::debug!(%host, %method, %path, status, "provider call");
    if let Some(call) = record.call.as_mut() {
        call.status = status;
    }
    drop(record);
    response
}

/// Pushes its call to the call log when dropped: when the answer is ready, or when the caller went
/// away first.
struct Recorder {
    shared: Arc<Shared>,
    call: Option<RecordedCall>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            self.shared.world().calls.push(call);
        }
    }
}
