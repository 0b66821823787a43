//! `CreateLinkToken`: the link token a front end opens Plaid Link with (Plaid's
//! `/link/token/create`), made here because this service holds Plaid's secret. A new link asks for
//! the products the link flow needs; with `bank_link_id`, the token opens Link in update mode for
//! that link's Item (its access token, no products), to repair a login. The end user's id sent to
//! Plaid is derived from the Alpaca account id, never the raw id.

use funding_domain::{AccountId, BankLinkId, ValidationError, ValidationErrors};
use sha2::{Digest, Sha256};

use super::BankLinks;
use crate::error::CoreError;
use crate::ports::{LinkToken, LinkTokenRequest};

/// Plaid Link's languages.
const LANGUAGES: &[&str] = &[
    "da", "de", "en", "es", "et", "fr", "it", "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "sv",
];
/// Plaid's country codes.
const COUNTRIES: &[&str] = &[
    "US", "CA", "GB", "ES", "FR", "IE", "NL", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT", "LV",
    "PT", "BE",
];

/// The request as the caller sent it; empty strings and lists are "not given".
#[derive(Debug, Clone, Default)]
pub struct CreateLinkTokenInput {
    pub account_id: String,
    pub bank_link_id: String,
    pub redirect_uri: String,
    pub android_package_name: String,
    pub language: String,
    pub country_codes: Vec<String>,
}

/// The id Plaid knows the end user by: 32 hex digits of SHA-256 of the Alpaca account id.
pub fn client_user_id(account_id: AccountId) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"funding.v1/plaid-client-user-id\0");
    hasher.update(account_id.to_string().as_bytes());
    hex::encode(hasher.finalize())[..32].to_owned()
}

fn redirect_uri(text: &str) -> Result<Option<String>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let secure = text.starts_with("https://");
    let local = ["http://localhost", "http://127.0.0.1"]
        .iter()
        .any(|prefix| text.starts_with(prefix));
    if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            "redirect_uri",
            "must be a URL of at most 2048 characters",
        ));
    }
    if !(secure || local) {
        return Err(ValidationError::new(
            "redirect_uri",
            "must be an https:// URL (http:// only for localhost), registered with Plaid",
        ));
    }
    Ok(Some(text.to_owned()))
}

fn android_package_name(text: &str) -> Result<Option<String>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let segment = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = text.split('.').collect();
    if text.len() > 255 || parts.len() < 2 || !parts.iter().all(|p| segment(p)) {
        return Err(ValidationError::new(
            "android_package_name",
            "must be an Android package name such as com.example.app",
        ));
    }
    Ok(Some(text.to_owned()))
}

impl BankLinks {
    /// Errors: `InvalidArgument` naming each bad field; `NotFound` for an unknown `bank_link_id`;
    /// `FailedPrecondition` when that link is another account's or has no Plaid Item (any more);
    /// `Provider` for Plaid's refusal or outage.
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id, update_mode = !input.bank_link_id.is_empty()))]
    pub async fn create_link_token(
        &self,
        input: CreateLinkTokenInput,
    ) -> Result<LinkToken, CoreError> {
        let mut errors = ValidationErrors::new();
        let account =
            errors.check(AccountId::parse(&input.account_id).map_err(|e| e.at("account_id")));
        let link_id = if input.bank_link_id.is_empty() {
            Some(None)
        } else {
            errors
                .check(BankLinkId::parse(&input.bank_link_id).map_err(|e| e.at("bank_link_id")))
                .map(Some)
        };
        let redirect = errors.check(redirect_uri(&input.redirect_uri));
        let android = errors.check(android_package_name(&input.android_package_name));
        let language = if input.language.is_empty() {
            "en".to_owned()
        } else {
            input.language.clone()
        };
        if !LANGUAGES.contains(&language.as_str()) {
            errors.push(ValidationError::new(
                "language",
                format!(
                    "must be one of Plaid Link's languages ({})",
                    LANGUAGES.join(", ")
                ),
            ));
        }
        let countries = if input.country_codes.is_empty() {
            vec!["US".to_owned()]
        } else {
            input.country_codes.clone()
        };
        if countries.len() > COUNTRIES.len()
            || countries.iter().any(|c| !COUNTRIES.contains(&c.as_str()))
        {
            errors.push(ValidationError::new(
                "country_codes",
                format!(
                    "each must be one of Plaid's country codes ({})",
                    COUNTRIES.join(", ")
                ),
            ));
        }
        errors.into_result()?;
        let (Some(account), Some(link_id), Some(redirect), Some(android)) =
            (account, link_id, redirect, android)
        else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let access_token = match link_id {
            None => None,
            Some(id) => {
                let link = self.load(id).await?;
                if link.account_id != account {
                    return Err(CoreError::FailedPrecondition {
                        reason: "BANK_LINK_OF_ANOTHER_ACCOUNT",
                        subject: format!("bank_links/{id}"),
                        message: "bank_link_id is not a link of this account_id".into(),
                    });
                }
                let token = self.secrets.link_secrets(id).await?.access_token;
                Some(token.ok_or_else(|| CoreError::FailedPrecondition {
                    reason: "BANK_LINK_HAS_NO_ITEM",
                    subject: format!("bank_links/{id}"),
                    message: "the link has no Plaid Item to update (it was never exchanged, or its Item was removed)".into(),
                })?)
            }
        };
        let update_mode = access_token.is_some();
        let request = LinkTokenRequest {
            client_name: self.settings.client_name.clone(),
            client_user_id: client_user_id(account),
            access_token,
            products: if update_mode {
                Vec::new()
            } else {
                self.products()
            },
            webhook: self.settings.webhook_url.clone(),
            redirect_uri: redirect,
            android_package_name: android,
            language,
            country_codes: countries,
        };
        let token = self.plaid.create_link_token(&request).await?;
        metrics::counter!("funding_link_tokens_total", "mode" => if update_mode { "update" } else { "new" }).increment(1);
        Ok(token)
    }
}

impl BankLinks {
    /// The products a new Item is linked with: the configured ones, and `identity` when the
    /// owner-name check is on (`/identity/match` needs it on the Item).
    fn products(&self) -> Vec<String> {
        let mut products = self.settings.products.clone();
        let names_checked = self.risk.as_ref().is_some_and(|risk| {
            risk.settings().name_check != funding_domain::risk::names::NameCheck::Off
        });
        if names_checked && !products.iter().any(|product| product == "identity") {
            products.push("identity".to_owned());
        }
        products
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_user_id_is_stable_per_account_and_not_the_account_id() {
        let account = AccountId::parse("8e00606a-c9ac-409a-ba45-f55e8f77984a").unwrap();
        let other = AccountId::parse("0d0f2f4b-5a39-4a0a-9a51-8f5b1a3bd0aa").unwrap();
        assert_eq!(client_user_id(account), client_user_id(account));
        assert_ne!(client_user_id(account), client_user_id(other));
        assert!(!client_user_id(account).contains("8e00606a"));
        assert_eq!(client_user_id(account).len(), 32);
    }

    #[test]
    fn redirect_uris_and_package_names_are_checked() {
        assert_eq!(redirect_uri(""), Ok(None));
        assert!(
            redirect_uri("https://app.example.com/plaid")
                .unwrap()
                .is_some()
        );
        assert!(redirect_uri("http://localhost:3000/cb").unwrap().is_some());
        assert!(redirect_uri("http://app.example.com/cb").is_err());
        assert!(redirect_uri("https://a b").is_err());
        assert!(android_package_name("com.example.app").unwrap().is_some());
        assert!(android_package_name("example").is_err());
        assert!(android_package_name("com.1example").is_err());
    }
}
