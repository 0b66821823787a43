//! What Link does between opening and `onSuccess`, shared by the Link page and
//! [`crate::SandboxControl::complete_link`]: open a session on a live link token; log in at a
//! sandbox institution (`user_good`/`pass_good`, see `item_errors`); choose accounts. A new link
//! makes an Item with the link token's products and webhook holding only the chosen accounts,
//! and a public token exactly like `/sandbox/public_token/create`'s. Update mode logs in again at
//! the Item's institution and clears the Item's error (Plaid sends no webhook for that: its
//! `LOGIN_REPAIRED` is for repairs made outside the app's update mode); it shows the account
//! picker only with `update.account_selection_enabled`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::PlaidError;
use super::item_errors::check_credentials;
use super::link::check_institution;
use super::model::{Item, PlaidAccount, institution_name};
use super::store::PlaidWorld;

/// A session just opened.
#[derive(Debug)]
pub(crate) struct Opened {
    pub link_session_id: String,
    pub client_name: String,
    /// Update mode: the Item's institution (id, name), where Link logs in again.
    pub update_institution: Option<(String, String)>,
}

/// What follows a good login.
#[derive(Debug)]
pub(crate) enum AfterLogin {
    /// The account picker, with these accounts.
    ChooseAccounts(Vec<PlaidAccount>),
    /// Update mode without the picker: Link is done.
    Done(LinkResult),
}

/// A successful Link: what `onSuccess` gets.
#[derive(Clone, Debug)]
pub(crate) struct LinkResult {
    pub public_token: String,
    pub item_id: String,
    pub institution_id: String,
    pub institution_name: String,
    pub accounts: Vec<PlaidAccount>,
    pub link_session_id: String,
}

impl LinkResult {
    /// `onSuccess`'s metadata, as Plaid's Link gives it.
    pub(crate) fn metadata(&self) -> Value {
        let accounts: Vec<Value> = self.accounts.iter().map(link_account).collect();
        let first = accounts.first().cloned().unwrap_or(Value::Null);
        let account_id = self
            .accounts
            .first()
            .map(|account| Value::String(account.account_id.clone()))
            .unwrap_or(Value::Null);
        json!({
            "institution": {"name": self.institution_name, "institution_id": self.institution_id},
            "accounts": accounts,
            "account": first,
            "account_id": account_id,
            "link_session_id": self.link_session_id,
            "transfer_status": null,
            "public_token": self.public_token,
        })
    }
}

/// An account as Link's callbacks describe it.
pub(crate) fn link_account(account: &PlaidAccount) -> Value {
    json!({
        "id": account.account_id,
        "name": account.name,
        "mask": account.mask,
        "type": "depository",
        "subtype": account.subtype,
        "verification_status": null,
        "class_type": null,
    })
}

fn display_name(institution_id: &str) -> String {
    institution_name(institution_id)
        .map(str::to_owned)
        .unwrap_or_else(|| institution_id.to_owned())
}

fn no_session() -> PlaidError {
    PlaidError::invalid_field("link_session_id: no such Link session, or it is already finished")
}

/// Opens a session on a link token that exists and has not expired.
pub(crate) fn open(
    plaid: &mut PlaidWorld,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<Opened, PlaidError> {
    let token = plaid.links.live_token(link_token, now)?;
    let client_name = token.client_name.clone();
    let update_institution = match &token.update_item_id {
        Some(item_id) => {
            let item = plaid
                .item(item_id)
                .ok_or_else(PlaidError::invalid_access_token)?;
            Some((
                item.institution_id.clone(),
                display_name(&item.institution_id),
            ))
        }
        None => None,
    };
    let institution = update_institution.as_ref().map(|(id, _)| id.clone());
    let link_session_id = plaid.links.open_session(link_token, institution);
    Ok(Opened {
        link_session_id,
        client_name,
        update_institution,
    })
}

/// Logs in at `institution_id` (ignored in update mode, which logs in at the Item's).
pub(crate) fn submit_credentials(
    plaid: &mut PlaidWorld,
    link_session_id: &str,
    institution_id: &str,
    username: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<AfterLogin, PlaidError> {
    let session = plaid
        .links
        .session_mut(link_session_id)
        .filter(|session| !session.finished)
        .ok_or_else(no_session)?
        .clone();
    let token = plaid
        .links
        .token(&session.link_token)
        .ok_or_else(no_session)?
        .clone();
    let institution_id = match (&token.update_item_id, &session.institution_id) {
        (Some(_), Some(item_institution)) => item_institution.clone(),
        _ => {
            check_institution(institution_id)?;
            institution_id.to_owned()
        }
    };
    if let Some(session) = plaid.links.session_mut(link_session_id) {
        session.institution_id = Some(institution_id.clone());
    }
    check_credentials(username, password)?;
    match &token.update_item_id {
        Some(item_id) => {
            let item = plaid
                .item(item_id)
                .ok_or_else(PlaidError::invalid_access_token)?;
            if token.account_selection_enabled {
                return Ok(AfterLogin::ChooseAccounts(item.accounts.clone()));
            }
            let all: Vec<String> = item.accounts.iter().map(|a| a.account_id.clone()).collect();
            finish(plaid, link_session_id, &all, now).map(AfterLogin::Done)
        }
        None => {
            let item = Item::sandbox(
                institution_id,
                token.products.clone(),
                token.webhook.clone(),
            );
            let accounts = item.accounts.clone();
            if let Some(session) = plaid.links.session_mut(link_session_id) {
                session.pending_item = Some(item);
            }
            Ok(AfterLogin::ChooseAccounts(accounts))
        }
    }
}

/// The user chose `account_ids` (at least one, all of the session's Item): Link succeeds.
pub(crate) fn choose_accounts(
    plaid: &mut PlaidWorld,
    link_session_id: &str,
    account_ids: &[String],
    now: DateTime<Utc>,
) -> Result<LinkResult, PlaidError> {
    let session = plaid
        .links
        .session_mut(link_session_id)
        .filter(|session| !session.finished)
        .ok_or_else(no_session)?;
    let is_update = session.pending_item.is_none();
    let known: Vec<String> = match &session.pending_item {
        Some(item) => item.accounts.iter().map(|a| a.account_id.clone()).collect(),
        None => Vec::new(),
    };
    if account_ids.is_empty() {
        return Err(PlaidError::invalid_field(
            "account_ids must name at least one account",
        ));
    }
    if !is_update && account_ids.iter().any(|id| !known.contains(id)) {
        return Err(PlaidError::invalid_account_id());
    }
    finish(plaid, link_session_id, account_ids, now)
}

/// Makes (new link) or repairs (update mode) the Item and issues the public token.
fn finish(
    plaid: &mut PlaidWorld,
    link_session_id: &str,
    account_ids: &[String],
    now: DateTime<Utc>,
) -> Result<LinkResult, PlaidError> {
    let session = plaid
        .links
        .session_mut(link_session_id)
        .ok_or_else(no_session)?;
    let pending = session.pending_item.take();
    let link_token = session.link_token.clone();
    let token = plaid
        .links
        .token(&link_token)
        .ok_or_else(no_session)?
        .clone();
    let item_id = match (pending, &token.update_item_id) {
        (Some(mut item), _) => {
            item.accounts
                .retain(|account| account_ids.contains(&account.account_id));
            plaid.add_item(item)
        }
        (None, Some(item_id)) => {
            let item = plaid
                .item_mut(item_id)
                .ok_or_else(PlaidError::invalid_access_token)?;
            if account_ids.iter().any(|id| item.account(id).is_none()) {
                return Err(PlaidError::invalid_account_id());
            }
            item.error = None;
            for product in &token.products {
                if !item.products.contains(product) {
                    item.products.push(product.clone());
                }
            }
            item_id.clone()
        }
        (None, None) => return Err(no_session()),
    };
    let item = plaid.item(&item_id).ok_or_else(no_session)?;
    let accounts: Vec<PlaidAccount> = item
        .accounts
        .iter()
        .filter(|account| account_ids.contains(&account.account_id))
        .cloned()
        .collect();
    let institution_id = item.institution_id.clone();
    let public_token = plaid.issue_public_token(&item_id, now);
    if let Some(session) = plaid.links.session_mut(link_session_id) {
        session.finished = true;
    }
    if let Some(token) = plaid.links.token_mut(&link_token) {
        token.public_tokens.push(public_token.clone());
    }
    Ok(LinkResult {
        public_token,
        item_id,
        institution_name: display_name(&institution_id),
        institution_id,
        accounts,
        link_session_id: link_session_id.to_owned(),
    })
}
