//! The outer layer of both providers: records every provider request in the call log (method,
//! path, final status; never bodies, headers or queries) and applies injected faults, answering
//! the provider's own error body either instead of the request (before its effect) or after
//! running it (a dropped response). Control requests under `/_sandbox` pass through untouched.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::alpaca::error::AlpacaError;
use crate::control::calls::{Host, RecordedCall};
use crate::control::faults::FaultMode;
use crate::ids::plaid_request_id;
use crate::plaid::error::PlaidError;
use crate::state::Shared;

/// Prefix of the control API, which is neither recorded nor faulted.
pub(crate) const CONTROL_PREFIX: &str = "/_sandbox";

fn fault_response(host: Host, status: u16) -> Response {
    match host {
        Host::Plaid => PlaidError::for_status(status).render(&plaid_request_id()),
        Host::Alpaca => AlpacaError::for_status(status).into_response(),
    }
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
    let fault = shared.world().faults.take(host, &method, &path);
    let response = match fault {
        None => next.run(request).await,
        Some(fault) if fault.mode == FaultMode::BeforeEffect => fault_response(host, fault.status),
        Some(fault) if fault.mode == FaultMode::Delayed => {
            let response = next.run(request).await;
            tokio::time::sleep(fault.delay).await;
            response
        }
        Some(fault) => {
            drop(next.run(request).await);
            fault_response(host, fault.status)
        }
    };
    tracing::debug!(%host, %method, %path, status = response.status().as_u16(), "provider call");
    shared.world().calls.push(RecordedCall {
        host,
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
    });
    response
}
