//! The transport ceiling: a tonic server with a no-op unary handler, built the way fundingd builds
//! its server (`crates/fundingd/src/startup/grpc.rs`: `Server::builder()` with the request-id and trace
//! layers, plain HTTP/2 on a TCP listener, a tracing subscriber at `info`), run as a process of its
//! own (`funding-bench echo-server`) as fundingd is. Its `GetTransfer` answers a fixed transfer of
//! the same shape as fundingd's, so Echo and GetTransfer move the same bytes. (fundingd's auth,
//! rate-limit and refusal layers are its own work, so the baseline leaves them out.)

use std::net::SocketAddr;

use funding_client::v1::transfer_service_server::{TransferService, TransferServiceServer};
use funding_client::v1::{
    CancelTransferRequest, CancelTransferResponse, CreateTransferRequest, CreateTransferResponse,
    GetTransferRequest, GetTransferResponse, ListProviderOrphansRequest,
    ListProviderOrphansResponse, ListTransfersRequest, ListTransfersResponse, Transfer,
    TransferDirection, TransferStatus, WatchTransfersRequest, WatchTransfersResponse,
};
use tonic::{Request, Response, Status};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

struct Echo {
    transfer: Transfer,
}

#[tonic::async_trait]
impl TransferService for Echo {
    async fn create_transfer(
        &self,
        _request: Request<CreateTransferRequest>,
    ) -> Result<Response<CreateTransferResponse>, Status> {
        Ok(Response::new(CreateTransferResponse {
            transfer: Some(self.transfer.clone()),
        }))
    }

    async fn get_transfer(
        &self,
        _request: Request<GetTransferRequest>,
    ) -> Result<Response<GetTransferResponse>, Status> {
        Ok(Response::new(GetTransferResponse {
            transfer: Some(self.transfer.clone()),
        }))
    }

    async fn list_transfers(
        &self,
        _request: Request<ListTransfersRequest>,
    ) -> Result<Response<ListTransfersResponse>, Status> {
        Ok(Response::new(ListTransfersResponse::default()))
    }

    async fn cancel_transfer(
        &self,
        _request: Request<CancelTransferRequest>,
    ) -> Result<Response<CancelTransferResponse>, Status> {
        Err(Status::unimplemented("the baseline only echoes"))
    }

    type WatchTransfersStream =
        futures::stream::BoxStream<'static, Result<WatchTransfersResponse, Status>>;

    async fn watch_transfers(
        &self,
        _request: Request<WatchTransfersRequest>,
    ) -> Result<Response<Self::WatchTransfersStream>, Status> {
        Err(Status::unimplemented("the baseline only echoes"))
    }

    async fn list_provider_orphans(
        &self,
        _request: Request<ListProviderOrphansRequest>,
    ) -> Result<Response<ListProviderOrphansResponse>, Status> {
        Err(Status::unimplemented("the baseline only echoes"))
    }
}

fn canned() -> Transfer {
    let now = prost_timestamp();
    Transfer {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: uuid::Uuid::new_v4().to_string(),
        bank_link_id: uuid::Uuid::now_v7().to_string(),
        amount: "100.00".into(),
        direction: TransferDirection::Deposit as i32,
        status: TransferStatus::Queued as i32,
        status_reason: String::new(),
        ach_return_code: String::new(),
        provider_transfer_id: uuid::Uuid::new_v4().to_string(),
        created_at: Some(now),
        updated_at: Some(now),
        ach_return_description: String::new(),
        waiting: None,
        // As a real transfer carries it (the checks' acceptance), so the baseline's answer is
        // the same size.
        risk: Some(funding_client::v1::RiskDecision {
            verdict: funding_client::v1::RiskVerdict::Accept as i32,
            rule: "none".into(),
            reason: String::new(),
            detail: String::new(),
            figures: Vec::new(),
        }),
    }
}

fn prost_timestamp() -> prost_types::Timestamp {
    let now = chrono::Utc::now();
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Serves the baseline on `listen` until the process is stopped.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .init();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("echo-server listening on {}", listener.local_addr()?);
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(|request: &http::Request<_>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("grpc", method = %request.uri().path(), request_id = %request_id)
                })
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        );
    // fundingd's defaults (`[limits]`): 100 streams per connection, 256 KiB requests, 16 MiB
    // responses.
    tonic::transport::Server::builder()
        .max_concurrent_streams(100)
        .layer(layers)
        .add_service(
            TransferServiceServer::new(Echo { transfer: canned() })
                .max_decoding_message_size(256 * 1024)
                .max_encoding_message_size(16 * 1024 * 1024),
        )
        .serve_with_incoming(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
        )
        .await?;
    Ok(())
}
