//! Request metrics for every RPC: a count by method and gRPC code, and the latency, recorded through
//! the `metrics` facade (the server decides where they go; see `--metrics-listen`).

use std::future::Future;
use std::time::Instant;

use tonic::Status;

/// Runs one RPC's body and records how it ended.
pub async fn observed<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, crate::error::HandlerError>>,
) -> Result<T, Status> {
    let started = Instant::now();
    let result = call.await.map_err(Status::from);
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    metrics::counter!("funding_grpc_requests_total", "method" => method, "code" => format!("{code:?}")).increment(1);
    metrics::histogram!("funding_grpc_request_duration_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
    result
}
