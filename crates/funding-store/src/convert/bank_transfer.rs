//! Conversions of a Plaid bank transfer: the request kept as JSON (its processor token sealed
//! apart), the failure columns, Plaid's object as saved, the row and its status history rows, and
//! the row read back into a [`BankTransfer`] (a value the domain would refuse is `Corrupt`).

use funding_core::model::{BankTransfer, RiskDecision};
use funding_core::ports::{
    BankTransferChange, BankTransferFailure, BankTransferHistoryEntry, PlaidBankTransfer,
    StoreError,
};
use funding_domain::{
    AchReturnCode, BankTransferDraft, BankTransferId, BankTransferRequest, BankTransferUserDraft,
    PlaidBankTransferStatus,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::db_time;
use crate::entity::{bank_transfer, bank_transfer_status_history};
use crate::error::corrupt;

const BANK_TRANSFERS: &str = "bank_transfers";

/// The request's fields as `bank_transfers.request` keeps them: every field of its draft but the
/// processor token, which is sealed into a column of its own.
fn request_json(request: &BankTransferRequest) -> String {
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
fn request_from_json(
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

/// Plaid's `direction` as the `direction` column keeps it: Plaid's string, an unknown one as sent.
pub(crate) fn stored_direction(plaid: &PlaidBankTransfer) -> Option<String> {
    plaid.direction.as_ref().map(ToString::to_string)
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
        direction: plaid.and_then(stored_direction),
        submit_requested_at: transfer.submit_requested_at.map(db_time),
        plaid_idempotency_key: transfer
            .plaid_idempotency_key
            .as_ref()
            .map(|key| key.as_str().to_owned()),
        created_at: db_time(transfer.created_at),
        updated_at: db_time(transfer.updated_at),
        reconciled_at: None,
        reconcile_issue: None,
        risk_decision: transfer.risk.as_ref().map(RiskDecision::encode),
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
        id: BankTransferId::from_uuid(id),
        caller: row.caller,
        request,
        status,
        plaid,
        status_reason: row.status_reason,
        failure_code: row.failure_code,
        submit_requested_at: row.submit_requested_at,
        risk: row
            .risk_decision
            .as_deref()
            .map(|text| {
                RiskDecision::decode(text)
                    .ok_or_else(|| corrupt(BANK_TRANSFERS, id, "risk_decision is not a decision"))
            })
            .transpose()?,
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
    transfer_id: BankTransferId,
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
