//! Item webhooks (`webhook_type` `ITEM`) and the two sandbox endpoints that drive an Item:
//! `/sandbox/item/reset_login` (the Item goes to `ITEM_LOGIN_REQUIRED` and `ITEM`/`ERROR` is sent)
//! and `/sandbox/item/fire_webhook` (sends one Item webhook, changes nothing). Item webhooks go
//! to the Item's own webhook URL (the link token's `webhook`, or `/sandbox/public_token/create`'s
//! `options.webhook`), else to the configured URL, signed like every other webhook. Bodies are
//! Plaid's, field for field (`ItemErrorWebhook`, `PendingExpirationWebhook`, …), pretty-printed
//! with 2-space indentation.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::PlaidError;
use super::item_errors::{item_login_required, user_permission_revoked};
use super::model::Item;
use super::request::serve;
use super::schema::{Field, Kind, optional, required};
use super::webhooks::Outgoing;
use crate::ids::plaid_timestamp;
use crate::state::{Shared, World};

/// An Item webhook the emulator can send (`webhook_type` `ITEM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemWebhookCode {
    /// `ERROR` with `error.error_code` `ITEM_LOGIN_REQUIRED` (what a reset login sends).
    Error,
    /// `PENDING_EXPIRATION`, with `consent_expiration_time` 7 days ahead.
    PendingExpiration,
    /// `PENDING_DISCONNECT`, reason `INSTITUTION_MIGRATION`, `disconnect_time` 7 days ahead.
    PendingDisconnect,
    /// `USER_PERMISSION_REVOKED`, with the `USER_PERMISSION_REVOKED` error.
    UserPermissionRevoked,
    /// `USER_ACCOUNT_REVOKED`, naming the Item's first account.
    UserAccountRevoked,
    /// `LOGIN_REPAIRED`.
    LoginRepaired,
    /// `NEW_ACCOUNTS_AVAILABLE`.
    NewAccountsAvailable,
    /// `WEBHOOK_UPDATE_ACKNOWLEDGED`, with `new_webhook_url` = where it is sent.
    WebhookUpdateAcknowledged,
}

impl ItemWebhookCode {
    /// Every code, in Plaid's documentation order.
    pub const ALL: [ItemWebhookCode; 8] = [
        Self::Error,
        Self::LoginRepaired,
        Self::NewAccountsAvailable,
        Self::PendingDisconnect,
        Self::PendingExpiration,
        Self::UserPermissionRevoked,
        Self::UserAccountRevoked,
        Self::WebhookUpdateAcknowledged,
    ];

    /// The `webhook_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::PendingExpiration => "PENDING_EXPIRATION",
            Self::PendingDisconnect => "PENDING_DISCONNECT",
            Self::UserPermissionRevoked => "USER_PERMISSION_REVOKED",
            Self::UserAccountRevoked => "USER_ACCOUNT_REVOKED",
            Self::LoginRepaired => "LOGIN_REPAIRED",
            Self::NewAccountsAvailable => "NEW_ACCOUNTS_AVAILABLE",
            Self::WebhookUpdateAcknowledged => "WEBHOOK_UPDATE_ACKNOWLEDGED",
        }
    }
}

impl FromStr for ItemWebhookCode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|code| code.as_str()).collect();
                format!(
                    "{text:?} is not an Item webhook code ({})",
                    known.join(", ")
                )
            })
    }
}

impl std::fmt::Display for ItemWebhookCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far ahead `PENDING_EXPIRATION` and `PENDING_DISCONNECT` point (Plaid sends them 7 days
/// before).
const NOTICE: chrono::Duration = chrono::Duration::days(7);

/// Every Item webhook body, in Plaid's field order; absent fields are left out, `Some(None)`
/// is a JSON null.
#[derive(Serialize)]
struct ItemWebhookBody<'a> {
    webhook_type: &'static str,
    webhook_code: &'static str,
    item_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Option<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent_expiration_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_webhook_url: Option<&'a str>,
    environment: &'static str,
}

/// An error as a webhook carries it: with `status`, without `request_id`.
fn webhook_error(error: &PlaidError) -> Value {
    json!({
        "display_message": error.display,
        "error_code": error.error_code,
        "error_message": error.message,
        "error_type": error.error_type,
        "status": error.status.as_u16(),
    })
}

/// The exact bytes of one Item webhook; `destination` is where it goes.
pub(crate) fn item_webhook_body(
    code: ItemWebhookCode,
    item: &Item,
    destination: &str,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let ahead = plaid_timestamp(now.checked_add_signed(NOTICE).unwrap_or(now));
    let mut body = ItemWebhookBody {
        webhook_type: "ITEM",
        webhook_code: code.as_str(),
        item_id: &item.item_id,
        error: None,
        consent_expiration_time: None,
        reason: None,
        disconnect_time: None,
        account_id: None,
        new_webhook_url: None,
        environment: "sandbox",
    };
    match code {
        ItemWebhookCode::Error => body.error = Some(Some(webhook_error(&item_login_required()))),
        ItemWebhookCode::UserPermissionRevoked => {
            body.error = Some(Some(webhook_error(&user_permission_revoked())));
        }
        ItemWebhookCode::NewAccountsAvailable => body.error = Some(None),
        ItemWebhookCode::WebhookUpdateAcknowledged => {
            body.error = Some(None);
            body.new_webhook_url = Some(destination);
        }
        ItemWebhookCode::PendingExpiration => body.consent_expiration_time = Some(ahead),
        ItemWebhookCode::PendingDisconnect => {
            body.reason = Some("INSTITUTION_MIGRATION");
            body.disconnect_time = Some(ahead);
        }
        ItemWebhookCode::UserAccountRevoked => {
            body.account_id = item.accounts.first().map(|a| a.account_id.as_str());
        }
        ItemWebhookCode::LoginRepaired => {}
    }
    serde_json::to_vec_pretty(&body).unwrap_or_default()
}

/// Queues `code` about `item_id` to the Item's webhook URL, else the configured one. `false`
/// when there is no such Item or nowhere to send it.
pub(crate) fn send_item_webhook(
    shared: &Shared,
    world: &World,
    item_id: &str,
    code: ItemWebhookCode,
) -> bool {
    let Some(item) = world.plaid.item(item_id) else {
        return false;
    };
    let Some(destination) = item.webhook.clone().or_else(|| world.webhooks.url.clone()) else {
        return false;
    };
    let body = item_webhook_body(code, item, &destination, shared.clock.now());
    shared.announce(Outgoing::Item {
        url: Some(destination),
        item_id: item.item_id.clone(),
        code: code.as_str(),
        body,
    });
    true
}

/// Puts the Item in `ITEM_LOGIN_REQUIRED` and sends `ITEM`/`ERROR` where its webhooks go (if
/// anywhere). `false` when there is no such Item.
pub(crate) fn reset_login(shared: &Shared, world: &mut World, item_id: &str) -> bool {
    let Some(item) = world.plaid.item_mut(item_id) else {
        return false;
    };
    item.error = Some(item_login_required());
    send_item_webhook(shared, world, item_id, ItemWebhookCode::Error);
    true
}

/// `WebhookType`.
const WEBHOOK_TYPES: &[&str] = &[
    "AUTH",
    "HOLDINGS",
    "INVESTMENTS_TRANSACTIONS",
    "ITEM",
    "LIABILITIES",
    "TRANSACTIONS",
    "ASSETS",
];
/// `SandboxItemFireWebhookRequest.webhook_code`.
const FIRE_CODES: &[&str] = &[
    "DEFAULT_UPDATE",
    "NEW_ACCOUNTS_AVAILABLE",
    "SMS_MICRODEPOSITS_VERIFICATION",
    "AUTHORIZATION_GRANTED",
    "USER_PERMISSION_REVOKED",
    "USER_ACCOUNT_REVOKED",
    "PENDING_DISCONNECT",
    "RECURRING_TRANSACTIONS_UPDATE",
    "LOGIN_REPAIRED",
    "SYNC_UPDATES_AVAILABLE",
    "PRODUCT_READY",
    "ERROR",
];
/// `SandboxItemFireWebhookRequestOptions` (plaid-python 46 sends it).
const FIRE_OPTIONS: &[Field] = &[optional(
    "new_transactions",
    Kind::Int {
        min: 0,
        max: i64::MAX,
    },
)];
/// `SandboxItemFireWebhookRequest`.
const FIRE: &[Field] = &[
    required("access_token", Kind::Str),
    optional("webhook_type", Kind::Enum(WEBHOOK_TYPES)),
    required("webhook_code", Kind::Enum(FIRE_CODES)),
    optional("options", Kind::Object(FIRE_OPTIONS)),
];
/// `SandboxItemResetLoginRequest`.
const RESET_LOGIN: &[Field] = &[required("access_token", Kind::Str)];

#[derive(Deserialize)]
struct Fire {
    access_token: String,
    webhook_type: Option<String>,
    webhook_code: String,
}

#[derive(Deserialize)]
struct ResetLogin {
    access_token: String,
}

fn sandbox_error(code: &'static str, message: impl Into<String>) -> PlaidError {
    PlaidError::new(StatusCode::BAD_REQUEST, "SANDBOX_ERROR", code, message)
}

/// What `/sandbox/item/fire_webhook` sends for a `(webhook_type, webhook_code)`: an Item
/// webhook, or the product a non-Item webhook needs (`SANDBOX_PRODUCT_NOT_ENABLED` when the Item
/// lacks it; the emulator sends no product webhooks).
fn fired(webhook_type: Option<&str>, code: &str) -> Result<ItemWebhookCode, &'static str> {
    let item_code = match code {
        "NEW_ACCOUNTS_AVAILABLE" => Some(ItemWebhookCode::NewAccountsAvailable),
        "USER_PERMISSION_REVOKED" => Some(ItemWebhookCode::UserPermissionRevoked),
        "USER_ACCOUNT_REVOKED" => Some(ItemWebhookCode::UserAccountRevoked),
        "PENDING_DISCONNECT" => Some(ItemWebhookCode::PendingDisconnect),
        "LOGIN_REPAIRED" => Some(ItemWebhookCode::LoginRepaired),
        "ERROR" if webhook_type == Some("ITEM") => Some(ItemWebhookCode::Error),
        _ => None,
    };
    if let Some(item_code) = item_code.filter(|_| matches!(webhook_type, None | Some("ITEM"))) {
        return Ok(item_code);
    }
    Err(match (webhook_type, code) {
        (_, "ERROR" | "PRODUCT_READY") | (Some("ASSETS"), _) => "assets",
        (Some("AUTH"), _) | (_, "SMS_MICRODEPOSITS_VERIFICATION") => "auth",
        (Some("HOLDINGS" | "INVESTMENTS_TRANSACTIONS"), _) => "investments",
        (Some("LIABILITIES"), _) => "liabilities",
        (_, "AUTHORIZATION_GRANTED") => "transfer",
        _ => "transactions",
    })
}

pub(crate) async fn sandbox_item_fire_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(shared, headers, body, FIRE, |shared, request: Fire| {
        let world = shared.world();
        let item = world.plaid.item_by_access_token(&request.access_token)?;
        let webhook_type = request.webhook_type.as_deref();
        let code = match fired(webhook_type, &request.webhook_code) {
            Ok(code) => code,
            Err(product) if !item.products.iter().any(|p| p == product) => {
                return Err(sandbox_error(
                    "SANDBOX_PRODUCT_NOT_ENABLED",
                    format!("The {product} product is not enabled on this item"),
                ));
            }
            Err(_) => {
                return Err(PlaidError::invalid_field(format!(
                    "webhook_code {} with webhook_type {} is not emulated; the emulator fires ITEM webhooks",
                    request.webhook_code,
                    webhook_type.unwrap_or("(none)"),
                )));
            }
        };
        let item_id = item.item_id.clone();
        if !send_item_webhook(shared, &world, &item_id, code) {
            return Err(sandbox_error(
                "SANDBOX_WEBHOOK_INVALID",
                "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.",
            ));
        }
        Ok(json!({ "webhook_fired": true }))
    })
    .await
}

pub(crate) async fn sandbox_item_reset_login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(
        shared,
        headers,
        body,
        RESET_LOGIN,
        |shared, request: ResetLogin| {
            let mut world = shared.world();
            let item_id = world
                .plaid
                .item_by_access_token(&request.access_token)?
                .item_id
                .clone();
            reset_login(shared, &mut world, &item_id);
            Ok(json!({ "reset_login": true }))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: ItemWebhookCode) -> Value {
        let item = Item::sandbox("ins_109508".into(), vec!["auth".into()], None);
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        serde_json::from_slice(&item_webhook_body(code, &item, "http://h/x", now)).unwrap()
    }

    #[test]
    fn item_webhook_bodies_have_plaids_fields() {
        let error = body(ItemWebhookCode::Error);
        assert_eq!(error["webhook_type"], "ITEM");
        assert_eq!(error["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
        assert_eq!(error["error"]["status"], 400);
        assert_eq!(error["environment"], "sandbox");
        assert_eq!(
            body(ItemWebhookCode::PendingExpiration)["consent_expiration_time"],
            "2026-01-08T00:00:00Z"
        );
        assert!(body(ItemWebhookCode::NewAccountsAvailable)["error"].is_null());
        assert!(body(ItemWebhookCode::LoginRepaired).get("error").is_none());
        assert_eq!(
            body(ItemWebhookCode::WebhookUpdateAcknowledged)["new_webhook_url"],
            "http://h/x"
        );
        assert!(body(ItemWebhookCode::UserAccountRevoked)["account_id"].is_string());
        assert_eq!(
            body(ItemWebhookCode::PendingDisconnect)["reason"],
            "INSTITUTION_MIGRATION"
        );
    }

    #[test]
    fn codes_parse_from_their_names() {
        for code in ItemWebhookCode::ALL {
            assert_eq!(code.as_str().parse::<ItemWebhookCode>(), Ok(code));
        }
        assert!("DEFAULT_UPDATE".parse::<ItemWebhookCode>().is_err());
    }

    #[test]
    fn fire_webhook_maps_types_and_codes() {
        assert_eq!(
            fired(None, "LOGIN_REPAIRED"),
            Ok(ItemWebhookCode::LoginRepaired)
        );
        assert_eq!(fired(Some("ITEM"), "ERROR"), Ok(ItemWebhookCode::Error));
        assert_eq!(fired(None, "ERROR"), Err("assets"));
        assert_eq!(fired(Some("AUTH"), "DEFAULT_UPDATE"), Err("auth"));
        assert_eq!(fired(None, "SYNC_UPDATES_AVAILABLE"), Err("transactions"));
    }
}
