//! `funding.v1.SandboxService`, registered only in sandbox mode: test tokens and driving the emulator,
//! so a caller in any language scripts the whole flow over gRPC. The Plaid processor rail's RPCs
//! answer UNIMPLEMENTED where that rail is not configured.

use funding_client::v1::sandbox_service_server::SandboxService;
use funding_client::v1::{
    CreateProcessorTokenRequest, CreateProcessorTokenResponse, CreatePublicTokenRequest,
    CreatePublicTokenResponse, SimulateBankTransferRequest, SimulateBankTransferResponse,
    SimulateTransferRequest, SimulateTransferResponse, simulate_transfer_request::Target,
};
use funding_core::Sandbox;
use tonic::{Request, Response, Status};

use crate::auth::{Scope, require};
use crate::convert;
use crate::observe::observed;

pub struct SandboxApi {
    sandbox: Sandbox,
}

impl SandboxApi {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }
}

#[tonic::async_trait]
impl SandboxService for SandboxApi {
    async fn create_public_token(
        &self,
        request: Request<CreatePublicTokenRequest>,
    ) -> Result<Response<CreatePublicTokenResponse>, Status> {
        observed("CreatePublicToken", async move {
            require(&request, Scope::Sandbox)?;
            let (token, accounts) = self
                .sandbox
                .create_public_token(&request.get_ref().institution_id)
                .await?;
            Ok(Response::new(CreatePublicTokenResponse {
                // A sandbox public token is what this RPC exists to hand out.
                public_token: token.expose_secret().to_owned(),
                accounts: accounts.iter().map(convert::plaid_account).collect(),
            }))
        })
        .await
    }

    async fn create_processor_token(
        &self,
        request: Request<CreateProcessorTokenRequest>,
    ) -> Result<Response<CreateProcessorTokenResponse>, Status> {
        observed("CreateProcessorToken", async move {
            require(&request, Scope::Sandbox)?;
            let token = self
                .sandbox
                .create_processor_token(&request.get_ref().institution_id)
                .await?;
            Ok(Response::new(CreateProcessorTokenResponse {
                // A sandbox processor token is what this RPC exists to hand out.
                processor_token: token.expose_secret().to_owned(),
            }))
        })
        .await
    }

    async fn simulate_transfer(
        &self,
        request: Request<SimulateTransferRequest>,
    ) -> Result<Response<SimulateTransferResponse>, Status> {
        observed("SimulateTransfer", async move {
            require(&request, Scope::Sandbox)?;
            let body = request.into_inner();
            match body.target {
                Some(Target::BankLinkId(id)) => {
                    self.sandbox
                        .simulate_link_status(&id, &body.status, &body.reason)
                        .await?;
                    Ok(Response::new(SimulateTransferResponse {}))
                }
                Some(Target::TransferId(id)) => {
                    self.sandbox
                        .simulate_transfer_status(
                            &id,
                            &body.status,
                            &body.reason,
                            &body.ach_return_code,
                        )
                        .await?;
                    Ok(Response::new(SimulateTransferResponse {}))
                }
                None => Err(funding_core::CoreError::InvalidArgument(
                    funding_domain::ValidationError::new(
                        "target",
                        "set transfer_id or bank_link_id",
                    )
                    .into(),
                )
                .into()),
            }
        })
        .await
    }

    async fn simulate_bank_transfer(
        &self,
        request: Request<SimulateBankTransferRequest>,
    ) -> Result<Response<SimulateBankTransferResponse>, Status> {
        observed("SimulateBankTransfer", async move {
            require(&request, Scope::Sandbox)?;
            let body = request.get_ref();
            self.sandbox
                .simulate_bank_transfer(
                    &body.bank_transfer_id,
                    &body.event_type,
                    &body.ach_return_code,
                    &body.failure_description,
                )
                .await?;
            Ok(Response::new(SimulateBankTransferResponse {}))
        })
        .await
    }
}
