//! The brokerage account owner's name, for the owner-name check (DESIGN §11):
//! `GET /v1/accounts/{account_id}` (operationId `getAccount`, schema `Account`), of which only
//! `identity.given_name`, `identity.middle_name` and `identity.family_name` are read. An account
//! without an identity (or with empty names) has no owner name to compare: `None`.

use funding_core::ports::ProviderError;
use funding_domain::AccountId;
use reqwest::Method;
use serde::Deserialize;

use crate::client::AlpacaClient;
use crate::http::{Call, Idempotency};

/// The part of `Account` the owner-name check reads; every other field is ignored.
#[derive(Deserialize)]
struct AccountWire {
    #[serde(default)]
    identity: Option<IdentityWire>,
}

#[derive(Deserialize)]
struct IdentityWire {
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    middle_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
}

impl AlpacaClient {
    /// The owner's full name (given, middle, family, as Alpaca holds them), or `None`. A read:
    /// retried on 429 and 5xx. Errors: `NotFound` (no such account), `Decode`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn account_owner_name(
        &self,
        account_id: AccountId,
    ) -> Result<Option<String>, ProviderError> {
        let url = self.endpoint(&["v1", "accounts", &account_id.to_string()]);
        let answer = self
            .send(Call {
                method: Method::GET,
                url,
                body: None,
                idempotency: Idempotency::Idempotent,
                operation: "get account",
            })
            .await?;
        let account = answer.json::<AccountWire>("Account")?;
        Ok(account.identity.and_then(|identity| {
            let name = [
                identity.given_name,
                identity.middle_name,
                identity.family_name,
            ]
            .into_iter()
            .flatten()
            .map(|part| part.trim().to_owned())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
            (!name.is_empty()).then_some(name)
        }))
    }
}
