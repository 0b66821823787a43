//! The gRPC server: the funding services behind their [`Guard`] (auth, rate limits, message sizes),
//! health, server reflection (v1 and v1alpha, with the `google.rpc` error details), the request-id
//! and tracing layers, TLS, and the shutdown that drains calls.

use std::future::Future;
use std::num::NonZeroU32;

use anyhow::Context;
use funding_core::Sandbox;
use funding_grpc::{
    Auth, BankLinkApi, BankTransferApi, Guard, Rate, RateLimits, SandboxApi, TransferApi,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::ServerTlsConfig;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health as HealthCheck, HealthServer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use super::{Health, Parts};
use crate::health;
use crate::settings::LimitSettings;

/// Where and how gRPC is served: its bound port, who may call, its TLS (none: plaintext).
pub(super) struct Endpoint {
    pub(super) listener: TcpListener,
    pub(super) auth: Auth,
    pub(super) tls: Option<ServerTlsConfig>,
}

/// The gRPC server over `parts`, ready to serve on `endpoint` until `shutdown` is cancelled: then
/// health turns NOT_SERVING, the watch streams end and the calls drain. Fails (before serving) on
/// a reflection service or a TLS configuration it cannot build.
pub(super) fn server(
    endpoint: Endpoint,
    limits: &LimitSettings,
    parts: &Parts,
    sandbox: Option<&Sandbox>,
    health_service: HealthServer<impl HealthCheck>,
    health: &Health,
    shutdown: CancellationToken,
) -> anyhow::Result<impl Future<Output = Result<(), tonic::transport::Error>>> {
    let Endpoint {
        listener,
        auth,
        tls,
    } = endpoint;
    let sandbox_mode = sandbox.is_some();
    let reflection_v1 = reflection(sandbox_mode, Some(REFLECTION_V1))
        .build_v1()
        .context("the v1 reflection service")?;
    let reflection_v1alpha = reflection(sandbox_mode, Some(REFLECTION_V1ALPHA))
        .build_v1alpha()
        .context("the v1alpha reflection service")?;

    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(|request: &http::Request<_>| {
                    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("grpc", method = %request.uri().path(), request_id = %request_id)
                })
                // Refusals are answers, not faults: the error mapping logs what needs attention.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        // A request body tonic cannot read is the caller's fault: INVALID_ARGUMENT or
        // RESOURCE_EXHAUSTED, not INTERNAL or OUT_OF_RANGE.
        .layer(funding_grpc::RequestRefusalsLayer);
    let guard = guard(auth, limits);
    let sandbox_service = sandbox
        .map(|use_case| funding_grpc::sandbox_service(SandboxApi::new(use_case.clone()), &guard));
    let mut builder =
        tonic::transport::Server::builder().max_concurrent_streams(limits.max_concurrent_streams);
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .context("the gRPC server's TLS configuration")?;
    }
    let server = builder
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(funding_grpc::bank_link_service(
            BankLinkApi::new(parts.links.clone()),
            &guard,
        ))
        .add_service(funding_grpc::transfer_service(
            TransferApi::new(parts.transfers.clone(), parts.orphans.clone()),
            &guard,
        ))
        .add_service(funding_grpc::bank_transfer_service(
            BankTransferApi::new(parts.bank_transfers.clone()),
            &guard,
        ))
        .add_service(funding_grpc::risk_service(
            funding_grpc::RiskApi::new(parts.risk.clone()),
            &guard,
        ))
        .add_optional_service(sandbox_service);

    let reporter_on_stop = health.reporter.clone();
    let served = health.served.clone();
    let watches = parts.transfers.clone();
    let signal = async move {
        shutdown.cancelled().await;
        health::set_all(&reporter_on_stop, &served, ServingStatus::NotServing).await;
        // Streams end (each naming where to resume), so the calls can drain.
        watches.close_watches();
        tracing::info!("shutting down: draining calls");
    };
    Ok(server.serve_with_incoming_shutdown(
        // TCP_NODELAY: without it an answer of several segments (a page of ListTransfers)
        // waits for the caller's delayed ACK, about 40 ms (docs/BENCHMARKS.md).
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
        signal,
    ))
}

const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The services reflection lists outside sandbox mode: everything served but the sandbox
/// service (which is not served there).
const SERVED_OUTSIDE_SANDBOX: &[&str] = &[
    funding_client::v1::bank_link_service_server::SERVICE_NAME,
    funding_client::v1::transfer_service_server::SERVICE_NAME,
    funding_client::v1::bank_transfer_service_server::SERVICE_NAME,
    funding_client::v1::risk_service_server::SERVICE_NAME,
    tonic_health::pb::health_server::SERVICE_NAME,
];

/// Server reflection over the funding API and health: v1 for current clients, v1alpha for older
/// ones (Python's grpcio-reflection asks v1alpha), each listing itself (`reflection_service`).
/// It also resolves the `google.rpc` error details every error carries (`ErrorInfo`, `BadRequest`,
/// `PreconditionFailure`, `RetryInfo`; tonic-types' descriptors), so that grpcurl decodes them.
/// In sandbox mode it lists every service of the descriptors; outside it, only the services served
/// (`funding.v1.SandboxService` is not).
fn reflection(
    sandbox_mode: bool,
    reflection_service: Option<&'static str>,
) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    if sandbox_mode {
        return builder.register_encoded_file_descriptor_set(funding_client::FILE_DESCRIPTOR_SET);
    }
    SERVED_OUTSIDE_SANDBOX
        .iter()
        .copied()
        .chain(reflection_service)
        .fold(
            builder.register_file_descriptor_set(api_without_sandbox()),
            |builder, name| builder.with_service_name(name),
        )
}

/// The funding API's descriptors without the file that declares `SandboxService` (it imports
/// nothing and nothing imports it): outside sandbox mode reflection neither lists it nor resolves
/// its symbols.
fn api_without_sandbox() -> prost_types::FileDescriptorSet {
    use prost::Message as _;
    let mut set = prost_types::FileDescriptorSet::decode(funding_client::FILE_DESCRIPTOR_SET)
        .unwrap_or_default();
    set.file.retain(|file| {
        !file
            .service
            .iter()
            .any(|service| service.name() == "SandboxService")
    });
    set
}

/// What the funding services are served behind: `auth`, and `[limits]`' rate limits and message
/// sizes (a rate of 0 is no limit).
fn guard(auth: Auth, limits: &LimitSettings) -> Guard {
    let rate = |per_minute: u32, burst: u32| {
        Some(Rate {
            per_minute: NonZeroU32::new(per_minute)?,
            // Validated: at least 1 while the rate is on.
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    };
    // Open mode (no `[[clients]]`: sandbox on loopback, or `--insecure-no-auth`) has no callers
    // to tell apart: one shared `anonymous` budget would throttle every team's test run together,
    // and the provider behind it is the emulator. The budgets are per configured client.
    let per_caller = !matches!(auth, Auth::Open);
    Guard {
        auth,
        rate_limits: RateLimits::new(
            rate(limits.calls_per_minute, limits.call_burst).filter(|_| per_caller),
            rate(limits.writes_per_minute, limits.write_burst).filter(|_| per_caller),
        ),
        max_request_bytes: limits.max_request_bytes,
        max_response_bytes: limits.max_response_bytes,
    }
}

#[cfg(test)]
mod reflection_tests {
    use super::*;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    /// One question to the v1 reflection service `run_until_stopped` serves, asked in-process:
    /// its answer, or the error status.
    async fn ask(
        sandbox_mode: bool,
        question: MessageRequest,
    ) -> Result<Option<MessageResponse>, tonic::Status> {
        let service = reflection(sandbox_mode, Some(REFLECTION_V1))
            .build_v1()
            .unwrap();
        let mut client = ServerReflectionClient::new(service);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(question),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = stream.message().await?;
        Ok(response.and_then(|r| r.message_response))
    }

    /// The services the v1 reflection service lists.
    async fn listed(sandbox_mode: bool) -> Vec<String> {
        let answer = ask(sandbox_mode, MessageRequest::ListServices(String::new())).await;
        let Some(MessageResponse::ListServicesResponse(list)) = answer.unwrap() else {
            panic!("not a list of services");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn outside_sandbox_mode_reflection_does_not_list_the_sandbox_service() {
        assert_eq!(
            listed(false).await,
            [
                "funding.v1.BankLinkService",
                "funding.v1.BankTransferService",
                "funding.v1.RiskService",
                "funding.v1.TransferService",
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
            ]
        );
    }

    /// Whether v1 reflection resolves `symbol` to a file.
    async fn resolves(sandbox_mode: bool, symbol: &str) -> bool {
        let question = MessageRequest::FileContainingSymbol(symbol.to_owned());
        match ask(sandbox_mode, question).await {
            Ok(response) => matches!(response, Some(MessageResponse::FileDescriptorResponse(_))),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
                false
            }
        }
    }

    #[tokio::test]
    async fn outside_sandbox_mode_reflection_does_not_resolve_the_sandbox_service() {
        assert!(!resolves(false, "funding.v1.SandboxService").await);
        assert!(!resolves(false, "funding.v1.SimulateTransferRequest").await);
        assert!(resolves(false, "funding.v1.TransferService").await);
        assert!(resolves(false, "funding.v1.BankTransferService").await);
        assert!(resolves(true, "funding.v1.SandboxService").await);
    }

    #[tokio::test]
    async fn in_sandbox_mode_reflection_lists_the_sandbox_service() {
        let names = listed(true).await;
        assert!(
            names.iter().any(|n| n == "funding.v1.SandboxService"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "funding.v1.BankLinkService"),
            "{names:?}"
        );
    }
}
