//! [`AlpacaClient`] as funding-core's [`Broker`] port. The transfer methods are the inherent ones
//! of `transfers.rs` and `trading.rs`, with Alpaca's [`Transfer`] turned into the port's
//! [`AlpacaTransfer`] (an unknown status stays `Unknown` and was logged when read; an unknown
//! direction is a `Decode` error, never a dropped transfer).

use async_trait::async_trait;
use funding_core::ports::{
    AccountFunds, AchRelationship, AlpacaTransfer, Broker, FundingEventStream, Provider,
    ProviderError, ProviderErrorKind, TransferDirection,
};
use funding_domain::{
    AccountId, AchRelationshipId, Amount, Nickname, ProcessorToken, ProviderTransferId,
};

use crate::client::AlpacaClient;
use crate::transfers::{self, NewAchTransfer, Transfer};

/// The port's direction as Alpaca's.
fn to_alpaca(direction: TransferDirection) -> transfers::TransferDirection {
    match direction {
        TransferDirection::Deposit => transfers::TransferDirection::Incoming,
        TransferDirection::Withdrawal => transfers::TransferDirection::Outgoing,
    }
}

/// Alpaca's transfer as the port's; a direction other than INCOMING or OUTGOING is refused.
fn to_port(transfer: Transfer) -> Result<AlpacaTransfer, ProviderError> {
    let direction = match &transfer.direction {
        transfers::TransferDirection::Incoming => TransferDirection::Deposit,
        transfers::TransferDirection::Outgoing => TransferDirection::Withdrawal,
        transfers::TransferDirection::Unknown(text) => {
            tracing::error!(transfer_id = %transfer.id, direction = %text, "Alpaca reported a transfer direction this service does not know");
            return Err(ProviderError::new(
                Provider::Alpaca,
                ProviderErrorKind::Decode,
                "DIRECTION",
                format!(
                    "transfer {} has direction {text:?}, not INCOMING or OUTGOING",
                    transfer.id
                ),
            ));
        }
    };
    Ok(AlpacaTransfer {
        id: transfer.id,
        account_id: transfer.account_id,
        relationship_id: transfer.relationship_id,
        amount: transfer.amount,
        requested_amount: transfer.requested_amount,
        fee: transfer.fee,
        direction,
        status: transfer.status,
        reason: transfer.reason,
        created_at: transfer.created_at,
        updated_at: transfer.updated_at,
    })
}

#[async_trait]
impl Broker for AlpacaClient {
    async fn create_ach_relationship(
        &self,
        account_id: AccountId,
        processor_token: &ProcessorToken,
        nickname: Option<&Nickname>,
    ) -> Result<AchRelationship, ProviderError> {
        self.create_relationship(account_id, processor_token, nickname)
            .await
    }

    async fn list_ach_relationships(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<AchRelationship>, ProviderError> {
        self.list_ach_relationships_with_statuses(account_id, &[])
            .await
    }

    async fn delete_ach_relationship(
        &self,
        account_id: AccountId,
        relationship_id: AchRelationshipId,
    ) -> Result<(), ProviderError> {
        self.delete_relationship(account_id, relationship_id).await
    }

    async fn create_transfer(
        &self,
        account_id: AccountId,
        relationship_id: AchRelationshipId,
        amount: &Amount,
        direction: TransferDirection,
    ) -> Result<AlpacaTransfer, ProviderError> {
        let transfer = NewAchTransfer {
            relationship_id,
            amount: *amount,
            direction: to_alpaca(direction),
        };
        to_port(AlpacaClient::create_transfer(self, account_id, &transfer).await?)
    }

    async fn list_transfers(
        &self,
        account_id: AccountId,
        direction: Option<TransferDirection>,
    ) -> Result<Vec<AlpacaTransfer>, ProviderError> {
        self.list_all_transfers(account_id, direction.map(to_alpaca))
            .await?
            .into_iter()
            .map(to_port)
            .collect()
    }

    async fn get_transfer(
        &self,
        account_id: AccountId,
        transfer_id: ProviderTransferId,
    ) -> Result<Option<AlpacaTransfer>, ProviderError> {
        // No GET by id at Alpaca: list and match. Only the match is converted, so that another
        // transfer's odd direction does not hide this one.
        self.list_all_transfers(account_id, None)
            .await?
            .into_iter()
            .find(|transfer| transfer.id == transfer_id)
            .map(to_port)
            .transpose()
    }

    async fn cancel_transfer(
        &self,
        account_id: AccountId,
        transfer_id: ProviderTransferId,
    ) -> Result<(), ProviderError> {
        AlpacaClient::cancel_transfer(self, account_id, transfer_id).await
    }

    async fn account_funds(&self, account_id: AccountId) -> Result<AccountFunds, ProviderError> {
        AlpacaClient::account_funds(self, account_id).await
    }

    fn funding_events(&self, since_event_id: Option<String>) -> FundingEventStream {
        crate::events::funding_events(self.clone(), since_event_id)
    }
}
