//! One `data:` payload of `/v2/events/funding/status` (`StatusFundingEvent`) into the port's
//! [`FundingEvent`]. `event_id` must be a ULID (it is the stream's cursor); `status_from` is absent
//! on a first event (and `""` on older streams); `correspondent` and any new field are ignored.
//! Entity types and statuses the service does not know are kept as given.

use chrono::{DateTime, Utc};
use funding_core::ports::{FundingEntity, FundingEvent};
use funding_domain::{AccountId, AchRelationshipStatus, AlpacaTransferStatus};
use serde::Deserialize;
use uuid::Uuid;

use crate::wire::optional_text;

#[derive(Deserialize)]
struct StatusFundingEvent {
    event_id: String,
    at: DateTime<Utc>,
    account_id: AccountId,
    entity_type: String,
    entity_id: Uuid,
    #[serde(default, deserialize_with = "optional_text")]
    status_from: Option<String>,
    status_to: String,
    #[serde(default, deserialize_with = "optional_text")]
    reason: Option<String>,
}

/// Why a payload was not an event.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventError {
    #[error("not a StatusFundingEvent: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event_id is not a ULID")]
    EventId,
    #[error("status_to is empty")]
    StatusTo,
}

/// Reads one event.
pub(crate) fn parse_event(data: &str) -> Result<FundingEvent, EventError> {
    let wire: StatusFundingEvent = serde_json::from_str(data)?;
    if ulid::Ulid::from_string(&wire.event_id).is_err() {
        return Err(EventError::EventId);
    }
    if wire.status_to.is_empty() {
        return Err(EventError::StatusTo);
    }
    let entity = match wire.entity_type.as_str() {
        "BankRelationship" => FundingEntity::BankRelationship,
        "Transfer" => FundingEntity::Transfer,
        _ => FundingEntity::Other(wire.entity_type),
    };
    Ok(FundingEvent {
        event_id: wire.event_id,
        at: wire.at,
        account_id: wire.account_id,
        entity,
        entity_id: wire.entity_id,
        status_from: wire.status_from,
        status_to: wire.status_to,
        reason: wire.reason,
    })
}

/// Whether the domain knows `event.status_to` for its entity (other entities are not checked).
pub(crate) fn status_is_known(event: &FundingEvent) -> bool {
    match event.entity {
        FundingEntity::BankRelationship => !matches!(
            AchRelationshipStatus::from_provider(&event.status_to),
            AchRelationshipStatus::Unknown(_)
        ),
        FundingEntity::Transfer => !matches!(
            AlpacaTransferStatus::from_provider(&event.status_to),
            AlpacaTransferStatus::Unknown(_)
        ),
        FundingEntity::Other(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECTED: &str = r#"{"account_id":"8e00606a-c9ac-409a-ba45-f55e8f77984a","at":"2025-04-11T19:52:24.066998Z","correspondent":"LPCA","entity_id":"c4ed4206-697b-4859-ab71-b9de6649859d","entity_type":"BankRelationship","event_id":"01F7VQQ782DM57SJNWAYMD14J9","reason":"bank account owner name does not match brokerage account name","status_from":"QUEUED","status_to":"REJECTED"}"#;

    #[test]
    fn the_reference_example_is_read() {
        let event = parse_event(REJECTED).unwrap();
        assert_eq!(event.event_id, "01F7VQQ782DM57SJNWAYMD14J9");
        assert_eq!(event.entity, FundingEntity::BankRelationship);
        assert_eq!(
            event.account_id.to_string(),
            "8e00606a-c9ac-409a-ba45-f55e8f77984a"
        );
        assert_eq!(event.status_from.as_deref(), Some("QUEUED"));
        assert_eq!(event.status_to, "REJECTED");
        assert_eq!(
            event.reason.as_deref(),
            Some("bank account owner name does not match brokerage account name")
        );
        assert!(status_is_known(&event));
    }

    #[test]
    fn a_first_event_has_no_status_from_and_unknown_values_are_kept() {
        let data = r#"{"account_id":"8e00606a-c9ac-409a-ba45-f55e8f77984a","at":"2025-04-11T19:52:24Z","entity_id":"c4ed4206-697b-4859-ab71-b9de6649859d","entity_type":"FundingWallet","event_id":"01F7VQQ782DM57SJNWAYMD14JA","status_from":"","status_to":"active"}"#;
        let event = parse_event(data).unwrap();
        assert_eq!(event.status_from, None);
        assert_eq!(event.entity, FundingEntity::Other("FundingWallet".into()));
        let transfer = parse_event(
            &data
                .replace("FundingWallet", "Transfer")
                .replace("active", "SETTLED"),
        )
        .unwrap();
        assert_eq!(transfer.status_to, "SETTLED");
        assert!(!status_is_known(&transfer));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for data in [
            "",
            "{",
            "null",
            "[]",
            r#"{"event_id":"x"}"#,
            &REJECTED.replace("01F7VQQ782DM57SJNWAYMD14J9", "not-a-ulid"),
            &REJECTED.replace("\"REJECTED\"", "\"\""),
        ] {
            assert!(parse_event(data).is_err(), "{data}");
        }
    }
}
