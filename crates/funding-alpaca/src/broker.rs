//! [`AlpacaClient`] as funding-core's [`Broker`] port. The transfer methods are the inherent ones
//! of `transfers.rs` and `trading.rs`, with Alpaca's [`Transfer`] turned into the port's
//! [`AlpacaTransfer`]: an unknown status stays `Unknown` (logged when read). In a list, a transfer
//! the port cannot carry (a direction other than INCOMING or OUTGOING, a wire or another rail) is
//! logged, counted and skipped, never failing the list; in a create's answer, or as the one
//! transfer asked for by id, it is a `Decode` error.

use async_trait::async_trait;
use funding_core::ports::{
    AccountFunds, AchRelationship, AlpacaTransfer, Broker, FundingEventStream, Provider,
    ProviderError, ProviderErrorKind, TransferDirection,
};
use funding_domain::{
    AccountId, AchRelationshipId, AlpacaTransferId, Amount, Nickname, ProcessorToken,
};

use crate::client::AlpacaClient;
use crate::items::{SkipReason, skipped};
use crate::transfers::{self, NewAchTransfer, Transfer, TransferType};

/// The port's direction as Alpaca's.
fn to_alpaca(direction: TransferDirection) -> transfers::TransferDirection {
    match direction {
        TransferDirection::Deposit => transfers::TransferDirection::Incoming,
        TransferDirection::Withdrawal => transfers::TransferDirection::Outgoing,
    }
}

/// Why a transfer Alpaca reported has no place in the port's [`AlpacaTransfer`].
struct Unusable {
    reason: SkipReason,
    detail: String,
}

/// Alpaca's transfer as the port's; a direction other than INCOMING or OUTGOING is refused.
fn to_port(transfer: Transfer) -> Result<AlpacaTransfer, Unusable> {
    let direction = match &transfer.direction {
        transfers::TransferDirection::Incoming => TransferDirection::Deposit,
        transfers::TransferDirection::Outgoing => TransferDirection::Withdrawal,
        transfers::TransferDirection::Unknown(text) => {
            return Err(Unusable {
                reason: SkipReason::Direction,
                detail: format!(
                    "transfer {} has direction {:?}, not INCOMING or OUTGOING",
                    transfer.id,
                    short(text)
                ),
            });
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

/// A listed transfer as the port's, when it is an ACH transfer the funding flows can use.
fn listed_to_port(transfer: Transfer) -> Result<AlpacaTransfer, Unusable> {
    if transfer.transfer_type != TransferType::Ach {
        return Err(Unusable {
            reason: SkipReason::NotAch,
            detail: format!(
                "transfer {} is of type {:?}, not ach",
                transfer.id,
                short(transfer.transfer_type.as_str())
            ),
        });
    }
    to_port(transfer)
}

/// At most 32 characters of a provider's enum text, for a log line or a message.
fn short(text: &str) -> String {
    text.chars().take(32).collect()
}

/// The usable transfers of a listing, oldest first; the others logged, counted and left out.
fn usable(transfers: Vec<Transfer>) -> Vec<AlpacaTransfer> {
    transfers
        .into_iter()
        .filter_map(|transfer| {
            let id = transfer.id.as_uuid();
            listed_to_port(transfer)
                .map_err(|unusable| {
                    skipped("transfer", Some(id), unusable.reason, &unusable.detail)
                })
                .ok()
        })
        .collect()
}

fn decode_error(code: &str, message: String) -> ProviderError {
    ProviderError::new(Provider::Alpaca, ProviderErrorKind::Decode, code, message)
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
        let created = AlpacaClient::create_transfer(self, account_id, &transfer).await?;
        to_port(created).map_err(|unusable| {
            tracing::error!(detail = %unusable.detail, "Alpaca answered a create with a transfer this service cannot read");
            decode_error("DIRECTION", unusable.detail)
        })
    }

    async fn list_transfers(
        &self,
        account_id: AccountId,
        direction: Option<TransferDirection>,
    ) -> Result<Vec<AlpacaTransfer>, ProviderError> {
        let listing = self
            .read_all_transfers(account_id, direction.map(to_alpaca))
            .await?;
        Ok(usable(listing.transfers))
    }

    async fn get_transfer(
        &self,
        account_id: AccountId,
        transfer_id: AlpacaTransferId,
    ) -> Result<Option<AlpacaTransfer>, ProviderError> {
        // No GET by id at Alpaca: list and match. Only the match is converted; when it is listed
        // but cannot be used, that is said (`Decode`), not hidden as "not listed".
        let listing = self.read_all_transfers(account_id, None).await?;
        if listing.unreadable.contains(&Some(transfer_id.as_uuid())) {
            return Err(decode_error(
                "UNREADABLE",
                format!("Alpaca lists transfer {transfer_id} in a form this service cannot read"),
            ));
        }
        listing
            .transfers
            .into_iter()
            .find(|transfer| transfer.id == transfer_id)
            .map(|transfer| {
                listed_to_port(transfer)
                    .map_err(|unusable| decode_error("UNUSABLE", unusable.detail))
            })
            .transpose()
    }

    async fn cancel_transfer(
        &self,
        account_id: AccountId,
        transfer_id: AlpacaTransferId,
    ) -> Result<(), ProviderError> {
        AlpacaClient::cancel_transfer(self, account_id, transfer_id).await
    }

    async fn account_funds(&self, account_id: AccountId) -> Result<AccountFunds, ProviderError> {
        AlpacaClient::account_funds(self, account_id).await
    }

    async fn account_owner_name(
        &self,
        account_id: AccountId,
    ) -> Result<Option<String>, ProviderError> {
        AlpacaClient::account_owner_name(self, account_id).await
    }

    fn funding_events(&self, since_event_id: Option<String>) -> FundingEventStream {
        crate::events::funding_events(self.clone(), since_event_id)
    }
}
