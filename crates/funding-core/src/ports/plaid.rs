//! What the use cases need from Plaid.

use async_trait::async_trait;
use funding_domain::{AccessToken, PlaidAccountId, PlaidItemId, ProcessorToken, PublicToken};

use super::ProviderError;

/// The result of exchanging a public token.
#[derive(Debug, Clone)]
pub struct ExchangedItem {
    pub access_token: AccessToken,
    pub item_id: PlaidItemId,
}

/// A linked account's balances as Plaid reads them from the bank in real time
/// (`/accounts/balance/get`); either may be unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub available: Option<rust_decimal::Decimal>,
    pub current: Option<rust_decimal::Decimal>,
    pub iso_currency_code: Option<String>,
}

/// An Item as `/item/get` shows it: whether its login still works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    /// `item.error.error_code` (`ITEM_LOGIN_REQUIRED`, …) when the Item is in error, `None` when
    /// it works.
    pub error_code: Option<String>,
}

/// What `/link/token/create` is asked for: a new link (with `products`) or, with `access_token`,
/// update mode for that Item (no products).
#[derive(Debug, Clone)]
pub struct LinkTokenRequest {
    /// Shown in Link.
    pub client_name: String,
    /// A stable id for the end user that is not their raw account id.
    pub client_user_id: String,
    /// Set: update mode for this Item.
    pub access_token: Option<AccessToken>,
    /// `auth` (and `identity` when the owner-name check needs it); empty in update mode.
    pub products: Vec<String>,
    /// Where Plaid sends the Item's webhooks.
    pub webhook: Option<String>,
    pub redirect_uri: Option<String>,
    pub android_package_name: Option<String>,
    /// `en`, `es`, …
    pub language: String,
    /// `US`, …
    pub country_codes: Vec<String>,
}

/// A link token: the front end opens Plaid Link with it until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub link_token: String,
    pub expiration: chrono::DateTime<chrono::Utc>,
}

/// One account of a Plaid Item, as `/accounts/get` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaidAccount {
    pub account_id: PlaidAccountId,
    pub name: String,
    pub mask: Option<String>,
    /// `depository`, `credit`, …
    pub account_type: String,
    /// `checking`, `savings`, …
    pub subtype: Option<String>,
}

/// Plaid, as the link flow uses it. Implementations retry 429 and 5xx with backoff before giving up,
/// and send Plaid's idempotency key where an endpoint has one.
#[async_trait]
pub trait PlaidGateway: Send + Sync + 'static {
    /// `/item/public_token/exchange`. Errors: `InvalidInput` with code `INVALID_PUBLIC_TOKEN` for an
    /// unknown, used or expired token; `Unauthorized` for bad client credentials; `RateLimited`,
    /// `Unavailable`, `Transport` when Plaid cannot be reached.
    async fn exchange_public_token(
        &self,
        public_token: &PublicToken,
    ) -> Result<ExchangedItem, ProviderError>;

    /// `/processor/token/create` with `processor: "alpaca"`. Errors: `InvalidInput` with
    /// `INVALID_ACCOUNT_ID` when the account is not in the Item, `INVALID_ACCESS_TOKEN`,
    /// `INVALID_PRODUCT` when the Alpaca integration is not enabled; retryable kinds as above.
    async fn create_processor_token(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<ProcessorToken, ProviderError>;

    /// `/item/remove`: ends the Item, so that Plaid stops billing for it and its access and
    /// processor tokens stop working. Errors: `InvalidInput` with `ITEM_NOT_FOUND` or
    /// `INVALID_ACCESS_TOKEN` when it is gone already; retryable kinds as above.
    async fn remove_item(&self, access_token: &AccessToken) -> Result<(), ProviderError>;

    /// `/item/get`: the Item's state. An Item in error is a successful answer with its `error`
    /// set (`ITEM_LOGIN_REQUIRED`); errors: `InvalidInput` with `ITEM_NOT_FOUND` or
    /// `INVALID_ACCESS_TOKEN` when it is gone; retryable kinds as above.
    async fn get_item(&self, access_token: &AccessToken) -> Result<ItemState, ProviderError>;

    /// `/accounts/balance/get` for one account of the Item: its real-time balances. Errors: Plaid's
    /// when the bank cannot be reached for them (the risk settings say what that means), and the
    /// kinds above.
    async fn account_balance(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<AccountBalance, ProviderError>;

    /// `/identity/get` for one account: its owners' names, as the bank holds them.
    async fn owner_names(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<Vec<String>, ProviderError>;

    /// `/identity/match` for one account: Plaid's score (0–100; 70 and above match) of its owners'
    /// names against `legal_name`, `None` when Plaid could not score it.
    async fn match_owner_name(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
        legal_name: &str,
    ) -> Result<Option<u8>, ProviderError>;

    /// `/accounts/get`: the accounts of an Item.
    async fn list_accounts(
        &self,
        access_token: &AccessToken,
    ) -> Result<Vec<PlaidAccount>, ProviderError>;

    /// `/link/token/create`. Errors: `InvalidRequest` / `InvalidInput` naming Plaid's field (an
    /// unknown language or country, a `redirect_uri` not registered with Plaid, an Item's access
    /// token it does not know); retryable kinds as above (a link token made twice is harmless).
    async fn create_link_token(
        &self,
        request: &LinkTokenRequest,
    ) -> Result<LinkToken, ProviderError>;

    /// `/sandbox/public_token/create` (sandbox only): a public token for a test Item at `institution_id`.
    async fn sandbox_create_public_token(
        &self,
        institution_id: &str,
    ) -> Result<PublicToken, ProviderError>;
}
