//! Conversions between the core's records and the generated `funding.v1` messages. Nothing secret
//! crosses: the link's tokens are not part of [`BankLink`](funding_core::model::BankLink).

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
