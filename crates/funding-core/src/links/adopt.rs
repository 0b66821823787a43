//! Adoption: after a relationship create whose outcome is unknown (a 5xx, a timeout, a crash between
//! sending and storing), the relationship this link asked for is looked up at Alpaca rather than
//! created again. It is the account's active relationship with this link's nickname, created no
//! earlier than our request (less the allowed clock skew), that no other link holds; it is claimed
//! through the unique constraint on `ach_relationship_id`, so two links can never both take it.
//! Work that creates at an Alpaca account runs one at a time per account, so the lookup cannot take
//! a relationship another of our requests is creating at that moment.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::BankLinks;
use crate::engine::Stop;
use crate::model::BankLink;
use crate::ports::{AchRelationship, Claim, RelationshipSaved};

impl BankLinks {
    /// Looks the relationship up and stores it on the link; whether one was adopted.
    pub(super) async fn adopt(
        &self,
        claim: &Claim,
        link: &BankLink,
        requested_at: DateTime<Utc>,
    ) -> Result<bool, Stop> {
        let relationships = self
            .broker
            .list_ach_relationships(link.account_id)
            .await
            .map_err(|error| {
                Stop::Retry(format!("looking the relationship up: {error}"), Some(error))
            })?;
        for relationship in relationships
            .into_iter()
            .filter(|candidate| self.is_ours(link, requested_at, candidate))
        {
            if self
                .store
                .find_link_by_relationship(relationship.id)
                .await?
                .is_some()
            {
                continue;
            }
            let id = relationship.id;
            match self
                .save_relationship(claim, link, relationship, "alpaca:lookup")
                .await?
            {
                RelationshipSaved::Saved => {
                    tracing::info!(ach_relationship_id = %id, "adopted the relationship an earlier attempt created");
                    return Ok(true);
                }
                RelationshipSaved::NotCreating => return Ok(true),
                RelationshipSaved::HeldByAnother => continue,
            }
        }
        Ok(false)
    }

    /// Whether `candidate` may be the relationship `link` asked for at `requested_at`.
    fn is_ours(
        &self,
        link: &BankLink,
        requested_at: DateTime<Utc>,
        candidate: &AchRelationship,
    ) -> bool {
        let skew = ChronoDuration::from_std(self.settings.adoption_skew)
            .unwrap_or(ChronoDuration::seconds(5));
        let nickname = link.nickname.as_ref().map(|n| n.as_str()).unwrap_or("");
        candidate.account_id == link.account_id
            && candidate.status.is_active()
            && candidate.created_at >= requested_at - skew
            && candidate.nickname.as_deref().unwrap_or("") == nickname
    }
}
