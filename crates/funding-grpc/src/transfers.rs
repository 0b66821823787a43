//! `funding.v1.TransferService`: deposits and withdrawals on the Alpaca rail, and a server stream of
//! their changes.

use funding_client::v1::transfer_service_server::TransferService;
use funding_client::v1::{
    CancelTransferRequest, CancelTransferResponse, CreateTransferRequest, CreateTransferResponse,
    GetTransferRequest, GetTransferResponse, ListProviderOrphansRequest,
    ListProviderOrphansResponse, ListTransfersRequest, ListTransfersResponse,
    WatchTransfersRequest, WatchTransfersResponse,
};
use funding_core::{CoreError, CreateTransferInput, OrphanSweep, Transfers};
use funding_domain::{ValidationError, ValidationErrors};
use futures::StreamExt as _;
use tonic::{Request, Response, Status};

use crate::auth::{Scope, require};
use crate::convert;
use crate::error::into_status;
use crate::observe::observed;

pub struct TransferApi {
    transfers: Transfers,
    orphans: OrphanSweep,
}

impl TransferApi {
    pub fn new(transfers: Transfers, orphans: OrphanSweep) -> Self {
        Self { transfers, orphans }
    }
}

fn invalid(field: &str, rule: &str) -> Status {
    into_status(CoreError::InvalidArgument(ValidationErrors::from(
        ValidationError::new(field, rule),
    )))
}

#[tonic::async_trait]
impl TransferService for TransferApi {
    async fn create_transfer(
        &self,
        request: Request<CreateTransferRequest>,
    ) -> Result<Response<CreateTransferResponse>, Status> {
        observed("CreateTransfer", async move {
            let caller = require(&request, Scope::TransfersWrite)?;
            let body = request.into_inner();
            // An unknown direction number is "not given": the use case names the field.
            let direction = convert::transfer_direction_of(body.direction).unwrap_or(None);
            let input = CreateTransferInput {
                account_id: body.account_id,
                bank_link_id: body.bank_link_id,
                amount: body.amount,
                direction,
                idempotency_key: body.idempotency_key,
            };
            let transfer = self.transfers.create(&caller.name, input).await?;
            let mut answer = convert::transfer(&transfer);
            answer.waiting = self
                .transfers
                .waiting(&transfer)
                .await
                .as_ref()
                .map(convert::waiting);
            Ok(Response::new(CreateTransferResponse {
                transfer: Some(answer),
            }))
        })
        .await
    }

    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> Result<Response<GetTransferResponse>, Status> {
        observed("GetTransfer", async move {
            require(&request, Scope::Read)?;
            let transfer = self.transfers.get(&request.get_ref().id).await?;
            let mut answer = convert::transfer(&transfer);
            answer.waiting = self
                .transfers
                .waiting(&transfer)
                .await
                .as_ref()
                .map(convert::waiting);
            Ok(Response::new(GetTransferResponse {
                transfer: Some(answer),
            }))
        })
        .await
    }

    async fn list_transfers(
        &self,
        request: Request<ListTransfersRequest>,
    ) -> Result<Response<ListTransfersResponse>, Status> {
        observed("ListTransfers", async move {
            require(&request, Scope::Read)?;
            let body = request.get_ref();
            let status = convert::transfer_status_filter(body.status)
                .map_err(|_| invalid("status", "is not a TransferStatus"))?;
            let direction = convert::transfer_direction_of(body.direction)
                .map_err(|_| invalid("direction", "is not a TransferDirection"))?;
            let page = self
                .transfers
                .list(
                    &body.account_id,
                    status,
                    direction,
                    body.page_size,
                    &body.page_token,
                )
                .await?;
            Ok(Response::new(ListTransfersResponse {
                transfers: page.transfers.iter().map(convert::transfer).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }

    async fn cancel_transfer(
        &self,
        request: Request<CancelTransferRequest>,
    ) -> Result<Response<CancelTransferResponse>, Status> {
        observed("CancelTransfer", async move {
            require(&request, Scope::TransfersWrite)?;
            let transfer = self.transfers.cancel(&request.get_ref().id).await?;
            Ok(Response::new(CancelTransferResponse {
                transfer: Some(convert::transfer(&transfer)),
            }))
        })
        .await
    }

    type WatchTransfersStream =
        futures::stream::BoxStream<'static, Result<WatchTransfersResponse, Status>>;

    async fn watch_transfers(
        &self,
        request: Request<WatchTransfersRequest>,
    ) -> Result<Response<Self::WatchTransfersStream>, Status> {
        require(&request, Scope::Read)?;
        let body = request.into_inner();
        let watch = self
            .transfers
            .watch(&body.account_id, &body.transfer_id, &body.after_event_id)
            .await
            .map_err(into_status)?;
        let stream = watch.map(|item| match item {
            Ok((event_id, transfer)) => Ok(WatchTransfersResponse {
                event_id,
                transfer: Some(convert::transfer(&transfer)),
            }),
            Err(error) => Err(into_status(error)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_provider_orphans(
        &self,
        request: Request<ListProviderOrphansRequest>,
    ) -> Result<Response<ListProviderOrphansResponse>, Status> {
        observed("ListProviderOrphans", async move {
            require(&request, Scope::Read)?;
            let body = request.into_inner();
            let page = self
                .orphans
                .list(&body.account_id, body.page_size, &body.page_token)
                .await?;
            Ok(Response::new(ListProviderOrphansResponse {
                orphans: page.orphans.iter().map(convert::provider_orphan).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }
}
