//! ACH relationships: `POST`, `GET` and `DELETE /v1/accounts/{account_id}/ach_relationships`. The
//! create sends the token-only variant, `{"processor_token": …, "nickname"?: …}`, never the manual
//! bank fields. The response `ACHRelationship` is read tolerantly into the port's
//! [`AchRelationship`]; of the bank account number it carries only the last four digits are kept
//! (as `bank_account_mask`), read straight out of the body: the full number is never stored,
//! logged or put in an error.

use chrono::{DateTime, Utc};
use funding_core::ports::{AchRelationship, ProviderError};
use funding_domain::{
    AccountId, AchRelationshipId, AchRelationshipStatus, Nickname, ProcessorToken,
};
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};

use crate::client::AlpacaClient;
use crate::http::{Call, Idempotency, encode_body};
use crate::items::decode_each;
use crate::wire::{optional_parsed, optional_text};

/// The token-only `CreateACHRelationshipRequest`. No `Debug`: it holds the processor token.
#[derive(Serialize)]
struct CreateRelationshipBody<'a> {
    processor_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<&'a str>,
}

/// Alpaca's `ACHRelationship`, as much of it as the service uses.
#[derive(Deserialize)]
pub(crate) struct RelationshipWire {
    id: AchRelationshipId,
    account_id: AccountId,
    created_at: DateTime<Utc>,
    /// Required by the spec; a missing one falls back to `created_at`.
    #[serde(default, deserialize_with = "optional_parsed")]
    updated_at: Option<DateTime<Utc>>,
    status: String,
    #[serde(default, deserialize_with = "optional_text")]
    account_owner_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    nickname: Option<String>,
    /// `CHECKING`, `SAVINGS`; `""` (Plaid-created relationships) is `None`.
    #[serde(default, deserialize_with = "optional_text")]
    bank_account_type: Option<String>,
    /// Only the last four digits of `bank_account_number`.
    #[serde(
        default,
        rename = "bank_account_number",
        deserialize_with = "account_number_mask"
    )]
    bank_account_mask: Option<String>,
}

/// Reads `bank_account_number` and keeps only its last four digits. Any JSON value is accepted
/// (a number too), so that no decode error can ever quote the number; anything else than a
/// string or number, or a number not ending in four digits (an already masked `XXXX1abc`), is
/// `None`.
fn account_number_mask<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let number = match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => text,
        Some(serde_json::Value::Number(number)) => number.to_string(),
        _ => return Ok(None),
    };
    Ok(last_four_digits(&number))
}

/// The last four characters of `number` when they are all ASCII digits.
fn last_four_digits(number: &str) -> Option<String> {
    let number = number.trim();
    let tail: Vec<char> = number.chars().rev().take(4).collect();
    (tail.len() == 4 && tail.iter().all(char::is_ascii_digit))
        .then(|| tail.into_iter().rev().collect())
}

impl RelationshipWire {
    pub(crate) fn into_port(self) -> AchRelationship {
        let status = AchRelationshipStatus::from_provider(&self.status);
        if let AchRelationshipStatus::Unknown(text) = &status {
            tracing::warn!(
                relationship_id = %self.id,
                account_id = %self.account_id,
                status = %text,
                "Alpaca reported an ACH relationship status this service does not know; kept as given"
            );
        }
        AchRelationship {
            id: self.id,
            account_id: self.account_id,
            status,
            account_owner_name: self.account_owner_name.unwrap_or_default(),
            nickname: self.nickname,
            bank_account_type: self.bank_account_type,
            bank_account_mask: self.bank_account_mask,
            created_at: self.created_at,
            updated_at: self.updated_at.unwrap_or(self.created_at),
        }
    }
}

impl AlpacaClient {
    fn relationships_url(&self, account_id: AccountId) -> reqwest::Url {
        self.endpoint(&[
            "v1",
            "accounts",
            &account_id.to_string(),
            "ach_relationships",
        ])
    }

    /// `POST /v1/accounts/{account_id}/ach_relationships` with a processor token. See
    /// [`Broker::create_ach_relationship`](funding_core::ports::Broker::create_ach_relationship).
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub(crate) async fn create_relationship(
        &self,
        account_id: AccountId,
        processor_token: &ProcessorToken,
        nickname: Option<&Nickname>,
    ) -> Result<AchRelationship, ProviderError> {
        let body = CreateRelationshipBody {
            processor_token: processor_token.expose_secret(),
            nickname: nickname.map(Nickname::as_str),
        };
        let body = encode_body(&body)?;
        let answer = self
            .send(Call {
                method: Method::POST,
                url: self.relationships_url(account_id),
                body: Some(body),
                idempotency: Idempotency::CreatesOnce,
                operation: "create ACH relationship",
            })
            .await?;
        let relationship = answer
            .json::<RelationshipWire>("ACHRelationship")?
            .into_port();
        tracing::info!(relationship_id = %relationship.id, status = %relationship.status, "ACH relationship created at Alpaca");
        Ok(relationship)
    }

    /// `GET /v1/accounts/{account_id}/ach_relationships`, optionally only those in `statuses`
    /// (sent comma-separated; an empty slice asks for all). Not paged (the spec has no `limit` or
    /// `offset` here). A relationship that cannot be read is logged, counted and left out; it never
    /// fails the list.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn list_ach_relationships_with_statuses(
        &self,
        account_id: AccountId,
        statuses: &[AchRelationshipStatus],
    ) -> Result<Vec<AchRelationship>, ProviderError> {
        let mut url = self.relationships_url(account_id);
        if !statuses.is_empty() {
            let joined = statuses
                .iter()
                .map(AchRelationshipStatus::as_str)
                .collect::<Vec<_>>()
                .join(",");
            url.query_pairs_mut().append_pair("statuses", &joined);
        }
        let answer = self
            .send(Call {
                method: Method::GET,
                url,
                body: None,
                idempotency: Idempotency::Idempotent,
                operation: "list ACH relationships",
            })
            .await?;
        let page = answer.json::<Vec<serde_json::Value>>("ACHRelationship list")?;
        let (relationships, _) = decode_each::<RelationshipWire>(page, "ach_relationship");
        Ok(relationships
            .into_iter()
            .map(RelationshipWire::into_port)
            .collect())
    }

    /// `DELETE /v1/accounts/{account_id}/ach_relationships/{id}` (204): asks Alpaca to cancel it.
    #[tracing::instrument(skip_all, fields(account_id = %account_id, relationship_id = %relationship_id))]
    pub(crate) async fn delete_relationship(
        &self,
        account_id: AccountId,
        relationship_id: AchRelationshipId,
    ) -> Result<(), ProviderError> {
        let url = self.endpoint(&[
            "v1",
            "accounts",
            &account_id.to_string(),
            "ach_relationships",
            &relationship_id.to_string(),
        ]);
        self.send(Call {
            method: Method::DELETE,
            url,
            body: None,
            idempotency: Idempotency::Idempotent,
            operation: "delete ACH relationship",
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_body_carries_the_token_and_only_a_given_nickname() {
        let body = CreateRelationshipBody {
            processor_token: "processor-sandbox-abc",
            nickname: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"processor_token": "processor-sandbox-abc"})
        );
        let body = CreateRelationshipBody {
            processor_token: "processor-sandbox-abc",
            nickname: Some("Checking"),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"processor_token": "processor-sandbox-abc", "nickname": "Checking"})
        );
    }

    #[test]
    fn a_plaid_relationship_with_empty_and_missing_fields_is_read() {
        let json = r#"{
            "id": "794c3c51-71a8-4186-b5d0-247b6fb4045e",
            "account_id": "9d587d7a-7b2c-494f-8ad8-5796bfca0866",
            "created_at": "2021-04-08T23:01:53.35743328Z",
            "status": "SENT_TO_CLEARING",
            "account_owner_name": "John Doe",
            "bank_account_type": "",
            "bank_account_number": "",
            "processor_token": "processor-sandbox-161c86dd",
            "approval_method": "PLAID",
            "nickname": ""
        }"#;
        let relationship = serde_json::from_str::<RelationshipWire>(json)
            .unwrap()
            .into_port();
        assert_eq!(relationship.status, AchRelationshipStatus::SentToClearing);
        assert_eq!(relationship.updated_at, relationship.created_at);
        assert_eq!(relationship.nickname, None);
        assert_eq!(relationship.bank_account_type, None);
        assert_eq!(relationship.bank_account_mask, None);
        assert_eq!(
            relationship.created_at.timestamp_subsec_nanos(),
            357_433_280
        );
    }

    #[test]
    fn only_the_last_four_digits_of_the_account_number_are_kept() {
        let read = |number: serde_json::Value| {
            let json = serde_json::json!({
                "id": "794c3c51-71a8-4186-b5d0-247b6fb4045e",
                "account_id": "9d587d7a-7b2c-494f-8ad8-5796bfca0866",
                "created_at": "2021-04-08T23:01:53Z",
                "status": "APPROVED",
                "bank_account_type": "CHECKING",
                "bank_account_number": number,
            });
            serde_json::from_value::<RelationshipWire>(json)
                .unwrap()
                .into_port()
        };
        let relationship = read(serde_json::json!("1111222233330000"));
        assert_eq!(relationship.bank_account_mask.as_deref(), Some("0000"));
        assert_eq!(relationship.bank_account_type.as_deref(), Some("CHECKING"));
        assert_eq!(
            read(serde_json::json!("XXXXXXXXXXXX1111"))
                .bank_account_mask
                .as_deref(),
            Some("1111")
        );
        assert_eq!(
            read(serde_json::json!(123_456_789_012_u64))
                .bank_account_mask
                .as_deref(),
            Some("9012")
        );
        for unreadable in [
            serde_json::json!("XXXXXXX1abc"),
            serde_json::json!("123"),
            serde_json::json!(""),
            serde_json::json!(null),
            serde_json::json!({"n": "1234"}),
        ] {
            assert_eq!(read(unreadable).bank_account_mask, None);
        }
    }

    #[test]
    fn an_unknown_status_is_kept_as_given() {
        let json = r#"{"id":"794c3c51-71a8-4186-b5d0-247b6fb4045e","account_id":"9d587d7a-7b2c-494f-8ad8-5796bfca0866",
            "created_at":"2021-04-08T23:01:53Z","updated_at":"2021-04-09T23:01:53.123456789Z","status":"ON_HOLD","account_owner_name":"J"}"#;
        let relationship = serde_json::from_str::<RelationshipWire>(json)
            .unwrap()
            .into_port();
        assert_eq!(
            relationship.status,
            AchRelationshipStatus::Unknown("ON_HOLD".into())
        );
        assert_eq!(
            relationship.updated_at.timestamp_subsec_nanos(),
            123_456_789
        );
    }
}
