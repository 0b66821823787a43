//! Plaid's state: items, and the three kinds of tokens that point at them. A public token is
//! single-use and expires after `public_token_ttl` on the emulator clock; an access token lives
//! until `/item/remove`; a processor token names one account of an item and one processor, and is
//! what the Alpaca emulator accepts when an ACH relationship is created.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::bank_transfer_store::BankTransfers;
use super::error::PlaidError;
use super::link_store::LinkBook;
use super::model::{Item, PlaidAccount};
use crate::ids::sandbox_token;

#[derive(Clone, Debug)]
struct PublicToken {
    item_id: String,
    created_at: DateTime<Utc>,
}

/// What a processor token grants.
#[derive(Clone, Debug)]
pub(crate) struct ProcessorGrant {
    pub item_id: String,
    pub account_id: String,
    /// The processor it was made for; `None` for `/sandbox/processor_token/create` tokens, which
    /// any processor accepts.
    pub processor: Option<String>,
}

/// All Plaid state.
#[derive(Debug, Default)]
pub(crate) struct PlaidWorld {
    items: HashMap<String, Item>,
    public_tokens: HashMap<String, PublicToken>,
    access_tokens: HashMap<String, String>,
    processor_tokens: HashMap<String, ProcessorGrant>,
    /// Every access and processor token ever issued, removed items' included, oldest first (for
    /// a caller's scan of its own logs and database for leaked tokens).
    pub issued: IssuedTokens,
    /// Legacy Bank Transfers and their events.
    pub bank_transfers: BankTransfers,
    /// Link tokens and Link sessions.
    pub links: LinkBook,
}

/// The secrets the emulator's Plaid side has handed out.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IssuedTokens {
    /// `access-sandbox-…`, from `/item/public_token/exchange`.
    pub access_tokens: Vec<String>,
    /// `processor-sandbox-…`, from `/processor/token/create` and `/sandbox/processor_token/create`.
    pub processor_tokens: Vec<String>,
}

impl PlaidWorld {
    /// Stores a new item and returns its id.
    pub(crate) fn add_item(&mut self, item: Item) -> String {
        let item_id = item.item_id.clone();
        self.items.insert(item_id.clone(), item);
        item_id
    }

    pub(crate) fn item(&self, item_id: &str) -> Option<&Item> {
        self.items.get(item_id)
    }

    pub(crate) fn item_mut(&mut self, item_id: &str) -> Option<&mut Item> {
        self.items.get_mut(item_id)
    }

    pub(crate) fn issue_public_token(&mut self, item_id: &str, now: DateTime<Utc>) -> String {
        let token = sandbox_token("public");
        self.public_tokens.insert(
            token.clone(),
            PublicToken {
                item_id: item_id.to_owned(),
                created_at: now,
            },
        );
        token
    }

    /// Exchanges a public token for `(access_token, item_id)`. The token is consumed: a second
    /// exchange fails like an unknown token, as at Plaid. An expired token stays expired.
    pub(crate) fn exchange(
        &mut self,
        public_token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(String, String), PlaidError> {
        let record = self
            .public_tokens
            .get(public_token)
            .ok_or_else(PlaidError::invalid_public_token)?;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let expired = record
            .created_at
            .checked_add_signed(ttl)
            .is_some_and(|deadline| now >= deadline);
        if expired {
            return Err(PlaidError::expired_public_token());
        }
        let item_id = record.item_id.clone();
        self.public_tokens.remove(public_token);
        let access_token = sandbox_token("access");
        self.issued.access_tokens.push(access_token.clone());
        self.access_tokens
            .insert(access_token.clone(), item_id.clone());
        Ok((access_token, item_id))
    }

    /// The item behind an access token.
    pub(crate) fn item_by_access_token(&self, access_token: &str) -> Result<&Item, PlaidError> {
        self.access_tokens
            .get(access_token)
            .and_then(|item_id| self.items.get(item_id))
            .ok_or_else(PlaidError::invalid_access_token)
    }

    /// The item behind an access token, refused with the Item's own error when it has one
    /// (`ITEM_LOGIN_REQUIRED` after a reset login): what endpoints that reach the institution do.
    pub(crate) fn usable_item_by_access_token(
        &self,
        access_token: &str,
    ) -> Result<&Item, PlaidError> {
        let item = self.item_by_access_token(access_token)?;
        match &item.error {
            Some(error) => Err(error.clone()),
            None => Ok(item),
        }
    }

    pub(crate) fn issue_processor_token(
        &mut self,
        item_id: &str,
        account_id: &str,
        processor: Option<String>,
    ) -> String {
        let token = sandbox_token("processor");
        self.issued.processor_tokens.push(token.clone());
        self.processor_tokens.insert(
            token.clone(),
            ProcessorGrant {
                item_id: item_id.to_owned(),
                account_id: account_id.to_owned(),
                processor,
            },
        );
        token
    }

    /// The grant, item and account behind a processor token.
    pub(crate) fn resolve_processor_token(
        &self,
        processor_token: &str,
    ) -> Option<(&ProcessorGrant, &Item, &PlaidAccount)> {
        let grant = self.processor_tokens.get(processor_token)?;
        let item = self.items.get(&grant.item_id)?;
        let account = item.account(&grant.account_id)?;
        Some((grant, item, account))
    }

    /// Removes the item behind an access token, with every token pointing at it.
    pub(crate) fn remove_item(&mut self, access_token: &str) -> Result<(), PlaidError> {
        let item_id = self
            .access_tokens
            .get(access_token)
            .cloned()
            .ok_or_else(PlaidError::invalid_access_token)?;
        self.items.remove(&item_id);
        self.access_tokens.retain(|_, item| *item != item_id);
        self.public_tokens
            .retain(|_, token| token.item_id != item_id);
        self.processor_tokens
            .retain(|_, grant| grant.item_id != item_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_with_token(now: DateTime<Utc>) -> (PlaidWorld, String) {
        let mut world = PlaidWorld::default();
        let item = Item::sandbox("ins_109508".into(), vec!["auth".into()], None);
        let item_id = world.add_item(item);
        let token = world.issue_public_token(&item_id, now);
        (world, token)
    }

    #[test]
    fn a_public_token_exchanges_once() {
        let now = Utc::now();
        let (mut world, token) = world_with_token(now);
        let ttl = Duration::from_secs(1800);
        assert!(world.exchange(&token, now, ttl).is_ok());
        let again = world.exchange(&token, now, ttl).unwrap_err();
        assert_eq!(again.error_code, "INVALID_PUBLIC_TOKEN");
    }

    #[test]
    fn a_public_token_expires_after_its_ttl() {
        let now = Utc::now();
        let (mut world, token) = world_with_token(now);
        let later = now + chrono::Duration::minutes(30);
        let error = world
            .exchange(&token, later, Duration::from_secs(1800))
            .unwrap_err();
        assert!(error.message.contains("expired"));
    }

    #[test]
    fn removing_an_item_revokes_its_processor_tokens() {
        let now = Utc::now();
        let (mut world, token) = world_with_token(now);
        let (access, item_id) = world
            .exchange(&token, now, Duration::from_secs(60))
            .unwrap();
        let account_id = world.item(&item_id).unwrap().accounts[0].account_id.clone();
        let processor = world.issue_processor_token(&item_id, &account_id, Some("alpaca".into()));
        world.remove_item(&access).unwrap();
        assert!(world.resolve_processor_token(&processor).is_none());
        assert!(world.item_by_access_token(&access).is_err());
    }
}
