//! Link tokens and Link sessions. A link token remembers how `/link/token/create` set it up
//! (products, webhook, redirect URI, the Item it updates in update mode) and every public token
//! Link made with it; it expires 4 hours after creation (30 minutes in update mode) on the
//! emulator clock and may open Link any number of times until then, as at Plaid. A Link
//! session is one opening of Link (`link_session_id`): the institution chosen and, between a
//! good login and the account choice, the Item being made.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::PlaidError;
use super::item_errors::{expired_link_token, invalid_link_token};
use super::model::Item;

/// How long a new link token lives.
pub(crate) const LINK_TOKEN_TTL: chrono::Duration = chrono::Duration::hours(4);
/// How long an update-mode link token lives.
pub(crate) const UPDATE_LINK_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(30);
/// At most this many Link sessions are kept (the oldest are forgotten first).
const MAX_SESSIONS: usize = 10_000;

/// A link token as `/link/token/create` made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkTokenSnapshot {
    /// `link-sandbox-<uuid>`.
    pub link_token: String,
    /// When it was made (emulator clock).
    pub created_at: DateTime<Utc>,
    /// When it stops opening Link.
    pub expiration: DateTime<Utc>,
    /// `client_name`.
    pub client_name: String,
    /// `language`.
    pub language: String,
    /// `country_codes`.
    pub country_codes: Vec<String>,
    /// `user.client_user_id` (`None` when the request gave `user_id` instead).
    pub client_user_id: Option<String>,
    /// `products` (empty in update mode unless some were given).
    pub products: Vec<String>,
    /// `webhook`: where the new Item's webhooks go (no effect in update mode, as at Plaid).
    pub webhook: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `android_package_name`.
    pub android_package_name: Option<String>,
    /// Update mode: the Item behind the request's `access_token`.
    pub update_item_id: Option<String>,
    /// `update.account_selection_enabled`: update mode shows the account picker.
    pub account_selection_enabled: bool,
    /// Every public token Link made with this link token, oldest first.
    pub public_tokens: Vec<String>,
}

impl LinkTokenSnapshot {
    /// Whether Link opens in update mode.
    pub fn is_update_mode(&self) -> bool {
        self.update_item_id.is_some()
    }
}

/// One opening of Link.
#[derive(Clone, Debug)]
pub(crate) struct LinkSession {
    pub link_token: String,
    /// The institution the user picked (update mode: the Item's).
    pub institution_id: Option<String>,
    /// After a good login in a new link: the Item, until the user picks accounts.
    pub pending_item: Option<Item>,
    /// Set once Link succeeded: nothing more can happen in this session.
    pub finished: bool,
}

/// All link tokens and Link sessions.
#[derive(Debug, Default)]
pub(crate) struct LinkBook {
    tokens: HashMap<String, LinkTokenSnapshot>,
    /// Link tokens, oldest first.
    order: Vec<String>,
    sessions: HashMap<String, LinkSession>,
    session_order: VecDeque<String>,
}

impl LinkBook {
    pub(crate) fn add_token(&mut self, token: LinkTokenSnapshot) {
        self.order.push(token.link_token.clone());
        self.tokens.insert(token.link_token.clone(), token);
    }

    /// Every link token, oldest first.
    pub(crate) fn tokens(&self) -> Vec<LinkTokenSnapshot> {
        self.order
            .iter()
            .filter_map(|token| self.tokens.get(token).cloned())
            .collect()
    }

    pub(crate) fn token(&self, link_token: &str) -> Option<&LinkTokenSnapshot> {
        self.tokens.get(link_token)
    }

    pub(crate) fn token_mut(&mut self, link_token: &str) -> Option<&mut LinkTokenSnapshot> {
        self.tokens.get_mut(link_token)
    }

    /// The link token, if it exists and has not expired: what Link checks when it opens.
    pub(crate) fn live_token(
        &self,
        link_token: &str,
        now: DateTime<Utc>,
    ) -> Result<&LinkTokenSnapshot, PlaidError> {
        let token = self.tokens.get(link_token).ok_or_else(invalid_link_token)?;
        if now >= token.expiration {
            return Err(expired_link_token());
        }
        Ok(token)
    }

    /// Starts a session on a link token (already checked).
    pub(crate) fn open_session(
        &mut self,
        link_token: &str,
        institution_id: Option<String>,
    ) -> String {
        let link_session_id = uuid::Uuid::new_v4().to_string();
        while self.session_order.len() >= MAX_SESSIONS {
            if let Some(old) = self.session_order.pop_front() {
                self.sessions.remove(&old);
            }
        }
        self.session_order.push_back(link_session_id.clone());
        self.sessions.insert(
            link_session_id.clone(),
            LinkSession {
                link_token: link_token.to_owned(),
                institution_id,
                pending_item: None,
                finished: false,
            },
        );
        link_session_id
    }

    pub(crate) fn session_mut(&mut self, link_session_id: &str) -> Option<&mut LinkSession> {
        self.sessions.get_mut(link_session_id)
    }
}
