//! The gRPC face of the funding service: the `funding.v1` services over the core use cases, the one
//! error mapping, bearer-token auth with scopes, per-caller rate limits, message size limits, and
//! `x-request-id` on every call. No database or HTTP client here: those reach the core through its
//! ports.

pub mod auth;
mod bank_links;
pub mod bank_transfer_convert;
mod bank_transfers;
pub mod convert;
pub mod error;
pub mod limits;
mod observe;
mod request_refusals;
mod risk;
mod sandbox;
mod transfers;

pub use auth::{Auth, AuthInterceptor, Caller, ClientKey, Scope};
pub use bank_links::BankLinkApi;
pub use bank_transfers::BankTransferApi;
pub use limits::{Rate, RateLimits};
pub use request_refusals::RequestRefusalsLayer;
pub use risk::RiskApi;
pub use sandbox::SandboxApi;
pub use transfers::TransferApi;

use funding_client::v1::bank_link_service_server::BankLinkServiceServer;
use funding_client::v1::bank_transfer_service_server::BankTransferServiceServer;
use funding_client::v1::risk_service_server::RiskServiceServer;
use funding_client::v1::sandbox_service_server::SandboxServiceServer;
use funding_client::v1::transfer_service_server::TransferServiceServer;
use tonic::service::interceptor::InterceptedService;

/// What every `funding.v1` service is served behind: who may call ([`Auth`]), how often
/// ([`RateLimits`]), and how large a request and a response may be (larger ones are refused with
/// OUT_OF_RANGE by tonic's codec, before the handler runs).
#[derive(Debug, Clone)]
pub struct Guard {
    pub auth: Auth,
    pub rate_limits: RateLimits,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
}

impl Guard {
    /// `auth`, no rate limit, tonic's default message sizes (4 MiB in, unbounded out).
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            rate_limits: RateLimits::unlimited(),
            max_request_bytes: 4 * 1024 * 1024,
            max_response_bytes: usize::MAX,
        }
    }

    fn interceptor(&self) -> AuthInterceptor {
        AuthInterceptor::new(self.auth.clone(), self.rate_limits.clone())
    }
}

/// BankLinkService behind the guard.
pub fn bank_link_service(
    api: BankLinkApi,
    guard: &Guard,
) -> InterceptedService<BankLinkServiceServer<BankLinkApi>, AuthInterceptor> {
    let server = BankLinkServiceServer::new(api)
        .max_decoding_message_size(guard.max_request_bytes)
        .max_encoding_message_size(guard.max_response_bytes);
    InterceptedService::new(server, guard.interceptor())
}

/// RiskService behind the guard.
pub fn risk_service(
    api: RiskApi,
    guard: &Guard,
) -> InterceptedService<RiskServiceServer<RiskApi>, AuthInterceptor> {
    let server = RiskServiceServer::new(api)
        .max_decoding_message_size(guard.max_request_bytes)
        .max_encoding_message_size(guard.max_response_bytes);
    InterceptedService::new(server, guard.interceptor())
}

/// SandboxService behind the guard.
pub fn sandbox_service(
    api: SandboxApi,
    guard: &Guard,
) -> InterceptedService<SandboxServiceServer<SandboxApi>, AuthInterceptor> {
    let server = SandboxServiceServer::new(api)
        .max_decoding_message_size(guard.max_request_bytes)
        .max_encoding_message_size(guard.max_response_bytes);
    InterceptedService::new(server, guard.interceptor())
}

/// TransferService behind the guard.
pub fn transfer_service(
    api: TransferApi,
    guard: &Guard,
) -> InterceptedService<TransferServiceServer<TransferApi>, AuthInterceptor> {
    let server = TransferServiceServer::new(api)
        .max_decoding_message_size(guard.max_request_bytes)
        .max_encoding_message_size(guard.max_response_bytes);
    InterceptedService::new(server, guard.interceptor())
}

/// BankTransferService behind the guard.
pub fn bank_transfer_service(
    api: BankTransferApi,
    guard: &Guard,
) -> InterceptedService<BankTransferServiceServer<BankTransferApi>, AuthInterceptor> {
    let server = BankTransferServiceServer::new(api)
        .max_decoding_message_size(guard.max_request_bytes)
        .max_encoding_message_size(guard.max_response_bytes);
    InterceptedService::new(server, guard.interceptor())
}
