//! [`AlpacaClient`] as funding-core's [`Broker`] port.

use async_trait::async_trait;
use funding_core::ports::{AchRelationship, Broker, FundingEventStream, ProviderError};
use funding_domain::{AccountId, AchRelationshipId, Nickname, ProcessorToken};

use crate::client::AlpacaClient;

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

    fn funding_events(&self, since_event_id: Option<String>) -> FundingEventStream {
        crate::events::funding_events(self.clone(), since_event_id)
    }
}
