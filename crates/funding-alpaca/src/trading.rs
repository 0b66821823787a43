//! The trading account's cash: `GET /v1/trading/accounts/{account_id}/account` (operationId
//! `getTradingAccount`, schema `TradeAccount`), of which `cash` and `cash_withdrawable` (required)
//! and `pending_transfer_out` (optional) are read, decimal strings (`"17861.91"`, `"0"`). Alpaca
//! does not document whether `cash_withdrawable` already nets queued withdrawals, so all three go
//! to the caller (DESIGN §4.7).

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

    fn read(json: &str) -> Result<TradeAccountWire, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn the_figures_are_read_exactly() {
        let account = read(
            r#"{"cash":"24861.91","cash_withdrawable":"17861.91","pending_transfer_out":"12.5","status":"ACTIVE"}"#,
        )
        .unwrap();
        assert_eq!(account.cash, Decimal::new(2_486_191, 2));
        assert_eq!(account.cash_withdrawable, Decimal::new(1_786_191, 2));
        assert_eq!(account.pending_transfer_out, Some(Decimal::new(125, 1)));
        let account = read(r#"{"cash":"0","cash_withdrawable":"0"}"#).unwrap();
        assert_eq!(account.cash_withdrawable, Decimal::ZERO);
        assert_eq!(account.pending_transfer_out, None);
    }

    #[test]
    fn cash_and_cash_withdrawable_are_required() {
        assert!(read(r#"{"cash":"1"}"#).is_err());
        assert!(read(r#"{"cash_withdrawable":"1"}"#).is_err());
        assert!(read(r#"{"cash":"1","cash_withdrawable":""}"#).is_err());
    }
}
