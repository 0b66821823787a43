//! Conversions between the core's records and the generated `funding.v1` messages. Nothing secret
//! crosses: the link's tokens are not part of `funding_core::model::BankLink`.

use chrono::{DateTime, Utc};
use funding_client::v1;
use funding_core::model::BankLink;
use funding_core::ports::PlaidAccount;
use funding_domain::AchRelationshipStatus;

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn bank_link_status(status: &AchRelationshipStatus) -> v1::BankLinkStatus {
    use v1::BankLinkStatus as P;
    match status {
        AchRelationshipStatus::Creating => P::Creating,
        AchRelationshipStatus::Queued => P::Queued,
        AchRelationshipStatus::Pending => P::Pending,
        AchRelationshipStatus::SentToClearing => P::SentToClearing,
        AchRelationshipStatus::Approved => P::Approved,
        AchRelationshipStatus::Rejected => P::Rejected,
        AchRelationshipStatus::CancelRequested => P::CancelRequested,
        AchRelationshipStatus::CancelSent => P::CancelSent,
        AchRelationshipStatus::CancelFailed => P::CancelFailed,
        AchRelationshipStatus::Canceled => P::Canceled,
        AchRelationshipStatus::Failed => P::Failed,
        AchRelationshipStatus::Unknown(_) => P::Unspecified,
    }
}

pub fn bank_link(link: &BankLink) -> v1::BankLink {
    v1::BankLink {
        id: link.id.to_string(),
        account_id: link.account_id.to_string(),
        status: bank_link_status(&link.status).into(),
        ach_relationship_id: link
            .ach_relationship_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        account_owner_name: link.account_owner_name.clone().unwrap_or_default(),
        nickname: link
            .nickname
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: link.status_reason.clone().unwrap_or_default(),
        created_at: Some(timestamp(link.created_at)),
        updated_at: Some(timestamp(link.updated_at)),
        plaid_account_id: link.plaid_account_id.as_str().to_owned(),
        bank_account_type: link.bank_account_type.clone().unwrap_or_default(),
        bank_account_mask: link.bank_account_mask.clone().unwrap_or_default(),
        waiting: None,
        health: match link.health {
            funding_domain::BankLinkHealth::Healthy => v1::BankLinkHealth::Healthy,
            funding_domain::BankLinkHealth::NeedsReauth => v1::BankLinkHealth::NeedsReauth,
            funding_domain::BankLinkHealth::Revoked => v1::BankLinkHealth::Revoked,
            funding_domain::BankLinkHealth::Unusable => v1::BankLinkHealth::Unusable,
        }
        .into(),
        health_reason: link.health_reason.clone().unwrap_or_default(),
        replaces_bank_link_id: link.replaces.map(|id| id.to_string()).unwrap_or_default(),
    }
}

pub fn plaid_account(account: &PlaidAccount) -> v1::PlaidAccount {
    v1::PlaidAccount {
        account_id: account.account_id.as_str().to_owned(),
        name: account.name.clone(),
        mask: account.mask.clone().unwrap_or_default(),
        r#type: account.account_type.clone(),
        subtype: account.subtype.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_has_its_own_proto_value() {
        let mut seen = std::collections::HashSet::new();
        for status in AchRelationshipStatus::ALL {
            let value = bank_link_status(status);
            assert_ne!(value, v1::BankLinkStatus::Unspecified, "{status}");
            assert!(seen.insert(value), "{status} shares a proto value");
            assert!(
                value.as_str_name().ends_with(status.as_str()),
                "{status} -> {}",
                value.as_str_name()
            );
        }
    }
}

pub fn transfer_status(status: &funding_domain::AlpacaTransferStatus) -> v1::TransferStatus {
    use funding_domain::AlpacaTransferStatus as S;
    use v1::TransferStatus as P;
    match status {
        S::Submitting => P::Submitting,
        S::Queued => P::Queued,
        S::ApprovalPending => P::ApprovalPending,
        S::Pending => P::Pending,
        S::SentToClearing => P::SentToClearing,
        S::Approved => P::Approved,
        S::Complete => P::Complete,
        S::Returned => P::Returned,
        S::Rejected => P::Rejected,
        S::Canceled => P::Canceled,
        S::Expired => P::Expired,
        S::Failed => P::Failed,
        S::PendingReview => P::PendingReview,
        S::Unknown(_) => P::Unspecified,
    }
}

/// An enum number this version of the API does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEnumValue(pub i32);

/// The domain's status for a filter; `None` for UNSPECIFIED (no filter).
pub fn transfer_status_filter(
    value: i32,
) -> Result<Option<funding_domain::AlpacaTransferStatus>, UnknownEnumValue> {
    use funding_domain::AlpacaTransferStatus as S;
    use v1::TransferStatus as P;
    let status = P::try_from(value).map_err(|_| UnknownEnumValue(value))?;
    Ok(match status {
        P::Unspecified => None,
        P::Submitting => Some(S::Submitting),
        P::Queued => Some(S::Queued),
        P::ApprovalPending => Some(S::ApprovalPending),
        P::Pending => Some(S::Pending),
        P::SentToClearing => Some(S::SentToClearing),
        P::Approved => Some(S::Approved),
        P::Complete => Some(S::Complete),
        P::Returned => Some(S::Returned),
        P::Rejected => Some(S::Rejected),
        P::Canceled => Some(S::Canceled),
        P::Expired => Some(S::Expired),
        P::Failed => Some(S::Failed),
        P::PendingReview => Some(S::PendingReview),
    })
}

pub fn transfer_direction(
    direction: funding_core::ports::TransferDirection,
) -> v1::TransferDirection {
    match direction {
        funding_core::ports::TransferDirection::Deposit => v1::TransferDirection::Deposit,
        funding_core::ports::TransferDirection::Withdrawal => v1::TransferDirection::Withdrawal,
    }
}

/// The core's direction; `Ok(None)` for UNSPECIFIED.
pub fn transfer_direction_of(
    value: i32,
) -> Result<Option<funding_core::ports::TransferDirection>, UnknownEnumValue> {
    match v1::TransferDirection::try_from(value).map_err(|_| UnknownEnumValue(value))? {
        v1::TransferDirection::Unspecified => Ok(None),
        v1::TransferDirection::Deposit => Ok(Some(funding_core::ports::TransferDirection::Deposit)),
        v1::TransferDirection::Withdrawal => {
            Ok(Some(funding_core::ports::TransferDirection::Withdrawal))
        }
    }
}

pub fn waiting(waiting: &funding_core::Waiting) -> v1::Waiting {
    use funding_core::WaitingReason;
    v1::Waiting {
        reason: match waiting.reason {
            WaitingReason::QueuedBehind => v1::WaitingReason::QueuedBehind,
            WaitingReason::Retrying => v1::WaitingReason::Retrying,
            WaitingReason::Settling => v1::WaitingReason::Settling,
            WaitingReason::InProgress => v1::WaitingReason::InProgress,
            WaitingReason::Provider => v1::WaitingReason::Provider,
        }
        .into(),
        detail: waiting.detail.clone(),
        behind: waiting.behind.clone().unwrap_or_default(),
        provider_code: waiting.provider_code.clone().unwrap_or_default(),
        attempt: i32::try_from(waiting.attempt).unwrap_or(i32::MAX),
        max_attempts: i32::try_from(waiting.max_attempts).unwrap_or(i32::MAX),
        next_attempt_at: waiting.next_attempt_at.map(timestamp),
    }
}

pub fn provider_orphan(orphan: &funding_core::ports::ProviderOrphan) -> v1::ProviderOrphan {
    use funding_core::ports::OrphanKind;
    v1::ProviderOrphan {
        kind: match orphan.kind {
            OrphanKind::Transfer => v1::ProviderOrphanKind::Transfer,
            OrphanKind::Relationship => v1::ProviderOrphanKind::Relationship,
        }
        .into(),
        provider_id: orphan.provider_id.to_string(),
        account_id: orphan.account_id.to_string(),
        relationship_id: orphan
            .relationship_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        amount: orphan
            .amount
            .map(|amount| format!("{amount:.2}"))
            .unwrap_or_default(),
        direction: orphan
            .direction
            .map(|direction| transfer_direction(direction).into())
            .unwrap_or_default(),
        provider_status: orphan.status.clone(),
        provider_created_at: Some(timestamp(orphan.provider_created_at)),
        first_seen_at: Some(timestamp(orphan.first_seen_at)),
        last_seen_at: Some(timestamp(orphan.last_seen_at)),
    }
}

pub fn transfer(transfer: &funding_core::model::Transfer) -> v1::Transfer {
    let description = transfer
        .ach_return_code
        .as_deref()
        .and_then(|code| funding_domain::AchReturnCode::parse(code).description())
        .unwrap_or_default();
    v1::Transfer {
        id: transfer.id.to_string(),
        account_id: transfer.account_id.to_string(),
        bank_link_id: transfer.bank_link_id.to_string(),
        amount: transfer.amount.to_string(),
        direction: transfer_direction(transfer.direction).into(),
        status: transfer_status(&transfer.status).into(),
        status_reason: transfer.status_reason.clone().unwrap_or_default(),
        ach_return_code: transfer.ach_return_code.clone().unwrap_or_default(),
        ach_return_description: description.to_owned(),
        provider_transfer_id: transfer
            .provider_transfer_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        created_at: Some(timestamp(transfer.created_at)),
        updated_at: Some(timestamp(transfer.updated_at)),
        waiting: None,
        risk: transfer.risk.as_ref().map(risk_decision),
    }
}

/// A stored risk decision as the API shows it.
pub fn risk_decision(decision: &funding_core::model::RiskDecision) -> v1::RiskDecision {
    let verdict = match decision.verdict.as_str() {
        "ACCEPT" => v1::RiskVerdict::Accept,
        "REVIEW" => v1::RiskVerdict::Review,
        "REFUSE" => v1::RiskVerdict::Refuse,
        _ => v1::RiskVerdict::Unspecified,
    };
    v1::RiskDecision {
        verdict: verdict.into(),
        rule: decision.rule.clone(),
        reason: decision.reason.clone().unwrap_or_default(),
        detail: decision.detail.clone(),
        figures: decision
            .figures
            .iter()
            .map(|(name, value)| v1::RiskFigure {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}
