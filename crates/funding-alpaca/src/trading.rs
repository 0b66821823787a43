//! The trading account's cash: `GET /v1/trading/accounts/{account_id}/account` (operationId
//! `getTradingAccount`, schema `TradeAccount`), of which only `cash_withdrawable` is read: the cash
//! Alpaca lets the account withdraw now, a decimal string (`"17861.91"`, `"0"`).

use funding_core::ports::{AccountFunds, ProviderError};
use funding_domain::AccountId;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::client::AlpacaClient;
use crate::http::{Call, Idempotency};
use crate::wire::{decimal, optional_decimal};

/// The part of `TradeAccount` the funding flows use; every other field is ignored.
#[derive(Deserialize)]
pub(crate) struct TradeAccountWire {
    #[serde(deserialize_with = "decimal")]
    cash: Decimal,
    #[serde(deserialize_with = "decimal")]
    cash_withdrawable: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pending_transfer_out: Option<Decimal>,
}

impl AlpacaClient {
    /// `cash_withdrawable` of `GET /v1/trading/accounts/{account_id}/account`.
    pub async fn withdrawable_cash(&self, account_id: AccountId) -> Result<Decimal, ProviderError> {
        Ok(self.account_funds(account_id).await?.cash_withdrawable)
    }

    /// `cash`, `cash_withdrawable` and `pending_transfer_out` of
    /// `GET /v1/trading/accounts/{account_id}/account`. See
    /// [`Broker::account_funds`](funding_core::ports::Broker::account_funds).
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn account_funds(
        &self,
        account_id: AccountId,
    ) -> Result<AccountFunds, ProviderError> {
        let url = self.endpoint(&[
            "v1",
            "trading",
            "accounts",
            &account_id.to_string(),
            "account",
        ]);
        let answer = self
            .send(Call {
                method: Method::GET,
                url,
                body: None,
                idempotency: Idempotency::Idempotent,
                operation: "get trading account",
            })
            .await?;
        let account = answer.json::<TradeAccountWire>("TradeAccount")?;
        Ok(AccountFunds {
            cash: account.cash,
            cash_withdrawable: account.cash_withdrawable,
            pending_transfer_out: account.pending_transfer_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cash_withdrawable_is_read_exactly_and_is_required() {
        let read = |json: &str| serde_json::from_str::<TradeAccountWire>(json);
        assert_eq!(
            read(r#"{"cash":"24861.91","cash_withdrawable":"17861.91","status":"ACTIVE"}"#)
                .unwrap()
                .cash_withdrawable,
            Decimal::new(1_786_191, 2)
        );
        assert_eq!(
            read(r#"{"cash_withdrawable":"0"}"#)
                .unwrap()
                .cash_withdrawable,
            Decimal::ZERO
        );
        assert!(read(r#"{"cash":"1"}"#).is_err());
        assert!(read(r#"{"cash_withdrawable":""}"#).is_err());
    }
}
