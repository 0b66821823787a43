//! Conversions of a bank link: the row that stores a new link, its status history rows, and the
//! row read back into a [`BankLink`] (a value the domain would refuse is `Corrupt`).

use funding_core::model::BankLink;
use funding_core::ports::{LinkStatusChange, StoreError};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, BankLinkId, IdempotencyKey, Nickname,
    PlaidAccountId, PlaidItemId,
};
use uuid::Uuid;

use super::db_time;
use crate::entity::{bank_link, bank_link_status_history};
use crate::error::corrupt;

/// The row that stores a new link: no tokens yet, no lease.
pub(crate) fn new_link_row(link: &BankLink) -> bank_link::Model {
    bank_link::Model {
        id: link.id.as_uuid(),
        caller: link.caller.clone(),
        idempotency_key: link.idempotency_key.as_str().to_owned(),
        account_id: link.account_id.as_uuid(),
        plaid_account_id: link.plaid_account_id.as_str().to_owned(),
        plaid_item_id: link.plaid_item_id.as_ref().map(|id| id.as_str().to_owned()),
        nickname: link.nickname.as_ref().map(|n| n.as_str().to_owned()),
        status: link.status.as_str().to_owned(),
        status_reason: link.status_reason.clone(),
        failure_code: link.failure_code.clone(),
        ach_relationship_id: link.ach_relationship_id.map(|id| id.as_uuid()),
        account_owner_name: link.account_owner_name.clone(),
        relationship_requested_at: link.relationship_requested_at.map(db_time),
        access_token: None,
        processor_token: None,
        public_token: None,
        exchange_requested_at: link.exchange_requested_at.map(db_time),
        bank_account_type: link.bank_account_type.clone(),
        bank_account_mask: link.bank_account_mask.clone(),
        lease_owner: None,
        lease_until: None,
        health: link.health.as_str().to_owned(),
        health_reason: link.health_reason.clone(),
        created_at: db_time(link.created_at),
        updated_at: db_time(link.updated_at),
        reconciled_at: None,
        reconcile_issue: None,
        replaces_bank_link_id: link.replaces.map(|id| id.as_uuid()),
        item_checked_at: None,
    }
}

/// The history row recording `change` on `link_id`.
pub(crate) fn history_row(
    link_id: BankLinkId,
    change: &LinkStatusChange,
) -> bank_link_status_history::Model {
    bank_link_status_history::Model {
        id: Uuid::now_v7(),
        link_id: link_id.as_uuid(),
        from_status: change.from.as_str().to_owned(),
        to_status: change.to.as_str().to_owned(),
        reason: change.reason.clone(),
        source: change.source.clone(),
        event_id: change.event_id.clone(),
        at: db_time(change.at),
    }
}

/// A status as stored; the CHECK constraint admits only known ones, so anything else is corruption.
fn stored_status(id: Uuid, text: &str) -> Result<AchRelationshipStatus, StoreError> {
    match AchRelationshipStatus::from_stored(text) {
        AchRelationshipStatus::Unknown(_) => Err(corrupt("bank_links", id, "unknown status")),
        status => Ok(status),
    }
}

impl TryFrom<bank_link::Model> for BankLink {
    type Error = StoreError;

    fn try_from(row: bank_link::Model) -> Result<Self, Self::Error> {
        let id = row.id;
        let bad = |field: &str| corrupt("bank_links", id, &format!("invalid {field}"));
        Ok(BankLink {
            id: BankLinkId::from_uuid(row.id),
            caller: row.caller,
            idempotency_key: IdempotencyKey::parse(&row.idempotency_key)
                .map_err(|_| bad("idempotency_key"))?,
            account_id: AccountId::from_uuid(row.account_id),
            plaid_account_id: PlaidAccountId::parse(&row.plaid_account_id)
                .map_err(|_| bad("plaid_account_id"))?,
            plaid_item_id: row
                .plaid_item_id
                .as_deref()
                .map(PlaidItemId::parse)
                .transpose()
                .map_err(|_| bad("plaid_item_id"))?,
            nickname: row
                .nickname
                .as_deref()
                .map(Nickname::parse)
                .transpose()
                .map_err(|_| bad("nickname"))?,
            status: stored_status(id, &row.status)?,
            status_reason: row.status_reason,
            failure_code: row.failure_code,
            ach_relationship_id: row.ach_relationship_id.map(AchRelationshipId::from_uuid),
            account_owner_name: row.account_owner_name,
            relationship_requested_at: row.relationship_requested_at,
            exchange_requested_at: row.exchange_requested_at,
            bank_account_type: row.bank_account_type,
            bank_account_mask: row.bank_account_mask,
            health: funding_domain::BankLinkHealth::parse(&row.health)
                .ok_or_else(|| bad("health"))?,
            health_reason: row.health_reason,
            replaces: row.replaces_bank_link_id.map(BankLinkId::from_uuid),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    fn link() -> BankLink {
        let at = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        BankLink {
            id: BankLinkId::generate(),
            caller: "app".into(),
            idempotency_key: IdempotencyKey::parse("key-1").unwrap(),
            account_id: AccountId::from_uuid(Uuid::new_v4()),
            plaid_account_id: PlaidAccountId::parse("acc_1").unwrap(),
            plaid_item_id: Some(PlaidItemId::parse("item_1").unwrap()),
            nickname: Some(Nickname::parse("Checking").unwrap()),
            status: AchRelationshipStatus::Creating,
            status_reason: None,
            failure_code: None,
            ach_relationship_id: None,
            account_owner_name: None,
            relationship_requested_at: Some(at),
            exchange_requested_at: None,
            bank_account_type: Some("CHECKING".into()),
            bank_account_mask: Some("0000".into()),
            health: funding_domain::BankLinkHealth::Healthy,
            health_reason: None,
            replaces: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_link_survives_the_row_round_trip_at_microsecond_precision() {
        let link = link();
        let back = BankLink::try_from(new_link_row(&link)).unwrap();
        assert_eq!(back.created_at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(
            back,
            BankLink {
                created_at: db_time(link.created_at),
                updated_at: db_time(link.updated_at),
                relationship_requested_at: link.relationship_requested_at.map(db_time),
                ..link
            }
        );
    }

    #[test]
    fn a_row_the_domain_would_refuse_is_corrupt() {
        let mut row = new_link_row(&link());
        row.status = "ON_HOLD".into();
        assert!(matches!(
            BankLink::try_from(row),
            Err(StoreError::Corrupt(_))
        ));
        let mut row = new_link_row(&link());
        row.plaid_account_id = "not valid".into();
        assert!(matches!(
            BankLink::try_from(row),
            Err(StoreError::Corrupt(_))
        ));
    }
}
