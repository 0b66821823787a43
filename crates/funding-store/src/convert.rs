//! Conversions between the table rows and the domain's records. A row is parsed back through the
//! domain's constructors, so a value the domain would refuse comes out as `Corrupt`, never as a
//! record that lies. Timestamps are stored at microsecond precision (PostgreSQL's), so that what is
//! written is exactly what is read back on every backend.

use chrono::{DateTime, SubsecRound as _, Utc};
use funding_core::model::{BankLink, Transfer};
use funding_core::ports::{StatusChange, StoreError, TransferChange, TransferDirection};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, AlpacaTransferStatus, Amount, BankLinkId,
    IdempotencyKey, Nickname, PlaidAccountId, PlaidItemId, ProviderTransferId, TransferId,
};
use uuid::Uuid;

use crate::entity::{bank_link, bank_link_status_history, transfer, transfer_status_history};
use crate::error::corrupt;

/// A timestamp as the database keeps it.
pub(crate) fn db_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

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
        created_at: db_time(link.created_at),
        updated_at: db_time(link.updated_at),
    }
}

/// The history row recording `change` on `link_id`.
pub(crate) fn history_row(
    link_id: BankLinkId,
    change: &StatusChange,
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
pub(crate) fn stored_status(id: Uuid, text: &str) -> Result<AchRelationshipStatus, StoreError> {
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
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// How a direction is stored: `deposit` or `withdrawal`.
pub(crate) fn direction_str(direction: TransferDirection) -> &'static str {
    match direction {
        TransferDirection::Deposit => "deposit",
        TransferDirection::Withdrawal => "withdrawal",
    }
}

/// The row that stores `transfer` as given.
pub(crate) fn transfer_row(transfer: &Transfer) -> transfer::Model {
    transfer::Model {
        id: transfer.id.as_uuid(),
        caller: transfer.caller.clone(),
        idempotency_key: transfer.idempotency_key.as_str().to_owned(),
        account_id: transfer.account_id.as_uuid(),
        bank_link_id: transfer.bank_link_id.as_uuid(),
        relationship_id: transfer.relationship_id.as_uuid(),
        amount: transfer.amount.to_string(),
        direction: direction_str(transfer.direction).to_owned(),
        status: transfer.status.as_str().to_owned(),
        status_reason: transfer.status_reason.clone(),
        ach_return_code: transfer.ach_return_code.clone(),
        failure_code: transfer.failure_code.clone(),
        provider_transfer_id: transfer.provider_transfer_id.map(|id| id.as_uuid()),
        submit_requested_at: transfer.submit_requested_at.map(db_time),
        created_at: db_time(transfer.created_at),
        updated_at: db_time(transfer.updated_at),
    }
}

/// The history row recording `change` on `transfer_id`.
pub(crate) fn transfer_history_row(
    transfer_id: TransferId,
    change: &TransferChange,
) -> transfer_status_history::Model {
    transfer_status_history::Model {
        id: Uuid::now_v7(),
        transfer_id: transfer_id.as_uuid(),
        from_status: change.from.as_str().to_owned(),
        to_status: change.to.as_str().to_owned(),
        reason: change.reason.clone(),
        ach_return_code: change.ach_return_code.clone(),
        source: change.source.clone(),
        event_id: change.event_id.clone(),
        at: db_time(change.at),
    }
}

impl TryFrom<transfer::Model> for Transfer {
    type Error = StoreError;

    fn try_from(row: transfer::Model) -> Result<Self, Self::Error> {
        const TABLE: &str = "transfers";
        let id = row.id;
        let bad = |field: &str| corrupt(TABLE, id, &format!("invalid {field}"));
        let direction = match row.direction.as_str() {
            "deposit" => TransferDirection::Deposit,
            "withdrawal" => TransferDirection::Withdrawal,
            _ => return Err(bad("direction")),
        };
        let status = match AlpacaTransferStatus::from_stored(&row.status) {
            AlpacaTransferStatus::Unknown(_) => return Err(corrupt(TABLE, id, "unknown status")),
            status => status,
        };
        let amount = Amount::parse(&row.amount).map_err(|_| bad("amount"))?;
        // Only the canonical form is written: anything else was not written by this store.
        if amount.to_string() != row.amount {
            return Err(bad("amount"));
        }
        Ok(Transfer {
            id: TransferId::from_uuid(row.id),
            caller: row.caller,
            idempotency_key: IdempotencyKey::parse(&row.idempotency_key)
                .map_err(|_| bad("idempotency_key"))?,
            account_id: AccountId::from_uuid(row.account_id),
            bank_link_id: BankLinkId::from_uuid(row.bank_link_id),
            relationship_id: AchRelationshipId::from_uuid(row.relationship_id),
            amount,
            direction,
            status,
            status_reason: row.status_reason,
            ach_return_code: row.ach_return_code,
            failure_code: row.failure_code,
            provider_transfer_id: row.provider_transfer_id.map(ProviderTransferId::from_uuid),
            submit_requested_at: row.submit_requested_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

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

    fn transfer() -> Transfer {
        let at = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        Transfer {
            id: TransferId::generate(),
            caller: "app".into(),
            idempotency_key: IdempotencyKey::parse("key-1").unwrap(),
            account_id: AccountId::from_uuid(Uuid::new_v4()),
            bank_link_id: BankLinkId::generate(),
            relationship_id: AchRelationshipId::from_uuid(Uuid::new_v4()),
            amount: Amount::parse("0.01").unwrap(),
            direction: TransferDirection::Withdrawal,
            status: AlpacaTransferStatus::Returned,
            status_reason: Some("Insufficient Funds".into()),
            ach_return_code: Some("R01".into()),
            failure_code: None,
            provider_transfer_id: Some(ProviderTransferId::from_uuid(Uuid::new_v4())),
            submit_requested_at: Some(at),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_transfer_survives_the_row_round_trip() {
        let transfer = transfer();
        let row = transfer_row(&transfer);
        assert_eq!(row.amount, "0.01");
        assert_eq!(row.direction, "withdrawal");
        assert_eq!(
            Transfer::try_from(row).unwrap(),
            Transfer {
                submit_requested_at: transfer.submit_requested_at.map(db_time),
                created_at: db_time(transfer.created_at),
                updated_at: db_time(transfer.updated_at),
                ..transfer
            }
        );
    }

    #[test]
    fn a_transfer_row_the_domain_would_refuse_is_corrupt() {
        for tamper in [
            (|row: &mut transfer::Model| row.status = "ON_HOLD".into()) as fn(&mut transfer::Model),
            |row| row.direction = "sideways".into(),
            |row| row.amount = "0".into(),
            |row| row.amount = "1.5".into(),
            |row| row.idempotency_key = String::new(),
        ] {
            let mut row = transfer_row(&transfer());
            tamper(&mut row);
            assert!(matches!(
                Transfer::try_from(row),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
