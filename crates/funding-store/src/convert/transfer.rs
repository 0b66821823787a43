//! Conversions of an Alpaca transfer: how a direction is stored, the row that stores a transfer,
//! its status history rows, and the row read back into a [`Transfer`] (a value the domain would
//! refuse is `Corrupt`).

use funding_core::model::{RiskDecision, Transfer};
use funding_core::ports::{StoreError, TransferChange, TransferDirection};
use funding_domain::{
    AccountId, AchRelationshipId, AlpacaTransferId, AlpacaTransferStatus, Amount, BankLinkId,
    IdempotencyKey, TransferId,
};
use uuid::Uuid;

use super::db_time;
use crate::entity::{transfer, transfer_status_history};
use crate::error::corrupt;

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
        reconciled_at: None,
        reconcile_issue: None,
        risk_decision: transfer.risk.as_ref().map(RiskDecision::encode),
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
            provider_transfer_id: row.provider_transfer_id.map(AlpacaTransferId::from_uuid),
            submit_requested_at: row.submit_requested_at,
            risk: match row.risk_decision.as_deref() {
                Some(text) => Some(RiskDecision::decode(text).ok_or_else(|| bad("risk_decision"))?),
                None => None,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

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
            provider_transfer_id: Some(AlpacaTransferId::from_uuid(Uuid::new_v4())),
            submit_requested_at: Some(at),
            risk: Some(RiskDecision {
                verdict: "ACCEPT".into(),
                rule: "none".into(),
                reason: None,
                detail: "the bank has 5.00 available for 0.01".into(),
                figures: vec![("available".into(), "5.00".into())],
            }),
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
