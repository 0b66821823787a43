//! Conversions between `funding.v1` bank-transfer messages and the core's bank transfers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use funding_client::v1;
use funding_core::model::BankTransfer;
use funding_domain::{BankTransferDraft, BankTransferUserDraft, PlaidBankTransferStatus};

use crate::convert::timestamp;

/// The request's fields as the domain reads them. An enum left unspecified (or a number this
/// version does not know) is "not given", and the domain names the field.
pub(crate) fn draft(request: v1::CreateBankTransferRequest) -> BankTransferDraft {
    let transfer_type = match v1::BankTransferType::try_from(request.r#type) {
        Ok(v1::BankTransferType::Debit) => "debit",
        Ok(v1::BankTransferType::Credit) => "credit",
        _ => "",
    };
    let network = match v1::BankTransferNetwork::try_from(request.network) {
        Ok(v1::BankTransferNetwork::Ach) => "ach",
        Ok(v1::BankTransferNetwork::SameDayAch) => "same-day-ach",
        Ok(v1::BankTransferNetwork::Wire) => "wire",
        _ => "",
    };
    let ach_class = match v1::AchClass::try_from(request.ach_class) {
        Ok(v1::AchClass::Ccd) => Some("ccd"),
        Ok(v1::AchClass::Ppd) => Some("ppd"),
        Ok(v1::AchClass::Tel) => Some("tel"),
        Ok(v1::AchClass::Web) => Some("web"),
        _ => None,
    };
    let user = request.user.unwrap_or_default();
    let given = |text: String| (!text.is_empty()).then_some(text);
    let mut metadata: Vec<(String, String)> = request.metadata.into_iter().collect();
    metadata.sort();
    BankTransferDraft {
        idempotency_key: request.idempotency_key,
        processor_token: request.processor_token,
        transfer_type: transfer_type.to_owned(),
        network: network.to_owned(),
        amount: request.amount,
        iso_currency_code: request.iso_currency_code,
        description: request.description,
        ach_class: ach_class.map(str::to_owned),
        user: BankTransferUserDraft {
            legal_name: user.legal_name,
            email_address: given(user.email_address),
            routing_number: given(user.routing_number),
        },
        custom_tag: given(request.custom_tag),
        metadata,
        origination_account_id: given(request.origination_account_id),
    }
}

pub(crate) fn status(status: &PlaidBankTransferStatus) -> v1::BankTransferStatus {
    match status {
        PlaidBankTransferStatus::Pending => v1::BankTransferStatus::Pending,
        PlaidBankTransferStatus::Posted => v1::BankTransferStatus::Posted,
        PlaidBankTransferStatus::Cancelled => v1::BankTransferStatus::Cancelled,
        PlaidBankTransferStatus::Failed => v1::BankTransferStatus::Failed,
        PlaidBankTransferStatus::Reversed => v1::BankTransferStatus::Reversed,
        PlaidBankTransferStatus::Submitting => v1::BankTransferStatus::Submitting,
        PlaidBankTransferStatus::Refused => v1::BankTransferStatus::Refused,
        PlaidBankTransferStatus::Unknown(_) => v1::BankTransferStatus::Unspecified,
    }
}

fn transfer_type(text: &str) -> v1::BankTransferType {
    match text {
        "debit" => v1::BankTransferType::Debit,
        "credit" => v1::BankTransferType::Credit,
        _ => v1::BankTransferType::Unspecified,
    }
}

fn network(text: &str) -> v1::BankTransferNetwork {
    match text {
        "ach" => v1::BankTransferNetwork::Ach,
        "same-day-ach" => v1::BankTransferNetwork::SameDayAch,
        "wire" => v1::BankTransferNetwork::Wire,
        _ => v1::BankTransferNetwork::Unspecified,
    }
}

fn ach_class(text: &str) -> v1::AchClass {
    match text {
        "ccd" => v1::AchClass::Ccd,
        "ppd" => v1::AchClass::Ppd,
        "tel" => v1::AchClass::Tel,
        "web" => v1::AchClass::Web,
        _ => v1::AchClass::Unspecified,
    }
}

pub(crate) fn direction(text: &str) -> v1::BankTransferDirection {
    match text {
        "outbound" => v1::BankTransferDirection::Outbound,
        "inbound" => v1::BankTransferDirection::Inbound,
        _ => v1::BankTransferDirection::Unspecified,
    }
}

/// The direction filter of a list request: `Ok(None)` for any, `Err` for a number this version
/// does not know.
pub(crate) fn direction_filter(number: i32) -> Result<Option<String>, ()> {
    match v1::BankTransferDirection::try_from(number) {
        Ok(v1::BankTransferDirection::Unspecified) => Ok(None),
        Ok(v1::BankTransferDirection::Outbound) => Ok(Some("outbound".to_owned())),
        Ok(v1::BankTransferDirection::Inbound) => Ok(Some("inbound".to_owned())),
        Err(_) => Err(()),
    }
}

/// A protobuf timestamp as a time, `Err` when it is out of range.
pub(crate) fn time(at: Option<prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>, ()> {
    match at {
        None => Ok(None),
        Some(at) => {
            let nanos = u32::try_from(at.nanos).map_err(|_| ())?;
            DateTime::from_timestamp(at.seconds, nanos)
                .map(Some)
                .ok_or(())
        }
    }
}

/// The bank transfer as the API shows it: our id, the request's fields until Plaid answered, then
/// Plaid's object with our status. Never the processor token.
pub fn bank_transfer(transfer: &BankTransfer) -> v1::BankTransfer {
    let draft = transfer.request.to_draft();
    let plaid = transfer.plaid.as_ref();
    let failure = plaid.and_then(|plaid| plaid.failure_reason.as_ref());
    let metadata: HashMap<String, String> = match plaid {
        Some(plaid) => plaid.metadata.clone().into_iter().collect(),
        None => draft.metadata.into_iter().collect(),
    };
    v1::BankTransfer {
        id: transfer.id.to_string(),
        ach_class: ach_class(
            plaid
                .and_then(|plaid| plaid.ach_class.as_deref())
                .or(draft.ach_class.as_deref())
                .unwrap_or_default(),
        )
        .into(),
        account_id: plaid
            .map(|plaid| plaid.account_id.clone())
            .unwrap_or_default(),
        r#type: transfer_type(
            plaid
                .map(|plaid| plaid.transfer_type.as_str())
                .unwrap_or(&draft.transfer_type),
        )
        .into(),
        user: Some(v1::BankTransferUser {
            legal_name: plaid
                .map(|plaid| plaid.user_legal_name.clone())
                .unwrap_or(draft.user.legal_name),
            email_address: plaid
                .and_then(|plaid| plaid.user_email_address.clone())
                .or(draft.user.email_address)
                .unwrap_or_default(),
            routing_number: plaid
                .and_then(|plaid| plaid.user_routing_number.clone())
                .unwrap_or_default(),
        }),
        amount: plaid
            .map(|plaid| format!("{:.2}", plaid.amount))
            .unwrap_or(draft.amount),
        iso_currency_code: plaid
            .map(|plaid| plaid.iso_currency_code.clone())
            .unwrap_or(draft.iso_currency_code),
        description: plaid
            .map(|plaid| plaid.description.clone())
            .unwrap_or(draft.description),
        created: Some(timestamp(
            plaid.map_or(transfer.created_at, |plaid| plaid.created),
        )),
        status: status(&transfer.status).into(),
        network: network(
            plaid
                .map(|plaid| plaid.network.as_str())
                .unwrap_or(&draft.network),
        )
        .into(),
        cancellable: transfer.cancellable(),
        failure_reason: failure.map(|failure| v1::BankTransferFailure {
            ach_return_code: failure
                .ach_return_code
                .as_ref()
                .map(|code| code.code().to_owned())
                .unwrap_or_default(),
            description: failure
                .description
                .clone()
                .or_else(|| {
                    failure
                        .ach_return_code
                        .as_ref()
                        .and_then(funding_domain::AchReturnCode::description)
                        .map(str::to_owned)
                })
                .unwrap_or_default(),
        }),
        custom_tag: plaid
            .and_then(|plaid| plaid.custom_tag.clone())
            .or(draft.custom_tag)
            .unwrap_or_default(),
        metadata,
        origination_account_id: plaid
            .and_then(|plaid| plaid.origination_account_id.clone())
            .or(draft.origination_account_id)
            .unwrap_or_default(),
        direction: direction(
            plaid
                .and_then(|plaid| plaid.direction.as_deref())
                .unwrap_or_default(),
        )
        .into(),
        provider_bank_transfer_id: transfer
            .provider_id()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: transfer.status_reason.clone().unwrap_or_default(),
        failure_code: transfer.failure_code.clone().unwrap_or_default(),
        updated_at: Some(timestamp(transfer.updated_at)),
        waiting: None,
    }
}
