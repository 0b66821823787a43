//! tonic refuses a request body it cannot read before any handler runs: bytes that are not the
//! RPC's protobuf message get INTERNAL ("failed to decode Protobuf message"), a message over the
//! size limit gets OUT_OF_RANGE. Both are the caller's doing, so [`RequestRefusalsLayer`] answers
//! them as the API documents: INVALID_ARGUMENT (`ErrorInfo.reason = MALFORMED_REQUEST`, a
//! `BadRequest` naming the message) and RESOURCE_EXHAUSTED (`reason = MESSAGE_TOO_LARGE`; no
//! `RetryInfo`, as the same message will never fit). Only tonic's own refusals are rewritten:
//! trailers-only answers without details; every status of a handler carries an `ErrorInfo`.

use std::collections::HashMap;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::DOMAIN;

/// The layer that rewrites tonic's refusals of unreadable or oversized request messages (see the
/// module).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestRefusalsLayer;

impl<S> tower::Layer<S> for RequestRefusalsLayer {
    type Service = RequestRefusals<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestRefusals { inner }
    }
}

/// Rewrites tonic's refusals of unreadable or oversized request messages (see the module).
#[derive(Debug, Clone)]
pub struct RequestRefusals<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RequestRefusals<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(status) = refusal(response.headers()) {
                let headers = status.into_http::<()>().into_parts().0.headers;
                for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
                    response.headers_mut().remove(name);
                    if let Some(value) = headers.get(name) {
                        response.headers_mut().insert(name, value.clone());
                    }
                }
            }
            Ok(response)
        })
    }
}

/// The status to answer instead, when `headers` hold one of tonic's refusals of a request body.
fn refusal(headers: &http::HeaderMap) -> Option<Status> {
    if headers.contains_key("grpc-status-details-bin") {
        return None;
    }
    let status = Status::from_header_map(headers)?;
    let message = status.message();
    match status.code() {
        Code::Internal
            if message.starts_with("failed to decode Protobuf message")
                || message.starts_with("protocol error: received message with invalid") =>
        {
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation(
                "(request)",
                "is not a protobuf message of the RPC's request type",
            );
            details.set_error_info("MALFORMED_REQUEST", DOMAIN, HashMap::new());
            Some(Status::with_error_details(
                Code::InvalidArgument,
                "invalid request: the message is not a protobuf message of the RPC's request type",
                details,
            ))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            let mut details = ErrorDetails::new();
            details.set_error_info("MESSAGE_TOO_LARGE", DOMAIN, HashMap::new());
            // tonic's message names the size and the limit, nothing of the request's content.
            Some(Status::with_error_details(
                Code::ResourceExhausted,
                format!("the request message is too large: {message}"),
                details,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: Status) -> http::HeaderMap {
        status.into_http::<()>().into_parts().0.headers
    }

    #[test]
    fn an_undecodable_request_is_invalid_argument_with_a_bad_request() {
        let headers = headers_of(Status::internal(
            "failed to decode Protobuf message: buffer underflow",
        ));
        let status = refusal(&headers).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "MALFORMED_REQUEST"
        );
        assert!(status.get_details_bad_request().is_some());
    }

    #[test]
    fn an_oversized_request_is_resource_exhausted() {
        let headers = headers_of(Status::out_of_range(
            "Error, decoded message length too large: found 300000 bytes, the limit is: 262144 bytes",
        ));
        assert_eq!(refusal(&headers).unwrap().code(), Code::ResourceExhausted);
    }

    #[test]
    fn a_handlers_own_statuses_are_left_alone() {
        let mut details = ErrorDetails::new();
        details.set_error_info("INTERNAL", DOMAIN, HashMap::new());
        let ours = Status::with_error_details(Code::Internal, "internal error", details);
        assert!(refusal(&headers_of(ours)).is_none());
        assert!(refusal(&headers_of(Status::not_found("x"))).is_none());
        assert!(refusal(&http::HeaderMap::new()).is_none());
    }
}
