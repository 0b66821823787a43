//! The link flow's bodies: `/item/public_token/exchange`, `/processor/token/create`,
//! `/item/remove`, `/accounts/get` and `/sandbox/public_token/create`.

use serde::{Deserialize, Serialize};

/// The processor this service creates tokens for.
pub(crate) const ALPACA_PROCESSOR: &str = "alpaca";
/// The products a sandbox Item is created with: Auth is what a processor token needs.
pub(crate) const SANDBOX_INITIAL_PRODUCTS: &[&str] = &["auth"];

/// `ItemPublicTokenExchangeRequest`.
#[derive(Serialize)]
pub(crate) struct PublicTokenExchangeRequest<'a> {
    pub public_token: &'a str,
}

/// `ItemPublicTokenExchangeResponse`.
#[derive(Deserialize)]
pub(crate) struct PublicTokenExchangeResponse {
    pub access_token: String,
    pub item_id: String,
}

/// `ProcessorTokenCreateRequest`.
#[derive(Serialize)]
pub(crate) struct ProcessorTokenCreateRequest<'a> {
    pub access_token: &'a str,
    pub account_id: &'a str,
    pub processor: &'static str,
}

/// `ProcessorTokenCreateResponse`.
#[derive(Deserialize)]
pub(crate) struct ProcessorTokenCreateResponse {
    pub processor_token: String,
}

/// `ItemRemoveRequest`.
#[derive(Serialize)]
pub(crate) struct ItemRemoveRequest<'a> {
    pub access_token: &'a str,
}

/// `/item/remove` answers only its `request_id` (read apart).
#[derive(Deserialize)]
pub(crate) struct ItemRemoveResponse {}

/// `/item/get` is asked with the access token only.
#[derive(Serialize)]
pub(crate) struct ItemGetRequest<'a> {
    pub access_token: &'a str,
}

/// `ItemGetResponse`: only the Item's error is read; every other field (and any new one) is
/// ignored.
#[derive(Deserialize)]
pub(crate) struct ItemGetResponse {
    pub item: ItemWire,
}

/// `Item`, as far as its health goes.
#[derive(Deserialize)]
pub(crate) struct ItemWire {
    #[serde(default)]
    pub error: Option<ItemErrorWire>,
}

/// `PlaidError` as an Item carries it.
#[derive(Deserialize)]
pub(crate) struct ItemErrorWire {
    pub error_code: String,
}

/// `AccountsGetRequest` (without `options`: every account of the Item).
#[derive(Serialize)]
pub(crate) struct AccountsGetRequest<'a> {
    pub access_token: &'a str,
}

/// `AccountsGetResponse`; the Item and balances are not needed here.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountsGetResponse {
    pub accounts: Vec<AccountBase>,
}

/// The parts of `AccountBase` the link flow uses.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountBase {
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub mask: Option<String>,
    #[serde(rename = "type")]
    pub account_type: String,
    #[serde(default)]
    pub subtype: Option<String>,
}

/// `SandboxPublicTokenCreateRequest` (without `options`: Plaid's default test user).
#[derive(Debug, Serialize)]
pub(crate) struct SandboxPublicTokenCreateRequest<'a> {
    pub institution_id: &'a str,
    pub initial_products: &'static [&'static str],
}

/// `SandboxPublicTokenCreateResponse`.
#[derive(Deserialize)]
pub(crate) struct SandboxPublicTokenCreateResponse {
    pub public_token: String,
}

/// `LinkTokenCreateRequest` (the fields this service sends).
#[derive(Serialize)]
pub(crate) struct LinkTokenCreateRequest<'a> {
    pub client_name: &'a str,
    pub language: &'a str,
    pub country_codes: &'a [String],
    pub user: LinkTokenUser<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub products: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_package_name: Option<&'a str>,
}

/// `LinkTokenCreateRequestUser`.
#[derive(Serialize)]
pub(crate) struct LinkTokenUser<'a> {
    pub client_user_id: &'a str,
}

/// `LinkTokenCreateResponse`.
#[derive(Deserialize)]
pub(crate) struct LinkTokenCreateResponse {
    pub link_token: String,
    pub expiration: chrono::DateTime<chrono::Utc>,
}
