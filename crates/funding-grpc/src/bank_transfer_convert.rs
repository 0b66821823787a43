//! Conversions between `funding.v1` bank-transfer messages and the core's bank transfers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use funding_client::v1;
use funding_core::model::BankTransfer;
use funding_domain::{
    AchClass, BankTransferDirection, BankTransferDraft, BankTransferType, BankTransferUserDraft,
    Network, OrUnknown, PlaidBankTransferStatus,
};

use crate::convert::timestamp;

/// The request's fields as the domain reads them. An enum left unspecified (or a number this
/// version does not know) is "not given", and the domain names the field.
pub(crate) fn draft(request: v1::CreateBankTransferRequest) -> BankTransferDraft {
    let transfer_type = match v1::BankTransferType::try_from(request.r#type) {
        Ok(v1::BankTransferType::Debit) => Some(BankTransferType::Debit),
        Ok(v1::BankTransferType::Credit) => Some(BankTransferType::Credit),
        _ => None,
    };
    let network = match v1::BankTransferNetwork::try_from(request.network) {
        Ok(v1::BankTransferNetwork::Ach) => Some(Network::Ach),
        Ok(v1::BankTransferNetwork::SameDayAch) => Some(Network::SameDayAch),
        Ok(v1::BankTransferNetwork::Wire) => Some(Network::Wire),
        _ => None,
    };
    let ach_class = match v1::AchClass::try_from(request.ach_class) {
        Ok(v1::AchClass::Ccd) => Some(AchClass::Ccd),
        Ok(v1::AchClass::Ppd) => Some(AchClass::Ppd),
        Ok(v1::AchClass::Tel) => Some(AchClass::Tel),
        Ok(v1::AchClass::Web) => Some(AchClass::Web),
        _ => None,
    };
    let user = request.user.unwrap_or_default();
    let given = |text: String| (!text.is_empty()).then_some(text);
    let mut metadata: Vec<(String, String)> = request.metadata.into_iter().collect();
    metadata.sort();
    BankTransferDraft {
        idempotency_key: request.idempotency_key,
        processor_token: request.processor_token,
        transfer_type: transfer_type.map_or_else(String::new, |kind| kind.as_str().to_owned()),
        network: network.map_or_else(String::new, |network| network.as_str().to_owned()),
        amount: request.amount,
        iso_currency_code: request.iso_currency_code,
        description: request.description,
        ach_class: ach_class.map(|class| class.as_str().to_owned()),
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
        PlaidBankTransferStatus::PendingReview => v1::BankTransferStatus::PendingReview,
        PlaidBankTransferStatus::Unknown(_) => v1::BankTransferStatus::Unspecified,
    }
}

/// A value Plaid reported, or UNSPECIFIED when it is one this service does not know.
fn known<T: Copy>(value: Option<&OrUnknown<T>>) -> Option<T> {
    value.and_then(OrUnknown::known).copied()
}

fn transfer_type(kind: Option<BankTransferType>) -> v1::BankTransferType {
    match kind {
        Some(BankTransferType::Debit) => v1::BankTransferType::Debit,
        Some(BankTransferType::Credit) => v1::BankTransferType::Credit,
        None => v1::BankTransferType::Unspecified,
    }
}

fn network(network: Option<Network>) -> v1::BankTransferNetwork {
    match network {
        Some(Network::Ach) => v1::BankTransferNetwork::Ach,
        Some(Network::SameDayAch) => v1::BankTransferNetwork::SameDayAch,
        Some(Network::Wire) => v1::BankTransferNetwork::Wire,
        None => v1::BankTransferNetwork::Unspecified,
    }
}

fn ach_class(class: Option<AchClass>) -> v1::AchClass {
    match class {
        Some(AchClass::Ccd) => v1::AchClass::Ccd,
        Some(AchClass::Ppd) => v1::AchClass::Ppd,
        Some(AchClass::Tel) => v1::AchClass::Tel,
        Some(AchClass::Web) => v1::AchClass::Web,
        None => v1::AchClass::Unspecified,
    }
}

pub(crate) fn direction(direction: Option<BankTransferDirection>) -> v1::BankTransferDirection {
    match direction {
        Some(BankTransferDirection::Outbound) => v1::BankTransferDirection::Outbound,
        Some(BankTransferDirection::Inbound) => v1::BankTransferDirection::Inbound,
        None => v1::BankTransferDirection::Unspecified,
    }
}

/// The direction filter of a list request: `Ok(None)` for any, `Err` for a number this version
/// does not know.
pub(crate) fn direction_filter(number: i32) -> Result<Option<BankTransferDirection>, ()> {
    match v1::BankTransferDirection::try_from(number) {
        Ok(v1::BankTransferDirection::Unspecified) => Ok(None),
        Ok(v1::BankTransferDirection::Outbound) => Ok(Some(BankTransferDirection::Outbound)),
        Ok(v1::BankTransferDirection::Inbound) => Ok(Some(BankTransferDirection::Inbound)),
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
        ach_class: ach_class(match plaid.and_then(|plaid| plaid.ach_class.as_ref()) {
            Some(reported) => reported.known().copied(),
            None => transfer.request.ach_class(),
        })
        .into(),
        account_id: plaid
            .map(|plaid| plaid.account_id.clone())
            .unwrap_or_default(),
        r#type: transfer_type(match plaid {
            Some(plaid) => known(Some(&plaid.transfer_type)),
            None => Some(transfer.request.transfer_type()),
        })
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
        network: network(match plaid {
            Some(plaid) => known(Some(&plaid.network)),
            None => Some(transfer.request.network()),
        })
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
        direction: direction(known(plaid.and_then(|plaid| plaid.direction.as_ref()))).into(),
        provider_bank_transfer_id: transfer
            .provider_id()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: transfer.status_reason.clone().unwrap_or_default(),
        failure_code: transfer.failure_code.clone().unwrap_or_default(),
        updated_at: Some(timestamp(transfer.updated_at)),
        waiting: None,
        risk: transfer.risk.as_ref().map(crate::convert::risk_decision),
    }
}
