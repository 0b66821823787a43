//! The legacy Bank Transfers endpoints on [`PlaidClient`], for the Plaid processor rail (not yet in
//! a port). A create carries its stable `idempotency_key`, so it is repeated on 5xx and timeouts like
//! the reads; a cancel or a simulation is repeated only when Plaid surely did nothing (429, no
//! connection), since a second cancel of a cancelled transfer would report a misleading error.

use funding_core::ports::ProviderError;
use funding_domain::{BankTransferId, BankTransferRequest};

use crate::call::Endpoint;
use crate::client::PlaidClient;
use crate::wire::bank_transfer::{
    BankTransfer, BankTransferEvent, BankTransferEventSyncRequest, BankTransferEventSyncResponse,
    BankTransferFailure, BankTransferIdRequest, BankTransferResponse, EmptyResponse,
    ProcessorBankTransferCreateRequest, SandboxBankTransferSimulateRequest,
    SimulatedBankTransferEvent,
};

pub(crate) const CREATE_BANK_TRANSFER: Endpoint = Endpoint {
    path: "/processor/bank_transfer/create",
    idempotent: true,
};
pub(crate) const GET_BANK_TRANSFER: Endpoint = Endpoint {
    path: "/bank_transfer/get",
    idempotent: true,
};
pub(crate) const CANCEL_BANK_TRANSFER: Endpoint = Endpoint {
    path: "/bank_transfer/cancel",
    idempotent: false,
};
pub(crate) const SYNC_BANK_TRANSFER_EVENTS: Endpoint = Endpoint {
    path: "/bank_transfer/event/sync",
    idempotent: true,
};
pub(crate) const SANDBOX_SIMULATE_BANK_TRANSFER: Endpoint = Endpoint {
    path: "/sandbox/bank_transfer/simulate",
    idempotent: false,
};

/// The most events `/bank_transfer/event/sync` returns at once.
pub const MAX_EVENT_SYNC_COUNT: u8 = 25;

impl PlaidClient {
    /// `/processor/bank_transfer/create`: every field of the request, `user.routing_number` never.
    /// Errors: `InvalidInput` with Plaid's code (`BANK_TRANSFER_LIMIT_EXCEEDED`,
    /// `BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT`, `INVALID_PROCESSOR_TOKEN`…); `RateLimited`,
    /// `Unavailable`, `Transport` after retries — resend with the same key to learn the outcome.
    #[tracing::instrument(
        skip_all,
        fields(
            endpoint = CREATE_BANK_TRANSFER.path,
            idempotency_key = %request.idempotency_key(),
            transfer_type = %request.transfer_type(),
            network = %request.network(),
            amount = %request.amount(),
            bank_transfer_id = tracing::field::Empty,
        )
    )]
    pub async fn create_processor_bank_transfer(
        &self,
        request: &BankTransferRequest,
    ) -> Result<BankTransfer, ProviderError> {
        let body = ProcessorBankTransferCreateRequest::from(request);
        let response: BankTransferResponse = self.call(CREATE_BANK_TRANSFER, &body).await?;
        tracing::Span::current().record("bank_transfer_id", response.bank_transfer.id.as_str());
        Ok(response.bank_transfer)
    }

    /// `/bank_transfer/get`. Errors: `NotFound` or `InvalidInput` for an unknown id.
    #[tracing::instrument(skip_all, fields(endpoint = GET_BANK_TRANSFER.path, bank_transfer_id = %id))]
    pub async fn get_bank_transfer(
        &self,
        id: &BankTransferId,
    ) -> Result<BankTransfer, ProviderError> {
        let body = BankTransferIdRequest {
            bank_transfer_id: id.as_str(),
        };
        let response: BankTransferResponse = self.call(GET_BANK_TRANSFER, &body).await?;
        Ok(response.bank_transfer)
    }

    /// `/bank_transfer/cancel`. Errors: `InvalidInput` with `BANK_TRANSFER_NOT_CANCELLABLE` once the
    /// transfer is no longer `cancellable`.
    #[tracing::instrument(skip_all, fields(endpoint = CANCEL_BANK_TRANSFER.path, bank_transfer_id = %id))]
    pub async fn cancel_bank_transfer(&self, id: &BankTransferId) -> Result<(), ProviderError> {
        let body = BankTransferIdRequest {
            bank_transfer_id: id.as_str(),
        };
        let _: EmptyResponse = self.call(CANCEL_BANK_TRANSFER, &body).await?;
        Ok(())
    }

    /// `/bank_transfer/event/sync`: the events after `after_id` (0 at first), oldest first, at most
    /// `count` (1 to [`MAX_EVENT_SYNC_COUNT`]; Plaid's default of 25 when `None`; out-of-range counts
    /// are brought into range). Fewer than asked means the end for now.
    #[tracing::instrument(skip_all, fields(endpoint = SYNC_BANK_TRANSFER_EVENTS.path, after_id = after_id, events = tracing::field::Empty))]
    pub async fn sync_bank_transfer_events(
        &self,
        after_id: u64,
        count: Option<u8>,
    ) -> Result<Vec<BankTransferEvent>, ProviderError> {
        let body = BankTransferEventSyncRequest {
            after_id,
            count: count.map(|count| count.clamp(1, MAX_EVENT_SYNC_COUNT)),
        };
        let response: BankTransferEventSyncResponse =
            self.call(SYNC_BANK_TRANSFER_EVENTS, &body).await?;
        tracing::Span::current().record("events", response.bank_transfer_events.len());
        Ok(response.bank_transfer_events)
    }

    /// `/sandbox/bank_transfer/simulate` (sandbox only): moves a transfer as the network would.
    /// Errors: `InvalidInput` with `SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID` off the lifecycle.
    #[tracing::instrument(
        skip_all,
        fields(endpoint = SANDBOX_SIMULATE_BANK_TRANSFER.path, bank_transfer_id = %id, event_type = ?event)
    )]
    pub async fn sandbox_simulate_bank_transfer(
        &self,
        id: &BankTransferId,
        event: SimulatedBankTransferEvent,
        failure_reason: Option<&BankTransferFailure>,
    ) -> Result<(), ProviderError> {
        let body = SandboxBankTransferSimulateRequest {
            bank_transfer_id: id.as_str(),
            event_type: event,
            failure_reason,
        };
        let _: EmptyResponse = self.call(SANDBOX_SIMULATE_BANK_TRANSFER, &body).await?;
        Ok(())
    }
}
