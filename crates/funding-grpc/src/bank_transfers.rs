//! `funding.v1.BankTransferService`: money movement on the Plaid processor rail.

use funding_client::v1::bank_transfer_service_server::BankTransferService;
use funding_client::v1::{
    CancelBankTransferRequest, CancelBankTransferResponse, CreateBankTransferRequest,
    CreateBankTransferResponse, GetBankTransferRequest, GetBankTransferResponse,
    ListBankTransfersRequest, ListBankTransfersResponse,
};
use funding_core::CoreError;
use funding_core::bank_transfers::{BankTransferListInput, BankTransfers};
use funding_domain::{ValidationError, ValidationErrors};
use tonic::{Request, Response, Status};

use crate::auth::{Scope, require};
use crate::bank_transfer_convert as convert;
use crate::error::into_status;
use crate::observe::observed;

pub struct BankTransferApi {
    transfers: BankTransfers,
}

impl BankTransferApi {
    pub fn new(transfers: BankTransfers) -> Self {
        Self { transfers }
    }
}

fn invalid(errors: Vec<ValidationError>) -> Status {
    let mut all = ValidationErrors::new();
    for error in errors {
        all.push(error);
    }
    into_status(CoreError::InvalidArgument(all))
}

#[tonic::async_trait]
impl BankTransferService for BankTransferApi {
    async fn create_bank_transfer(
        &self,
        request: Request<CreateBankTransferRequest>,
    ) -> Result<Response<CreateBankTransferResponse>, Status> {
        observed("CreateBankTransfer", async move {
            let caller = require(&request, Scope::BankTransfersWrite)?;
            let draft = convert::draft(request.into_inner());
            let transfer = self.transfers.create(&caller.name, draft).await?;
            let mut answer = convert::bank_transfer(&transfer);
            answer.waiting = self
                .transfers
                .waiting(&transfer)
                .await
                .as_ref()
                .map(crate::convert::waiting);
            Ok(Response::new(CreateBankTransferResponse {
                bank_transfer: Some(answer),
            }))
        })
        .await
    }

    async fn get_bank_transfer(
        &self,
        request: Request<GetBankTransferRequest>,
    ) -> Result<Response<GetBankTransferResponse>, Status> {
        observed("GetBankTransfer", async move {
            require(&request, Scope::Read)?;
            let transfer = self.transfers.get(&request.get_ref().id).await?;
            let mut answer = convert::bank_transfer(&transfer);
            answer.waiting = self
                .transfers
                .waiting(&transfer)
                .await
                .as_ref()
                .map(crate::convert::waiting);
            Ok(Response::new(GetBankTransferResponse {
                bank_transfer: Some(answer),
            }))
        })
        .await
    }

    async fn list_bank_transfers(
        &self,
        request: Request<ListBankTransfersRequest>,
    ) -> Result<Response<ListBankTransfersResponse>, Status> {
        observed("ListBankTransfers", async move {
            let caller = require(&request, Scope::Read)?;
            let body = request.into_inner();
            let mut errors = Vec::new();
            let start = convert::time(body.start_date).unwrap_or_else(|()| {
                errors.push(ValidationError::new("start_date", "is not a valid time"));
                None
            });
            let end = convert::time(body.end_date).unwrap_or_else(|()| {
                errors.push(ValidationError::new("end_date", "is not a valid time"));
                None
            });
            let direction = convert::direction_filter(body.direction).unwrap_or_else(|()| {
                errors.push(ValidationError::new(
                    "direction",
                    "is not a BankTransferDirection",
                ));
                None
            });
            if !errors.is_empty() {
                return Err(invalid(errors).into());
            }
            let page = self
                .transfers
                .list(
                    &caller.name,
                    BankTransferListInput {
                        start,
                        end,
                        origination_account_id: body.origination_account_id,
                        direction,
                        page_size: body.page_size,
                        page_token: body.page_token,
                    },
                )
                .await?;
            Ok(Response::new(ListBankTransfersResponse {
                bank_transfers: page.transfers.iter().map(convert::bank_transfer).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }

    async fn cancel_bank_transfer(
        &self,
        request: Request<CancelBankTransferRequest>,
    ) -> Result<Response<CancelBankTransferResponse>, Status> {
        observed("CancelBankTransfer", async move {
            require(&request, Scope::BankTransfersWrite)?;
            let transfer = self.transfers.cancel(&request.get_ref().id).await?;
            Ok(Response::new(CancelBankTransferResponse {
                bank_transfer: Some(convert::bank_transfer(&transfer)),
            }))
        })
        .await
    }
}
