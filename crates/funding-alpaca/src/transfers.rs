//! ACH transfers: `POST`, `GET` and `DELETE /v1/accounts/{account_id}/transfers`. The create sends
//! `{transfer_type: "ach", relationship_id, amount, direction}` and never `timing` (deprecated by
//! Alpaca although the 2022 spec requires it). The response [`Transfer`] keeps every field of
//! Alpaca's object, with `Option` wherever Alpaca has been seen to leave one out.
//! The lists are in `transfer_list.rs`.

use std::fmt;

use chrono::{DateTime, Utc};
use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use funding_domain::{
    AccountId, AchRelationshipId, AlpacaTransferId, AlpacaTransferStatus, Amount,
};
use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::client::AlpacaClient;
use crate::http::{Call, Idempotency, encode_body};
use crate::wire::{decimal, optional_decimal, optional_parsed, optional_text};

/// Which way the money moves. Strings Alpaca may add later are kept in `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferDirection {
    /// A deposit into the brokerage account.
    Incoming,
    /// A withdrawal to the bank.
    Outgoing,
    Unknown(String),
}

impl TransferDirection {
    pub fn from_provider(text: &str) -> Self {
        match text {
            "INCOMING" => Self::Incoming,
            "OUTGOING" => Self::Outgoing,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Incoming => "INCOMING",
            Self::Outgoing => "OUTGOING",
            Self::Unknown(text) => text,
        }
    }
}

impl fmt::Display for TransferDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TransferDirection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_provider(&String::deserialize(deserializer)?))
    }
}

/// The rail: `ach` or `wire` (the 2022 spec also listed `instant_ach`, kept in `Unknown`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferType {
    Ach,
    Wire,
    Unknown(String),
}

impl TransferType {
    pub fn from_provider(text: &str) -> Self {
        match text {
            "ach" => Self::Ach,
            "wire" => Self::Wire,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Ach => "ach",
            Self::Wire => "wire",
            Self::Unknown(text) => text,
        }
    }
}

impl<'de> Deserialize<'de> for TransferType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_provider(&String::deserialize(deserializer)?))
    }
}

/// An ACH transfer to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAchTransfer {
    pub relationship_id: AchRelationshipId,
    pub amount: Amount,
    /// `Incoming` or `Outgoing`; `Unknown` is refused before anything is sent.
    pub direction: TransferDirection,
}

/// The `CreateTransferRequest` for ACH, without `timing`.
#[derive(Serialize)]
struct CreateTransferBody<'a> {
    transfer_type: &'static str,
    relationship_id: AchRelationshipId,
    amount: Amount,
    direction: &'a str,
}

/// Alpaca's `Transfer`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Transfer {
    pub id: AlpacaTransferId,
    pub account_id: AccountId,
    #[serde(rename = "type")]
    pub transfer_type: TransferType,
    pub status: AlpacaTransferStatus,
    /// What the recipient receives after fees; may come without decimals (`"498"`).
    #[serde(deserialize_with = "decimal")]
    pub amount: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub requested_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub fee: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_text")]
    pub fee_payment_method: Option<String>,
    pub direction: TransferDirection,
    /// Present for `ach`.
    #[serde(default, deserialize_with = "optional_parsed")]
    pub relationship_id: Option<AchRelationshipId>,
    /// Present for `wire`.
    #[serde(default, deserialize_with = "optional_parsed")]
    pub bank_id: Option<Uuid>,
    /// The cause of the status, e.g. a rejection or return reason.
    #[serde(default, deserialize_with = "optional_text")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "optional_parsed")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_parsed")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_parsed")]
    pub hold_until: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub instant_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_text")]
    pub additional_information: Option<String>,
    /// IRA details, as given.
    #[serde(default)]
    pub ira: Option<serde_json::Value>,
}

impl Transfer {
    /// The amount as the domain's [`Amount`], when it is one (positive, at most two decimals).
    pub fn amount_usd(&self) -> Option<Amount> {
        Amount::from_decimal(self.amount).ok()
    }

    pub(crate) fn warn_if_unknown(&self) {
        if let AlpacaTransferStatus::Unknown(text) = &self.status {
            tracing::warn!(transfer_id = %self.id, status = %text, "Alpaca reported a transfer status this service does not know; kept as given");
        }
        if let TransferDirection::Unknown(text) = &self.direction {
            tracing::warn!(transfer_id = %self.id, direction = %text, "Alpaca reported a transfer direction this service does not know");
        }
    }
}

impl AlpacaClient {
    pub(crate) fn transfers_url(&self, account_id: AccountId) -> reqwest::Url {
        self.endpoint(&["v1", "accounts", &account_id.to_string(), "transfers"])
    }

    /// `POST /v1/accounts/{account_id}/transfers` for ACH. Not idempotent at Alpaca: `Unavailable`
    /// or `Transport` leave the outcome unknown (list and match before creating again). Errors:
    /// `Forbidden` (403, deposits or withdrawals not permitted), `InvalidInput` (422, e.g. amount
    /// below the minimum), `InvalidRequest` (400, or an `Unknown` direction, refused unsent).
    #[tracing::instrument(skip_all, fields(account_id = %account_id, relationship_id = %transfer.relationship_id, direction = %transfer.direction))]
    pub async fn create_transfer(
        &self,
        account_id: AccountId,
        transfer: &NewAchTransfer,
    ) -> Result<Transfer, ProviderError> {
        if let TransferDirection::Unknown(_) = transfer.direction {
            return Err(ProviderError::new(
                Provider::Alpaca,
                ProviderErrorKind::InvalidRequest,
                "INVALID_DIRECTION",
                "direction must be INCOMING or OUTGOING",
            ));
        }
        let body = encode_body(&CreateTransferBody {
            transfer_type: "ach",
            relationship_id: transfer.relationship_id,
            amount: transfer.amount,
            direction: transfer.direction.as_str(),
        })?;
        let answer = self
            .send(Call {
                method: Method::POST,
                url: self.transfers_url(account_id),
                body: Some(body),
                idempotency: Idempotency::CreatesOnce,
                operation: "create transfer",
            })
            .await?;
        let created = answer.json::<Transfer>("Transfer")?;
        created.warn_if_unknown();
        tracing::info!(transfer_id = %created.id, status = %created.status, "transfer created at Alpaca");
        Ok(created)
    }

    /// `DELETE /v1/accounts/{account_id}/transfers/{transfer_id}` (204): asks Alpaca to cancel it;
    /// the final status comes by events. Errors: `NotFound` (404).
    #[tracing::instrument(skip_all, fields(account_id = %account_id, transfer_id = %transfer_id))]
    pub async fn cancel_transfer(
        &self,
        account_id: AccountId,
        transfer_id: AlpacaTransferId,
    ) -> Result<(), ProviderError> {
        let url = self.endpoint(&[
            "v1",
            "accounts",
            &account_id.to_string(),
            "transfers",
            &transfer_id.to_string(),
        ]);
        self.send(Call {
            method: Method::DELETE,
            url,
            body: None,
            idempotency: Idempotency::Idempotent,
            operation: "cancel transfer",
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_docs_sample_is_read_with_amounts_without_decimals() {
        let json = r#"{
            "id": "be3c368a-4c7c-4384-808e-f02c9f5a8afe",
            "relationship_id": "0f08c6bc-8e9f-463d-a73f-fd047fdb5e94",
            "account_id": "c8f1ef5d-edc0-4f23-9ee4-378f19cb92a4",
            "type": "ach", "status": "COMPLETE", "reason": null, "amount": "498",
            "direction": "INCOMING",
            "created_at": "2021-05-05T07:55:31.190788Z", "updated_at": "2021-05-05T08:13:33.029539Z",
            "expires_at": "2021-05-12T07:55:31.190719Z",
            "requested_amount": "500", "fee": "2", "fee_payment_method": "user"
        }"#;
        let transfer: Transfer = serde_json::from_str(json).unwrap();
        assert_eq!(transfer.amount, Decimal::from(498));
        assert_eq!(transfer.amount_usd().unwrap().to_string(), "498.00");
        assert_eq!(transfer.requested_amount, Some(Decimal::from(500)));
        assert_eq!(transfer.fee, Some(Decimal::from(2)));
        assert_eq!(transfer.status, AlpacaTransferStatus::Complete);
        assert_eq!(transfer.transfer_type, TransferType::Ach);
        assert_eq!(transfer.direction, TransferDirection::Incoming);
        assert!(transfer.reason.is_none() && transfer.bank_id.is_none());
    }

    #[test]
    fn the_minimal_transfer_is_read_and_unknown_values_are_kept() {
        let json = r#"{"id":"be3c368a-4c7c-4384-808e-f02c9f5a8afe","account_id":"c8f1ef5d-edc0-4f23-9ee4-378f19cb92a4",
            "type":"instant_ach","status":"SETTLED","amount":"0","direction":"SIDEWAYS","created_at":"2021-05-05T07:55:31Z",
            "bank_id":"","some_new_field":{"x":1}}"#;
        let transfer: Transfer = serde_json::from_str(json).unwrap();
        assert_eq!(
            transfer.status,
            AlpacaTransferStatus::Unknown("SETTLED".into())
        );
        assert_eq!(
            transfer.transfer_type,
            TransferType::Unknown("instant_ach".into())
        );
        assert_eq!(
            transfer.direction,
            TransferDirection::Unknown("SIDEWAYS".into())
        );
        assert_eq!(transfer.amount_usd(), None);
        assert!(
            transfer.updated_at.is_none()
                && transfer.expires_at.is_none()
                && transfer.relationship_id.is_none()
        );
    }

    #[test]
    fn an_unknown_status_or_direction_is_logged_as_a_warning() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let json = r#"{"id":"be3c368a-4c7c-4384-808e-f02c9f5a8afe","account_id":"c8f1ef5d-edc0-4f23-9ee4-378f19cb92a4",
            "type":"ach","status":"ON_HOLD","amount":"1","direction":"SIDEWAYS","created_at":"2021-05-05T07:55:31Z"}"#;
        let transfer: Transfer = serde_json::from_str(json).unwrap();
        tracing::subscriber::with_default(subscriber, || transfer.warn_if_unknown());
        let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        assert!(logs.contains("WARN") && logs.contains("ON_HOLD"), "{logs}");
        assert!(logs.contains("SIDEWAYS"), "{logs}");
    }

    #[test]
    fn the_create_body_has_exactly_the_four_fields_and_no_timing() {
        let body = CreateTransferBody {
            transfer_type: "ach",
            relationship_id: AchRelationshipId::parse("32788c82-9f9d-407c-8e77-c981ac74a1c9")
                .unwrap(),
            amount: Amount::parse("500").unwrap(),
            direction: "INCOMING",
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"transfer_type": "ach", "relationship_id": "32788c82-9f9d-407c-8e77-c981ac74a1c9", "amount": "500.00", "direction": "INCOMING"})
        );
    }
}
