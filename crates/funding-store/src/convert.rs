//! Conversions between the table rows and the domain's records. A row is parsed back through the
//! domain's constructors, so a value the domain would refuse comes out as `Corrupt`, never as a
//! record that lies. Timestamps are stored at microsecond precision (PostgreSQL's), so that what is
//! written is exactly what is read back on every backend.

use chrono::{DateTime, SubsecRound as _, Utc};
use funding_core::model::{BankLink, BankTransfer, Transfer};
use funding_core::ports::{
    BankTransferChange, BankTransferFailure, BankTransferHistoryEntry, PlaidBankTransfer,
    StatusChange, StoreError, TransferChange, TransferDirection,
};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, AchReturnCode, AlpacaTransferStatus,
    Amount, BankLinkId, BankTransferDraft, BankTransferRequest, BankTransferUserDraft,
    FundingBankTransferId, IdempotencyKey, Nickname, PlaidAccountId, PlaidBankTransferStatus,
    PlaidItemId, ProviderTransferId, TransferId,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::entity::{
    bank_link, bank_link_status_history, bank_transfer, bank_transfer_status_history, transfer,
    transfer_status_history,
};
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
            health: funding_domain::BankLinkHealth::parse(&row.health)
                .ok_or_else(|| bad("health"))?,
            health_reason: row.health_reason,
            replaces: row.replaces_bank_link_id.map(BankLinkId::from_uuid),
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
        reconciled_at: None,
        reconcile_issue: None,
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

const BANK_TRANSFERS: &str = "bank_transfers";

/// The request's fields as `bank_transfers.request` keeps them: every field of its draft but the
/// processor token, which is sealed into a column of its own.
pub(crate) fn request_json(request: &BankTransferRequest) -> String {
    let draft = request.to_draft();
    let metadata: Map<String, Value> = draft
        .metadata
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    json!({
        "idempotency_key": draft.idempotency_key,
        "transfer_type": draft.transfer_type,
        "network": draft.network,
        "amount": draft.amount,
        "iso_currency_code": draft.iso_currency_code,
        "description": draft.description,
        "ach_class": draft.ach_class,
        "user": {
            "legal_name": draft.user.legal_name,
            "email_address": draft.user.email_address,
        },
        "custom_tag": draft.custom_tag,
        "metadata": metadata,
        "origination_account_id": draft.origination_account_id,
    })
    .to_string()
}

/// The request [`request_json`] stored, with its processor token, read back and checked again by
/// [`BankTransferRequest::parse`]: a stored request the domain refuses is `Corrupt`.
pub(crate) fn request_from_json(
    id: Uuid,
    stored: &str,
    processor_token: &str,
) -> Result<BankTransferRequest, StoreError> {
    let bad = || {
        corrupt(
            BANK_TRANSFERS,
            id,
            "request is not a valid bank transfer request",
        )
    };
    let value: Value = serde_json::from_str(stored).map_err(|_| bad())?;
    let text = |object: &Value, key: &str| -> Result<String, StoreError> {
        object
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(bad)
    };
    let optional = |object: &Value, key: &str| -> Result<Option<String>, StoreError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(bad()),
        }
    };
    let user = value
        .get("user")
        .filter(|user| user.is_object())
        .ok_or_else(bad)?;
    let metadata = match value.get("metadata") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(pairs)) => pairs
            .iter()
            .map(|(key, value)| {
                value
                    .as_str()
                    .map(|value| (key.clone(), value.to_owned()))
                    .ok_or_else(bad)
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    let draft = BankTransferDraft {
        idempotency_key: text(&value, "idempotency_key")?,
        processor_token: processor_token.to_owned(),
        transfer_type: text(&value, "transfer_type")?,
        network: text(&value, "network")?,
        amount: text(&value, "amount")?,
        iso_currency_code: text(&value, "iso_currency_code")?,
        description: text(&value, "description")?,
        ach_class: optional(&value, "ach_class")?,
        user: BankTransferUserDraft {
            legal_name: text(user, "legal_name")?,
            email_address: optional(user, "email_address")?,
            routing_number: None,
        },
        custom_tag: optional(&value, "custom_tag")?,
        metadata,
        origination_account_id: optional(&value, "origination_account_id")?,
    };
    BankTransferRequest::parse(&draft).map_err(|_| bad())
}

/// A failure as the `ach_return_code` and `failure_description` columns keep it.
pub(crate) fn failure_columns(
    failure: Option<&BankTransferFailure>,
) -> (Option<String>, Option<String>) {
    match failure {
        Some(failure) => (
            failure
                .ach_return_code
                .as_ref()
                .map(|code| code.code().to_owned()),
            failure.description.clone(),
        ),
        None => (None, None),
    }
}

/// The failure the columns keep: none when neither column is set.
fn failure_from_columns(
    ach_return_code: Option<&str>,
    description: Option<&str>,
) -> Option<BankTransferFailure> {
    if ach_return_code.is_none() && description.is_none() {
        return None;
    }
    Some(BankTransferFailure {
        ach_return_code: ach_return_code.map(AchReturnCode::parse),
        description: description.map(str::to_owned),
    })
}

/// Plaid's object as `bank_transfers.plaid` keeps it.
pub(crate) fn plaid_json(plaid: &PlaidBankTransfer) -> Result<String, StoreError> {
    serde_json::to_string(plaid)
        .map_err(|error| StoreError::Other(format!("Plaid's bank transfer as JSON: {error}")))
}

/// A bank transfer status as stored; the CHECK constraint admits only known ones.
fn stored_bank_transfer_status(
    table: &str,
    id: Uuid,
    text: &str,
) -> Result<PlaidBankTransferStatus, StoreError> {
    match PlaidBankTransferStatus::from_stored(text) {
        PlaidBankTransferStatus::Unknown(_) => Err(corrupt(table, id, "unknown status")),
        status => Ok(status),
    }
}

/// The row that stores `transfer` as given, with its processor token as `sealed_token`.
pub(crate) fn bank_transfer_row(
    transfer: &BankTransfer,
    sealed_token: Vec<u8>,
) -> Result<bank_transfer::Model, StoreError> {
    let plaid = transfer.plaid.as_ref();
    let (ach_return_code, failure_description) =
        failure_columns(plaid.and_then(|plaid| plaid.failure_reason.as_ref()));
    Ok(bank_transfer::Model {
        id: transfer.id.as_uuid(),
        caller: transfer.caller.clone(),
        idempotency_key: transfer.request.idempotency_key().as_str().to_owned(),
        request: request_json(&transfer.request),
        processor_token: sealed_token,
        status: transfer.status.as_str().to_owned(),
        cancellable: plaid.is_some_and(|plaid| plaid.cancellable),
        ach_return_code,
        failure_description,
        status_reason: transfer.status_reason.clone(),
        failure_code: transfer.failure_code.clone(),
        plaid_bank_transfer_id: plaid.map(|plaid| plaid.id.as_str().to_owned()),
        plaid: plaid.map(plaid_json).transpose()?,
        origination_account_id: transfer
            .request
            .origination_account_id()
            .map(|id| id.as_str().to_owned())
            .or_else(|| plaid.and_then(|plaid| plaid.origination_account_id.clone())),
        direction: plaid.and_then(|plaid| plaid.direction.clone()),
        submit_requested_at: transfer.submit_requested_at.map(db_time),
        plaid_idempotency_key: transfer
            .plaid_idempotency_key
            .as_ref()
            .map(|key| key.as_str().to_owned()),
        created_at: db_time(transfer.created_at),
        updated_at: db_time(transfer.updated_at),
        reconciled_at: None,
        reconcile_issue: None,
    })
}

/// The bank transfer a row keeps, its processor token opened: the request is checked again by the
/// domain, and Plaid's object as saved gets its `status`, `cancellable` and `failure_reason` from
/// the columns (the truth after every move).
pub(crate) fn bank_transfer_from_row(
    row: bank_transfer::Model,
    processor_token: &str,
) -> Result<BankTransfer, StoreError> {
    let id = row.id;
    let request = request_from_json(id, &row.request, processor_token)?;
    if request.idempotency_key().as_str() != row.idempotency_key {
        return Err(corrupt(
            BANK_TRANSFERS,
            id,
            "the request's idempotency key is not the row's",
        ));
    }
    let status = stored_bank_transfer_status(BANK_TRANSFERS, id, &row.status)?;
    let plaid = match row.plaid.as_deref() {
        None => None,
        Some(json) => {
            let mut plaid: PlaidBankTransfer = serde_json::from_str(json)
                .map_err(|_| corrupt(BANK_TRANSFERS, id, "plaid is not Plaid's bank transfer"))?;
            if row.plaid_bank_transfer_id.as_deref() != Some(plaid.id.as_str()) {
                return Err(corrupt(
                    BANK_TRANSFERS,
                    id,
                    "plaid is not the bank transfer of plaid_bank_transfer_id",
                ));
            }
            plaid.status = status.clone();
            plaid.cancellable = row.cancellable;
            plaid.failure_reason = failure_from_columns(
                row.ach_return_code.as_deref(),
                row.failure_description.as_deref(),
            );
            Some(plaid)
        }
    };
    Ok(BankTransfer {
        id: FundingBankTransferId::from_uuid(id),
        caller: row.caller,
        request,
        status,
        plaid,
        status_reason: row.status_reason,
        failure_code: row.failure_code,
        submit_requested_at: row.submit_requested_at,
        plaid_idempotency_key: row
            .plaid_idempotency_key
            .as_deref()
            .map(|key| {
                funding_domain::IdempotencyKey::parse(key)
                    .map_err(|_| corrupt(BANK_TRANSFERS, id, "plaid_idempotency_key"))
            })
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The history row recording that `transfer_id` took `change.to`: the failure's return code, and
/// in words the failure's description or else the change's reason.
pub(crate) fn bank_transfer_history_row(
    transfer_id: FundingBankTransferId,
    change: &BankTransferChange,
) -> bank_transfer_status_history::Model {
    let (ach_return_code, description) = failure_columns(change.failure.as_ref());
    bank_transfer_status_history::Model {
        id: Uuid::now_v7(),
        bank_transfer_id: transfer_id.as_uuid(),
        status: change.to.as_str().to_owned(),
        source: change.source.clone(),
        event_id: change.event_id.clone(),
        ach_return_code,
        description: description.or_else(|| change.reason.clone()),
        at: db_time(change.at),
    }
}

impl TryFrom<bank_transfer_status_history::Model> for BankTransferHistoryEntry {
    type Error = StoreError;

    fn try_from(row: bank_transfer_status_history::Model) -> Result<Self, Self::Error> {
        Ok(BankTransferHistoryEntry {
            status: stored_bank_transfer_status(
                "bank_transfer_status_history",
                row.id,
                &row.status,
            )?,
            source: row.source,
            event_id: row.event_id,
            ach_return_code: row.ach_return_code,
            description: row.description,
            at: row.at,
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
