//! `/link/token/create`: Plaid's `LinkTokenCreateRequest` (every top-level field of the spec is
//! accepted; the ones Link uses here are checked) and `LinkTokenCreateResponse`
//! (`link_token` `link-sandbox-<uuid>`, `expiration` 4 hours later, 30 minutes in update mode,
//! `request_id`; `hosted_link_url` when the request has `hosted_link`).
//!
//! Checks beyond the schema, each answered with Plaid's error naming the field: `products`
//! is required (and not empty, and without `balance`) unless `access_token` is given (update
//! mode); `user` (with `user.client_user_id`) or `user_id` is required; `language` is one of
//! Link's languages; `webhook`, `redirect_uri` and `hosted_link.completion_redirect_uri` are
//! absolute http(s) URLs; an unknown `access_token` is `INVALID_ACCESS_TOKEN`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::enums::PRODUCTS;
use super::error::PlaidError;
use super::link_store::{LINK_TOKEN_TTL, LinkTokenSnapshot, UPDATE_LINK_TOKEN_TTL};
use super::request::serve;
use super::schema::{Field, Kind, nullable, optional, required};
use super::webhooks::check_url;
use crate::ids::{plaid_timestamp, sandbox_token};
use crate::state::Shared;

/// `CountryCode`.
const COUNTRY_CODES: &[&str] = &[
    "US", "GB", "ES", "NL", "FR", "IE", "CA", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT", "LV",
    "PT", "BE", "AT", "FI",
];
/// The languages Link is displayed in (`LinkTokenCreateRequest.language`).
const LANGUAGES: &[&str] = &[
    "da", "nl", "en", "et", "fr", "de", "hi", "it", "lv", "lt", "no", "pl", "pt", "ro", "es", "sv",
    "vi",
];
const PRODUCT_LIST: Kind = Kind::Array {
    item: &Kind::Enum(PRODUCTS),
    min_items: 0,
};
/// `LinkTokenCreateRequestUser` (the identity-verification parts are not checked).
const USER: &[Field] = &[
    required("client_user_id", Kind::Str),
    optional("legal_name", Kind::Str),
    optional("name", Kind::Any),
    optional("phone_number", Kind::Str),
    nullable("phone_number_verified_time", Kind::Str),
    optional("email_address", Kind::Str),
    nullable("email_address_verified_time", Kind::Str),
    optional("ssn", Kind::Str),
    nullable("date_of_birth", Kind::Str),
    optional("address", Kind::Any),
    optional("id_number", Kind::Any),
];
/// `LinkTokenCreateRequestUpdate`.
const UPDATE: &[Field] = &[
    optional("account_selection_enabled", Kind::Bool),
    optional("reauthorization_enabled", Kind::Bool),
    optional("user", Kind::Bool),
    nullable(
        "item_ids",
        Kind::Array {
            item: &Kind::Str,
            min_items: 0,
        },
    ),
];
/// `LinkTokenCreateRequest`: every top-level field of the spec (and plaid-python 46's
/// `cra_report_parameter`); the ones this emulator does not use are accepted as they are.
const LINK_TOKEN_CREATE: &[Field] = &[
    required("client_name", Kind::Str),
    required("language", Kind::Str),
    required(
        "country_codes",
        Kind::Array {
            item: &Kind::Enum(COUNTRY_CODES),
            min_items: 1,
        },
    ),
    optional("user", Kind::Object(USER)),
    optional("user_id", Kind::Str),
    nullable("products", PRODUCT_LIST),
    nullable("required_if_supported_products", PRODUCT_LIST),
    nullable("optional_products", PRODUCT_LIST),
    nullable("additional_consented_products", PRODUCT_LIST),
    optional("webhook", Kind::Str),
    nullable("access_token", Kind::Str),
    optional(
        "access_tokens",
        Kind::Array {
            item: &Kind::Str,
            min_items: 0,
        },
    ),
    optional("link_customization_name", Kind::Str),
    optional("appearance_mode", Kind::Any),
    optional("redirect_uri", Kind::Str),
    optional("android_package_name", Kind::Str),
    optional("institution_data", Kind::Any),
    optional("card_switch", Kind::Any),
    optional("account_filters", Kind::FreeObject),
    optional("eu_config", Kind::Any),
    optional("institution_id", Kind::Str),
    optional("payment_configuration", Kind::Any),
    optional("payment_initiation", Kind::Any),
    optional("employment", Kind::Any),
    optional("income_verification", Kind::Any),
    optional("base_report", Kind::Any),
    optional("credit_partner_insights", Kind::Any),
    optional("cra_options", Kind::Any),
    optional("cra_report_parameter", Kind::Any),
    optional("consumer_report_permissible_purpose", Kind::Any),
    optional("auth", Kind::Any),
    optional("transfer", Kind::Any),
    optional("update", Kind::Object(UPDATE)),
    optional("identity_verification", Kind::Any),
    optional("statements", Kind::Any),
    optional("third_party_user_token", Kind::Str),
    optional("investments", Kind::Any),
    optional("investments_auth", Kind::Any),
    optional("hosted_link", Kind::FreeObject),
    optional("transactions", Kind::Any),
    optional("cashflow_report", Kind::Any),
    optional("cra_enabled", Kind::Bool),
    optional("identity", Kind::Any),
    optional("financekit_supported", Kind::Bool),
    optional("enable_multi_item_link", Kind::Bool),
    optional("user_token", Kind::Str),
];

#[derive(Deserialize)]
struct LinkTokenCreate {
    client_name: String,
    language: String,
    country_codes: Vec<String>,
    user: Option<User>,
    user_id: Option<String>,
    products: Option<Vec<String>>,
    webhook: Option<String>,
    access_token: Option<String>,
    redirect_uri: Option<String>,
    android_package_name: Option<String>,
    update: Option<Update>,
    hosted_link: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct User {
    client_user_id: String,
}

#[derive(Deserialize)]
struct Update {
    account_selection_enabled: Option<bool>,
}

fn url_field(name: &str, value: Option<String>) -> Result<Option<String>, PlaidError> {
    value
        .map(|url| {
            check_url(&url).map_err(|_| {
                PlaidError::invalid_field(format!("{name} must be an absolute http or https URL"))
            })
        })
        .transpose()
}

fn non_empty(name: &str, value: &str) -> Result<(), PlaidError> {
    if value.trim().is_empty() {
        return Err(PlaidError::invalid_field(format!(
            "{name} must be a non-empty string"
        )));
    }
    Ok(())
}

/// The base URL the caller reached the emulator at (for `hosted_link_url`).
fn base_url(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let base = format!("http://{host}");
    check_url(&base).ok()
}

pub(crate) async fn link_token_create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let base = base_url(&headers);
    serve(
        shared,
        headers,
        body,
        LINK_TOKEN_CREATE,
        move |shared, request: LinkTokenCreate| {
            let hosted = request.hosted_link.as_ref().map(|hosted| {
                hosted
                    .get("completion_redirect_uri")
                    .and_then(|value| value.as_str())
                    .map(str::to_owned)
            });
            let snapshot = check(shared, request)?;
            let mut answer = json!({
                "link_token": snapshot.link_token,
                "expiration": plaid_timestamp(snapshot.expiration),
            });
            if let (Some(completion), Some(base), Some(map)) =
                (hosted, &base, answer.as_object_mut())
            {
                let completion = url_field("hosted_link.completion_redirect_uri", completion)?;
                map.insert(
                    "hosted_link_url".into(),
                    hosted_link_url(base, &snapshot, completion).into(),
                );
            }
            shared.world().plaid.links.add_token(snapshot);
            Ok(answer)
        },
    )
    .await
}

/// `{base}/link?token=…[&redirect_uri=…]`: the emulator's hosted Link page for this token.
fn hosted_link_url(base: &str, snapshot: &LinkTokenSnapshot, completion: Option<String>) -> String {
    let mut url = format!("{base}/link?token={}", snapshot.link_token);
    if let Some(redirect) = completion.or_else(|| snapshot.redirect_uri.clone()) {
        url.push_str("&redirect_uri=");
        url.push_str(&percent_encode(&redirect));
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Checks what the schema cannot and builds the link token.
fn check(shared: &Shared, request: LinkTokenCreate) -> Result<LinkTokenSnapshot, PlaidError> {
    non_empty("client_name", &request.client_name)?;
    if !LANGUAGES.contains(&request.language.as_str()) {
        return Err(PlaidError::invalid_field(format!(
            "language must be one of {}",
            LANGUAGES.join(", ")
        )));
    }
    let client_user_id = match (&request.user, &request.user_id) {
        (Some(user), _) => {
            non_empty("user.client_user_id", &user.client_user_id)?;
            Some(user.client_user_id.clone())
        }
        (None, Some(user_id)) => {
            non_empty("user_id", user_id)?;
            None
        }
        (None, None) => return Err(PlaidError::missing_fields(&["user".to_owned()])),
    };
    let products = request.products.unwrap_or_default();
    if products.iter().any(|product| product == "balance") {
        return Err(PlaidError::invalid_field(
            "products must not contain balance: the Balance product needs no initialization",
        ));
    }
    let webhook = url_field("webhook", request.webhook)?;
    let redirect_uri = url_field("redirect_uri", request.redirect_uri)?;
    if let Some(name) = &request.android_package_name {
        non_empty("android_package_name", name)?;
    }
    let now = shared.clock.now();
    let update_item_id = match request.access_token {
        Some(access_token) => {
            non_empty("access_token", &access_token)?;
            let world = shared.world();
            Some(
                world
                    .plaid
                    .item_by_access_token(&access_token)?
                    .item_id
                    .clone(),
            )
        }
        None if products.is_empty() => {
            return Err(PlaidError::missing_fields(&["products".to_owned()]));
        }
        None => None,
    };
    let ttl = if update_item_id.is_some() {
        UPDATE_LINK_TOKEN_TTL
    } else {
        LINK_TOKEN_TTL
    };
    Ok(LinkTokenSnapshot {
        link_token: sandbox_token("link"),
        created_at: now,
        expiration: now.checked_add_signed(ttl).unwrap_or(now),
        client_name: request.client_name,
        language: request.language,
        country_codes: request.country_codes,
        client_user_id,
        products,
        webhook,
        redirect_uri,
        android_package_name: request.android_package_name,
        update_item_id,
        account_selection_enabled: request
            .update
            .and_then(|update| update.account_selection_enabled)
            .unwrap_or(false),
        public_tokens: Vec::new(),
    })
}
