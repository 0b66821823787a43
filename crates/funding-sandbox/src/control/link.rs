//! Control of Plaid Link and Items: the link tokens issued, an Item's state, a reset login, any
//! Item webhook, and a whole Link session without a browser ([`SandboxControl::complete_link`],
//! for tests of a back end that need what a front end's `onSuccess` would send).

use serde::Serialize;

use super::{SandboxAccount, SandboxControl};
use crate::error::ControlError;
use crate::plaid::error::PlaidError;
use crate::plaid::item_errors::{GOOD_PASSWORD, GOOD_USERNAME};
use crate::plaid::item_webhooks::{self, ItemWebhookCode};
use crate::plaid::link_flow::{self, AfterLogin};
use crate::plaid::link_store::LinkTokenSnapshot;
use crate::plaid::model::PlaidAccount;

/// An Item as the emulator holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemSnapshot {
    /// Plaid `item_id`.
    pub item_id: String,
    /// `ins_…`.
    pub institution_id: String,
    /// The institution's name, for Plaid's sandbox institutions.
    pub institution_name: Option<String>,
    /// Where its webhooks go (`None`: to the emulator's configured webhook URL, if any).
    pub webhook: Option<String>,
    /// Its products.
    pub products: Vec<String>,
    /// `item.error.error_code` (`ITEM_LOGIN_REQUIRED` after a reset login), `None` when healthy.
    pub error_code: Option<String>,
    /// The accounts the user shared, with their balances.
    pub accounts: Vec<SandboxAccount>,
    /// The names on its accounts (`owners[].names`; `["Alberta Bobbeth Charleson"]` by default).
    pub owner_names: Vec<String>,
    /// Whether its real-time balance reads fail (`INSTITUTION_NOT_RESPONDING`).
    pub balance_unavailable: bool,
}

/// A Link session that succeeded: what `onSuccess(public_token, metadata)` receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkSuccess {
    /// `public-sandbox-…`, for `/item/public_token/exchange`.
    pub public_token: String,
    /// `metadata.link_session_id`.
    pub link_session_id: String,
    /// The Item made (or, in update mode, repaired).
    pub item_id: String,
    /// `metadata.institution.institution_id`.
    pub institution_id: String,
    /// `metadata.institution.name`.
    pub institution_name: String,
    /// `metadata.accounts`: the accounts chosen.
    pub accounts: Vec<SandboxAccount>,
    /// The whole `onSuccess` metadata, as the Link page posts it.
    pub metadata: serde_json::Value,
}

pub(super) fn sandbox_account(account: &PlaidAccount) -> SandboxAccount {
    SandboxAccount {
        account_id: account.account_id.clone(),
        name: account.name.to_owned(),
        mask: account.mask.to_owned(),
        subtype: account.subtype.to_owned(),
        available: account.available,
        current: account.current,
    }
}

fn refused(error: PlaidError) -> ControlError {
    ControlError::Invalid(format!("{}: {}", error.error_code, error.message))
}

impl SandboxControl {
    /// Every link token `/link/token/create` issued, oldest first.
    pub fn link_tokens(&self) -> Vec<LinkTokenSnapshot> {
        self.shared.world().plaid.links.tokens()
    }

    /// One link token, if it was issued.
    pub fn link_token(&self, link_token: &str) -> Option<LinkTokenSnapshot> {
        self.shared.world().plaid.links.token(link_token).cloned()
    }

    /// An Item's state (removed Items are gone).
    pub fn item(&self, item_id: &str) -> Option<ItemSnapshot> {
        let world = self.shared.world();
        let item = world.plaid.item(item_id)?;
        Some(ItemSnapshot {
            item_id: item.item_id.clone(),
            institution_id: item.institution_id.clone(),
            institution_name: item.institution_name().map(str::to_owned),
            webhook: item.webhook.clone(),
            products: item.products.clone(),
            error_code: item.error.as_ref().map(|error| error.error_code.to_owned()),
            accounts: item.accounts.iter().map(sandbox_account).collect(),
            owner_names: item.owner_names.clone(),
            balance_unavailable: item.balance_unavailable,
        })
    }

    /// What `/sandbox/item/reset_login` does: the Item goes to `ITEM_LOGIN_REQUIRED` (its access
    /// token's reads answer that error; `/item/get` shows it) and `ITEM`/`ERROR` is sent to its
    /// webhook URL, else to the configured one, if any. Link in update mode repairs it.
    ///
    /// # Errors
    /// [`ControlError::ItemNotFound`].
    pub fn reset_login(&self, item_id: &str) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        if item_webhooks::reset_login(&self.shared, &mut world, item_id) {
            Ok(())
        } else {
            Err(ControlError::ItemNotFound(item_id.to_owned()))
        }
    }

    /// Sends one Item webhook about `item_id` (any `ITEM` code, `PENDING_EXPIRATION` and
    /// `WEBHOOK_UPDATE_ACKNOWLEDGED` included, which `/sandbox/item/fire_webhook` cannot send),
    /// signed like the others, to the Item's webhook URL, else to the configured one. The Item
    /// does not change.
    ///
    /// # Errors
    /// [`ControlError::ItemNotFound`]; [`ControlError::Invalid`] when there is no URL to send to.
    pub fn fire_item_webhook(
        &self,
        item_id: &str,
        code: ItemWebhookCode,
    ) -> Result<(), ControlError> {
        let world = self.shared.world();
        if world.plaid.item(item_id).is_none() {
            return Err(ControlError::ItemNotFound(item_id.to_owned()));
        }
        if item_webhooks::send_item_webhook(&self.shared, &world, item_id, code) {
            Ok(())
        } else {
            Err(ControlError::Invalid(format!(
                "item {item_id} has no webhook URL and none is configured"
            )))
        }
    }

    /// Does what a user does in the Link page opened with `link_token`: picks `institution_id`
    /// (ignored in update mode), logs in with `user_good`/`pass_good` and chooses the checking
    /// account (update mode: no choice unless `update.account_selection_enabled`). The public
    /// token works like one from the page.
    ///
    /// # Errors
    /// [`ControlError::Invalid`] naming Plaid's error (`INVALID_LINK_TOKEN` for an unknown or
    /// expired token, `INVALID_INSTITUTION`, …).
    pub fn complete_link(
        &self,
        link_token: &str,
        institution_id: &str,
    ) -> Result<LinkSuccess, ControlError> {
        let now = self.shared.clock.now();
        let mut world = self.shared.world();
        let plaid = &mut world.plaid;
        let opened = link_flow::open(plaid, link_token, now).map_err(refused)?;
        let session = opened.link_session_id;
        let after = link_flow::submit_credentials(
            plaid,
            &session,
            institution_id,
            GOOD_USERNAME,
            GOOD_PASSWORD,
            now,
        )
        .map_err(refused)?;
        let result = match after {
            AfterLogin::Done(result) => result,
            AfterLogin::ChooseAccounts(accounts) => {
                let chosen = accounts
                    .iter()
                    .find(|account| account.subtype == "checking")
                    .or(accounts.first())
                    .map(|account| vec![account.account_id.clone()])
                    .unwrap_or_default();
                link_flow::choose_accounts(plaid, &session, &chosen, now).map_err(refused)?
            }
        };
        Ok(LinkSuccess {
            metadata: result.metadata(),
            public_token: result.public_token,
            link_session_id: result.link_session_id,
            item_id: result.item_id,
            institution_id: result.institution_id,
            institution_name: result.institution_name,
            accounts: result.accounts.iter().map(sandbox_account).collect(),
        })
    }
}
