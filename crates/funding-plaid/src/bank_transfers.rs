//! The core's [`BankTransferGateway`] and [`BankTransferSandbox`] ports on [`PlaidClient`]: the
//! legacy Bank Transfers endpoints of the Plaid processor rail, their answers turned into the
//! port's types (enum strings kept exactly as Plaid sent them).
//!
//! What is repeated after a failure: a create carries its stable `idempotency_key`, so it is
//! repeated on 5xx and timeouts like the reads (Plaid makes one transfer per key); a cancel, a
//! simulation and a fired webhook are repeated only when Plaid surely did nothing
//! (`PLANNED_MAINTENANCE`, rate limiting, no connection), since a second cancel of a cancelled
//! transfer would report a misleading error and a second simulation could move the transfer twice. Processor tokens never reach a log line: the
//! spans below skip every argument and name only ids.

use async_trait::async_trait;
use funding_core::ports::{
    AccountBalance, BankTransferBalance, BankTransferFailure, BankTransferGateway,
    BankTransferSandbox, PlaidBankTransfer, PlaidBankTransferEvent, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, Provider, ProviderError, ProviderErrorKind,
    SimulatedBankTransferEvent, SyncedPlaidEvent, WebhookVerificationKey,
};
use funding_domain::{BankTransferRequest, PlaidBankTransferId, ProcessorToken};

use crate::call::Endpoint;
use crate::client::PlaidClient;
use crate::gateway::read;
use crate::wire::bank_transfer::{
    self as wire, BankTransferBalanceGetRequest, BankTransferBalanceGetResponse,
    BankTransferEventListRequest, BankTransferEventListResponse, BankTransferEventSyncRequest,
    BankTransferEventSyncResponse, BankTransferIdRequest, BankTransferListRequest,
    BankTransferListResponse, BankTransferResponse, EmptyResponse,
    ProcessorBankTransferCreateRequest, SandboxBankTransferFireWebhookRequest,
    SandboxBankTransferSimulateRequest, SandboxProcessorTokenCreateRequest,
    SandboxProcessorTokenCreateResponse,
};
use crate::wire::webhook::{WebhookVerificationKeyGetRequest, WebhookVerificationKeyGetResponse};

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
pub(crate) const LIST_BANK_TRANSFERS: Endpoint = Endpoint {
    path: "/bank_transfer/list",
    idempotent: true,
};
pub(crate) const LIST_BANK_TRANSFER_EVENTS: Endpoint = Endpoint {
    path: "/bank_transfer/event/list",
    idempotent: true,
};
pub(crate) const SYNC_BANK_TRANSFER_EVENTS: Endpoint = Endpoint {
    path: "/bank_transfer/event/sync",
    idempotent: true,
};
pub(crate) const GET_BANK_TRANSFER_BALANCE: Endpoint = Endpoint {
    path: "/bank_transfer/balance/get",
    idempotent: true,
};
pub(crate) const GET_WEBHOOK_VERIFICATION_KEY: Endpoint = Endpoint {
    path: "/webhook_verification_key/get",
    idempotent: true,
};
/// Each call makes a new sandbox Item; a repeat after an unknown outcome only leaves a spare one.
pub(crate) const SANDBOX_CREATE_PROCESSOR_TOKEN: Endpoint = Endpoint {
    path: "/sandbox/processor_token/create",
    idempotent: true,
};
pub(crate) const SANDBOX_SIMULATE_BANK_TRANSFER: Endpoint = Endpoint {
    path: "/sandbox/bank_transfer/simulate",
    idempotent: false,
};
pub(crate) const SANDBOX_FIRE_WEBHOOK: Endpoint = Endpoint {
    path: "/sandbox/bank_transfer/fire_webhook",
    idempotent: false,
};

/// The most events `/bank_transfer/event/sync` and `/bank_transfer/event/list`, and the most
/// transfers `/bank_transfer/list`, return at once; counts asked for are brought into 1..=25.
pub const MAX_EVENT_SYNC_COUNT: u8 = 25;

/// The code of the error [`BankTransferSandbox::create_processor_token`] returns, without asking
/// Plaid, when an account is named: `/sandbox/processor_token/create` cannot choose one.
pub const ACCOUNT_SELECTION_UNSUPPORTED: &str = "ACCOUNT_SELECTION_UNSUPPORTED";

#[async_trait]
impl BankTransferGateway for PlaidClient {
    /// Every field of the request, `user.routing_number` never, the idempotency key unchanged on
    /// every attempt (the body is encoded once).
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
    async fn create_bank_transfer(
        &self,
        request: &BankTransferRequest,
    ) -> Result<PlaidBankTransfer, ProviderError> {
        let body = ProcessorBankTransferCreateRequest::from(request);
        let response: BankTransferResponse = self.call(CREATE_BANK_TRANSFER, &body).await?;
        tracing::Span::current().record("bank_transfer_id", response.bank_transfer.id.as_str());
        Ok(response.bank_transfer.into())
    }

    #[tracing::instrument(skip_all, fields(endpoint = GET_BANK_TRANSFER.path, bank_transfer_id = %id))]
    async fn get_bank_transfer(
        &self,
        id: &PlaidBankTransferId,
    ) -> Result<PlaidBankTransfer, ProviderError> {
        let body = BankTransferIdRequest {
            bank_transfer_id: id.as_str(),
        };
        let response: BankTransferResponse = self.call(GET_BANK_TRANSFER, &body).await?;
        Ok(response.bank_transfer.into())
    }

    #[tracing::instrument(skip_all, fields(endpoint = CANCEL_BANK_TRANSFER.path, bank_transfer_id = %id))]
    async fn cancel_bank_transfer(&self, id: &PlaidBankTransferId) -> Result<(), ProviderError> {
        let body = BankTransferIdRequest {
            bank_transfer_id: id.as_str(),
        };
        let _: EmptyResponse = self.call(CANCEL_BANK_TRANSFER, &body).await?;
        Ok(())
    }

    /// Unset filters are left out; `count` is brought into 1..=[`MAX_EVENT_SYNC_COUNT`].
    #[tracing::instrument(skip_all, fields(endpoint = LIST_BANK_TRANSFERS.path, transfers = tracing::field::Empty))]
    async fn list_bank_transfers(
        &self,
        filter: &PlaidBankTransferListFilter,
    ) -> Result<Vec<PlaidBankTransfer>, ProviderError> {
        let body = BankTransferListRequest::new(filter, MAX_EVENT_SYNC_COUNT);
        let response: BankTransferListResponse = self.call(LIST_BANK_TRANSFERS, &body).await?;
        tracing::Span::current().record("transfers", response.bank_transfers.len());
        Ok(response
            .bank_transfers
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Unset filters (and an empty `event_types`) are left out; `count` is brought into
    /// 1..=[`MAX_EVENT_SYNC_COUNT`].
    #[tracing::instrument(skip_all, fields(endpoint = LIST_BANK_TRANSFER_EVENTS.path, events = tracing::field::Empty))]
    async fn list_bank_transfer_events(
        &self,
        filter: &PlaidBankTransferEventFilter,
    ) -> Result<Vec<PlaidBankTransferEvent>, ProviderError> {
        let body = BankTransferEventListRequest::new(filter, MAX_EVENT_SYNC_COUNT);
        let response: BankTransferEventListResponse =
            self.call(LIST_BANK_TRANSFER_EVENTS, &body).await?;
        tracing::Span::current().record("events", response.bank_transfer_events.len());
        Ok(response
            .bank_transfer_events
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// `count` is always sent, brought into 1..=[`MAX_EVENT_SYNC_COUNT`], so "fewer than asked"
    /// is measured against what Plaid was asked.
    #[tracing::instrument(
        skip_all,
        fields(endpoint = SYNC_BANK_TRANSFER_EVENTS.path, after_id = after_id, events = tracing::field::Empty)
    )]
    ///
    /// Each event is read on its own: one that cannot be read (malformed, or of a shape Plaid
    /// introduced later) comes back raw with why, logged with its `event_id`; an `event_type` this
    /// adapter does not know is read as `PlaidBankTransferStatus::Unknown`, never dropped.
    async fn sync_bank_transfer_events(
        &self,
        after_id: u64,
        count: u8,
    ) -> Result<Vec<SyncedPlaidEvent>, ProviderError> {
        let body = BankTransferEventSyncRequest {
            after_id,
            count: Some(count.clamp(1, MAX_EVENT_SYNC_COUNT)),
        };
        let response: BankTransferEventSyncResponse =
            self.call(SYNC_BANK_TRANSFER_EVENTS, &body).await?;
        tracing::Span::current().record("events", response.bank_transfer_events.len());
        let events: Vec<SyncedPlaidEvent> = response
            .bank_transfer_events
            .iter()
            .map(|raw| wire::read_synced_event(raw))
            .collect();
        for event in &events {
            if let Err(error) = &event.event {
                tracing::error!(
                    event_id = event.event_id,
                    bytes = event.raw.len(),
                    %error,
                    "a Plaid bank-transfer event cannot be read; it is kept raw"
                );
            }
        }
        Ok(events)
    }

    #[tracing::instrument(skip_all, fields(endpoint = GET_BANK_TRANSFER_BALANCE.path))]
    async fn bank_transfer_balance(
        &self,
        origination_account_id: Option<&str>,
    ) -> Result<BankTransferBalance, ProviderError> {
        let body = BankTransferBalanceGetRequest {
            origination_account_id,
        };
        let response: BankTransferBalanceGetResponse =
            self.call(GET_BANK_TRANSFER_BALANCE, &body).await?;
        Ok(response.into())
    }

    /// The account's `available` and `current` balances as exact decimals, read as
    /// `/accounts/balance/get`'s are; an unavailable one is Plaid's error, classified as every
    /// Plaid error is. The processor token is never logged.
    async fn processor_balance(
        &self,
        processor_token: &ProcessorToken,
    ) -> Result<AccountBalance, ProviderError> {
        PlaidClient::processor_balance(self, processor_token).await
    }

    /// The key as Plaid gives it; whether it may verify anything is the verifier's to decide
    /// ([`WebhookVerifier`](crate::webhook::WebhookVerifier)).
    #[tracing::instrument(skip_all, fields(endpoint = GET_WEBHOOK_VERIFICATION_KEY.path, key_id = ?key_id))]
    async fn webhook_verification_key(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKey, ProviderError> {
        let body = WebhookVerificationKeyGetRequest { key_id };
        let response: WebhookVerificationKeyGetResponse =
            self.call(GET_WEBHOOK_VERIFICATION_KEY, &body).await?;
        Ok(response.key.into())
    }
}

#[async_trait]
impl BankTransferSandbox for PlaidClient {
    /// Plaid's `/sandbox/processor_token/create` has no field naming an account (spec
    /// 2020-09-14_1.697.4 and plaid-python 46 alike: `institution_id`, `options` with the test
    /// credentials only), so `account_id: Some(_)` is refused as `InvalidRequest`
    /// [`ACCOUNT_SELECTION_UNSUPPORTED`] without a request rather than silently ignored.
    #[tracing::instrument(
        skip_all,
        fields(endpoint = SANDBOX_CREATE_PROCESSOR_TOKEN.path, institution_id = %institution_id)
    )]
    async fn create_processor_token(
        &self,
        institution_id: &str,
        account_id: Option<&str>,
    ) -> Result<ProcessorToken, ProviderError> {
        if account_id.is_some() {
            return Err(ProviderError::new(
                Provider::Plaid,
                ProviderErrorKind::InvalidRequest,
                ACCOUNT_SELECTION_UNSUPPORTED,
                format!(
                    "{} cannot choose the account of the processor token; Plaid picks it",
                    SANDBOX_CREATE_PROCESSOR_TOKEN.path
                ),
            ));
        }
        let body = SandboxProcessorTokenCreateRequest { institution_id };
        let response: SandboxProcessorTokenCreateResponse =
            self.call(SANDBOX_CREATE_PROCESSOR_TOKEN, &body).await?;
        read(
            SANDBOX_CREATE_PROCESSOR_TOKEN,
            ProcessorToken::parse(&response.processor_token),
        )
    }

    /// Only the failure fields given are sent.
    #[tracing::instrument(
        skip_all,
        fields(endpoint = SANDBOX_SIMULATE_BANK_TRANSFER.path, bank_transfer_id = %id, event_type = ?event)
    )]
    async fn simulate_bank_transfer(
        &self,
        id: &PlaidBankTransferId,
        event: SimulatedBankTransferEvent,
        failure_reason: Option<&BankTransferFailure>,
    ) -> Result<(), ProviderError> {
        let body = SandboxBankTransferSimulateRequest {
            bank_transfer_id: id.as_str(),
            event_type: event.into(),
            failure_reason: failure_reason.map(wire::BankTransferFailure::from),
        };
        let _: EmptyResponse = self.call(SANDBOX_SIMULATE_BANK_TRANSFER, &body).await?;
        Ok(())
    }

    /// The URL is not logged (a webhook URL may carry a token of its own).
    #[tracing::instrument(skip_all, fields(endpoint = SANDBOX_FIRE_WEBHOOK.path))]
    async fn fire_webhook(&self, url: &str) -> Result<(), ProviderError> {
        let body = SandboxBankTransferFireWebhookRequest { webhook: url };
        let _: EmptyResponse = self.call(SANDBOX_FIRE_WEBHOOK, &body).await?;
        Ok(())
    }
}
