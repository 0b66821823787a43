//! The risk checks' reads (DESIGN §11), all read-only and safe to repeat:
//! - `/accounts/balance/get` (with `options.account_ids`): the linked account's real-time
//!   `available` and `current` balances, JSON numbers read as exact decimals;
//! - `/processor/balance/get`: the same balances of the one account behind a processor token (the
//!   Plaid rail's balance check of a debit, which holds no access token of ours);
//! - `/identity/get`: the names of the linked account's owners, for the service's own scorer;
//! - `/identity/match`: Plaid's own score (0–100) of the account owners' names against a legal
//!   name, `None` when Plaid could not score it.
//!
//! A balance Plaid could not fetch from the bank is Plaid's error (for instance
//! `PRODUCTS_NOT_SUPPORTED`, `INSTITUTION_NOT_RESPONDING`), classified as every Plaid error is; the
//! caller's setting decides what an unavailable balance means.

use std::str::FromStr as _;

use funding_core::ports::{AccountBalance, ProviderError};
use funding_domain::{AccessToken, PlaidAccountId, ProcessorToken};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::call::Endpoint;
use crate::client::PlaidClient;
use crate::failure::decode_error;

pub(crate) const GET_BALANCE: Endpoint = Endpoint {
    path: "/accounts/balance/get",
    idempotent: true,
};
pub(crate) const GET_PROCESSOR_BALANCE: Endpoint = Endpoint {
    path: "/processor/balance/get",
    idempotent: true,
};
pub(crate) const GET_IDENTITY: Endpoint = Endpoint {
    path: "/identity/get",
    idempotent: true,
};
pub(crate) const MATCH_IDENTITY: Endpoint = Endpoint {
    path: "/identity/match",
    idempotent: true,
};

#[derive(Serialize)]
struct AccountIds<'a> {
    account_ids: [&'a str; 1],
}

#[derive(Serialize)]
struct ForOneAccount<'a> {
    access_token: &'a str,
    options: AccountIds<'a>,
}

#[derive(Serialize)]
struct ForProcessorToken<'a> {
    processor_token: &'a str,
}

/// `/processor/balance/get`'s answer: the one account behind the token.
#[derive(Deserialize)]
struct ProcessorAccount {
    account: BalanceAccount,
}

#[derive(Serialize)]
struct MatchUser<'a> {
    legal_name: &'a str,
}

#[derive(Serialize)]
struct MatchRequest<'a> {
    access_token: &'a str,
    user: MatchUser<'a>,
    options: AccountIds<'a>,
}

#[derive(Deserialize)]
struct Accounts<T> {
    accounts: Vec<T>,
}

#[derive(Deserialize)]
struct BalanceAccount {
    account_id: String,
    balances: Balances,
}

#[derive(Deserialize)]
struct Balances {
    #[serde(default, deserialize_with = "number")]
    available: Option<Decimal>,
    #[serde(default, deserialize_with = "number")]
    current: Option<Decimal>,
    #[serde(default)]
    iso_currency_code: Option<String>,
}

#[derive(Deserialize)]
struct IdentityAccount {
    account_id: String,
    #[serde(default)]
    owners: Vec<Owner>,
}

#[derive(Deserialize)]
struct Owner {
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
struct MatchAccount {
    account_id: String,
    #[serde(default)]
    legal_name: Option<LegalNameMatch>,
}

#[derive(Deserialize)]
struct LegalNameMatch {
    #[serde(default)]
    score: Option<i64>,
}

/// A JSON number (or null) as an exact decimal: Plaid prints balances as numbers, `110.45`.
fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let text = number.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(|value| Some(value.round_dp(2)))
        .map_err(|_| serde::de::Error::custom("a balance that is not a decimal number"))
}

/// The one account asked for, out of an answer for the Item.
fn the_account<T>(
    endpoint: Endpoint,
    accounts: Vec<T>,
    id: impl Fn(&T) -> &str,
    wanted: &PlaidAccountId,
) -> Result<T, ProviderError> {
    accounts
        .into_iter()
        .find(|account| id(account) == wanted.as_str())
        .ok_or_else(|| {
            decode_error(
                endpoint.path,
                StatusCode::OK,
                "the answer does not hold the account asked for",
            )
        })
}

impl PlaidClient {
    /// The linked account's balances (`/accounts/balance/get`).
    #[tracing::instrument(skip_all, fields(endpoint = GET_BALANCE.path))]
    pub(crate) async fn account_balance(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<AccountBalance, ProviderError> {
        let request = ForOneAccount {
            access_token: access_token.expose_secret(),
            options: AccountIds {
                account_ids: [account_id.as_str()],
            },
        };
        let answer: Accounts<BalanceAccount> = self.call(GET_BALANCE, &request).await?;
        let account = the_account(
            GET_BALANCE,
            answer.accounts,
            |a| a.account_id.as_str(),
            account_id,
        )?;
        Ok(AccountBalance {
            available: account.balances.available,
            current: account.balances.current,
            iso_currency_code: account.balances.iso_currency_code,
        })
    }

    /// The balances of the account behind a processor token (`/processor/balance/get`).
    #[tracing::instrument(skip_all, fields(endpoint = GET_PROCESSOR_BALANCE.path))]
    pub(crate) async fn processor_balance(
        &self,
        processor_token: &ProcessorToken,
    ) -> Result<AccountBalance, ProviderError> {
        let request = ForProcessorToken {
            processor_token: processor_token.expose_secret(),
        };
        let answer: ProcessorAccount = self.call(GET_PROCESSOR_BALANCE, &request).await?;
        let balances = answer.account.balances;
        tracing::debug!(
            account_id = %answer.account.account_id,
            "read the balance of the account behind the processor token"
        );
        Ok(AccountBalance {
            available: balances.available,
            current: balances.current,
            iso_currency_code: balances.iso_currency_code,
        })
    }

    /// The names of the linked account's owners (`/identity/get`).
    #[tracing::instrument(skip_all, fields(endpoint = GET_IDENTITY.path))]
    pub(crate) async fn owner_names(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<Vec<String>, ProviderError> {
        let request = ForOneAccount {
            access_token: access_token.expose_secret(),
            options: AccountIds {
                account_ids: [account_id.as_str()],
            },
        };
        let answer: Accounts<IdentityAccount> = self.call(GET_IDENTITY, &request).await?;
        let account = the_account(
            GET_IDENTITY,
            answer.accounts,
            |a| a.account_id.as_str(),
            account_id,
        )?;
        Ok(account
            .owners
            .into_iter()
            .flat_map(|owner| owner.names)
            .collect())
    }

    /// Plaid's score of the account owners' names against `legal_name` (`/identity/match`).
    #[tracing::instrument(skip_all, fields(endpoint = MATCH_IDENTITY.path))]
    pub(crate) async fn match_owner_name(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
        legal_name: &str,
    ) -> Result<Option<u8>, ProviderError> {
        let request = MatchRequest {
            access_token: access_token.expose_secret(),
            user: MatchUser { legal_name },
            options: AccountIds {
                account_ids: [account_id.as_str()],
            },
        };
        let answer: Accounts<MatchAccount> = self.call(MATCH_IDENTITY, &request).await?;
        let account = the_account(
            MATCH_IDENTITY,
            answer.accounts,
            |a| a.account_id.as_str(),
            account_id,
        )?;
        Ok(account
            .legal_name
            .and_then(|name| name.score)
            .map(|score| score.clamp(0, 100) as u8))
    }
}
