//! The gRPC face of the funding service: the `funding.v1` services over the core use cases, the one
//! error mapping, bearer-token auth with scopes, and `x-request-id` on every call. No database or HTTP
//! client here: those reach the core through its ports.

pub mod auth;
mod bank_links;
pub mod bank_transfer_convert;
mod bank_transfers;
pub mod convert;
pub mod error;
mod observe;
mod sandbox;
mod transfers;

pub use auth::{Auth, AuthInterceptor, Caller, ClientKey, Scope};
pub use bank_links::BankLinkApi;
pub use bank_transfers::BankTransferApi;
pub use sandbox::SandboxApi;
pub use transfers::TransferApi;

use funding_client::v1::bank_link_service_server::BankLinkServiceServer;
use funding_client::v1::bank_transfer_service_server::BankTransferServiceServer;
use funding_client::v1::sandbox_service_server::SandboxServiceServer;
use funding_client::v1::transfer_service_server::TransferServiceServer;
use tonic::service::interceptor::InterceptedService;

/// BankLinkService behind the auth interceptor.
pub fn bank_link_service(
    api: BankLinkApi,
    auth: Auth,
) -> InterceptedService<BankLinkServiceServer<BankLinkApi>, AuthInterceptor> {
    InterceptedService::new(BankLinkServiceServer::new(api), AuthInterceptor(auth))
}

/// SandboxService behind the auth interceptor.
pub fn sandbox_service(
    api: SandboxApi,
    auth: Auth,
) -> InterceptedService<SandboxServiceServer<SandboxApi>, AuthInterceptor> {
    InterceptedService::new(SandboxServiceServer::new(api), AuthInterceptor(auth))
}

/// TransferService behind the auth interceptor.
pub fn transfer_service(
    api: TransferApi,
    auth: Auth,
) -> InterceptedService<TransferServiceServer<TransferApi>, AuthInterceptor> {
    InterceptedService::new(TransferServiceServer::new(api), AuthInterceptor(auth))
}

/// BankTransferService behind the auth interceptor.
pub fn bank_transfer_service(
    api: BankTransferApi,
    auth: Auth,
) -> InterceptedService<BankTransferServiceServer<BankTransferApi>, AuthInterceptor> {
    InterceptedService::new(BankTransferServiceServer::new(api), AuthInterceptor(auth))
}
