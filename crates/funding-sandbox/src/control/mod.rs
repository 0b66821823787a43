//! In-process control of a running emulator ([`SandboxControl`]): lifecycle delays, driving
//! relationships and transfers to any status, fault injection, the call log, the clock, account
//! status and cash, stream disconnects and duplicated or late stream events, sandbox Plaid links,
//! the tokens Plaid issued, link tokens, Items (reset login, Item webhooks, Link without a
//! browser: [`link`]), Plaid bank-transfer events written as given (malformed ones), the Plaid
//! webhooks (URL, key rotation, delivery faults, the delivery log), and what the risk checks read
//! (an Item's balances and owner names, an unavailable balance, an account's owner: [`risk`]). The HTTP control API
//! (`/_sandbox/…`, see [`http`]) calls exactly these methods (raw Plaid events are in-process only).

pub(crate) mod calls;
pub(crate) mod faults;
mod fields;
pub(crate) mod http;
mod http_faults;
mod http_link;
mod http_risk;
mod http_settings;
pub(crate) mod link;
mod plaid_events;
pub(crate) mod risk;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::alpaca::settings::AlpacaSettings;
use crate::alpaca::store::AccountSnapshot;
use crate::error::ControlError;
use crate::plaid::bank_transfer_store::Failure;
use crate::plaid::model::Item;
use crate::plaid::store::IssuedTokens;
use crate::plaid::webhooks::{Outgoing, WebhookDelivery, check_url};
use crate::state::Shared;
use calls::RecordedCall;
use faults::{EventFault, Fault, WebhookFault};

/// Handle on a running emulator's state; cheap to clone.
#[derive(Clone, Debug)]
pub struct SandboxControl {
    shared: Arc<Shared>,
}

/// The run-time delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delays {
    /// QUEUED → APPROVED (and CANCEL_REQUESTED → CANCELED) for ACH relationships.
    pub relationship_approval_delay: Duration,
    /// Between transfer steps (QUEUED → SENT_TO_CLEARING → COMPLETE).
    pub transfer_step_delay: Duration,
    /// Between `:heartbeat` lines on event streams opened from now on.
    pub heartbeat_interval: Duration,
}

/// A Plaid sandbox link made without the HTTP API: the public token and the accounts behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxLink {
    /// `public-sandbox-…`, ready for `/item/public_token/exchange`.
    pub public_token: String,
    /// The item's id.
    pub item_id: String,
    /// The item's accounts (a checking and a savings account).
    pub accounts: Vec<SandboxAccount>,
}

/// One account of a [`SandboxLink`] (or of an Item).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxAccount {
    /// Plaid `account_id`.
    pub account_id: String,
    /// `Plaid Checking` or `Plaid Saving`.
    pub name: String,
    /// Last digits (`0000`, `1111`).
    pub mask: String,
    /// `checking` or `savings`.
    pub subtype: String,
    /// `balances.available` (100 and 200 by default; `None`: null). JSON: a decimal string.
    pub available: Option<Decimal>,
    /// `balances.current` (110 and 210 by default; `None`: null). JSON: a decimal string.
    pub current: Option<Decimal>,
}

impl SandboxControl {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Current delays.
    pub fn delays(&self) -> Delays {
        let settings = self.shared.world().settings;
        Delays {
            relationship_approval_delay: settings.relationship_approval_delay,
            transfer_step_delay: settings.transfer_step_delay,
            heartbeat_interval: settings.heartbeat_interval,
        }
    }

    /// Sets the approval delay of relationships created (or deleted) from now on.
    pub fn set_relationship_approval_delay(&self, delay: Duration) {
        self.shared.world().settings.relationship_approval_delay = delay;
    }

    /// Sets the step delay of transfer steps scheduled from now on.
    pub fn set_transfer_step_delay(&self, delay: Duration) {
        self.shared.world().settings.transfer_step_delay = delay;
    }

    /// Sets the heartbeat interval of streams opened from now on.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.shared.world().settings.heartbeat_interval = interval;
    }

    /// Moves an ACH relationship to `status` (any string, e.g. `REJECTED`), with an optional
    /// reason carried by the funding event. Automatic progress of that relationship stops.
    pub fn set_relationship_status(
        &self,
        relationship_id: Uuid,
        status: impl Into<String>,
        reason: Option<String>,
    ) -> Result<(), ControlError> {
        let status = checked_status(status.into())?;
        let now = self.shared.clock.now();
        self.shared
            .world()
            .change_relationship(relationship_id, &status, reason.as_deref(), now)
            .map(|_| ())
    }

    /// Moves a transfer to `status` (e.g. `RETURNED` after COMPLETE, with reason
    /// `R01 insufficient funds`); cash follows (it counts exactly while COMPLETE). Automatic
    /// progress of that transfer stops.
    pub fn set_transfer_status(
        &self,
        transfer_id: Uuid,
        status: impl Into<String>,
        reason: Option<String>,
    ) -> Result<(), ControlError> {
        let status = checked_status(status.into())?;
        let now = self.shared.clock.now();
        self.shared
            .world()
            .change_transfer(transfer_id, &status, reason.as_deref(), now)
            .map(|_| ())
    }

    /// Adds a fault rule (first matching rule wins).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.world().faults.add(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// Every provider request received so far, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.world().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn reset_calls(&self) {
        self.shared.world().calls.clear();
    }

    /// Moves the emulator clock forward; due lifecycle steps run at once.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.wake_scheduler();
    }

    /// The emulator clock's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// The funding side of an Alpaca account.
    pub fn account(&self, account_id: Uuid) -> AccountSnapshot {
        self.shared.world().alpaca.account(account_id)
    }

    /// Sets an account's status (anything but `ACTIVE` refuses new relationships and transfers).
    pub fn set_account_status(&self, account_id: Uuid, status: impl Into<String>) {
        self.shared.world().alpaca.account_mut(account_id).status = status.into();
    }

    /// Sets an account's cash (for withdrawal tests).
    pub fn set_account_cash(&self, account_id: Uuid, cash: Decimal) {
        self.shared.world().alpaca.account_mut(account_id).cash = cash;
    }

    /// Sends `raw` as the next event on the funding stream, exactly as given (fault injection: an
    /// event a reader cannot parse). It is kept in the log like any other, so replays carry it.
    pub fn emit_raw_funding_event(&self, raw: &str) {
        let now = self.shared.clock.now();
        self.shared.world().events.emit_raw(now, raw);
    }

    /// Adds a rule for the funding stream's next live events (sent twice and/or late); rules
    /// apply in order.
    pub fn inject_event_fault(&self, fault: EventFault) {
        self.shared.world().events.faults.add(fault);
    }

    /// The funding stream skips its next `count` live events and then writes Alpaca's
    /// `: you are reading too slowly, dropped N messages`; the events stay in the log, so a
    /// replay with `since_id` has them. Same as `inject_event_fault(EventFault::dropped(count))`.
    pub fn drop_live_events(&self, count: u32) {
        self.inject_event_fault(EventFault::dropped(count));
    }

    /// The optional Alpaca behaviours now in force.
    pub fn alpaca_settings(&self) -> AlpacaSettings {
        self.shared.world().settings.alpaca
    }

    /// Replaces the optional Alpaca behaviours (start from [`Self::alpaca_settings`] to change
    /// one). A fee applies to transfers created from now on, a settlement delay to transfers that
    /// complete from now on; the others at once.
    ///
    /// # Errors
    /// [`ControlError::Invalid`] for a negative `ach_fee` or a `list_page_cap` of 0.
    pub fn set_alpaca_settings(&self, settings: AlpacaSettings) -> Result<(), ControlError> {
        settings.check()?;
        self.shared.world().settings.alpaca = settings;
        Ok(())
    }

    /// Removes every funding stream rule (events already held back still go out, late).
    pub fn clear_event_faults(&self) {
        self.shared.world().events.faults.clear();
    }

    /// Closes every open event stream (subscribers must reconnect, e.g. with `since_id`).
    pub fn disconnect_streams(&self) {
        self.shared.world().events.disconnect_all();
    }

    /// Every funding event emitted so far, as sent on the stream, oldest first.
    pub fn funding_events(&self) -> Vec<serde_json::Value> {
        self.shared
            .world()
            .events
            .all()
            .iter()
            .filter_map(|event| serde_json::from_str(&event.json).ok())
            .collect()
    }

    /// Does what `/sandbox/public_token/create` does (products `auth` and `identity`), and also
    /// returns the item's account ids, which Plaid Link would report to the front end.
    pub fn create_public_token(&self, institution_id: &str) -> Result<SandboxLink, ControlError> {
        crate::plaid::link::check_institution(institution_id)
            .map_err(|error| ControlError::Invalid(error.message))?;
        let now = self.shared.clock.now();
        let products = vec!["auth".to_owned(), "identity".to_owned()];
        let item = Item::sandbox(institution_id.to_owned(), products, None);
        let accounts = item.accounts.iter().map(link::sandbox_account).collect();
        let mut world = self.shared.world();
        let item_id = world.plaid.add_item(item);
        let public_token = world.plaid.issue_public_token(&item_id, now);
        Ok(SandboxLink {
            public_token,
            item_id,
            accounts,
        })
    }
}

/// Load generation (`funding-bench`'s event ingestion).
impl SandboxControl {
    /// What `/sandbox/bank_transfer/simulate` does, for many bank transfers at once (Plaid ids):
    /// each one whose status allows `event_type` (pending → posted | failed, posted → reversed)
    /// moves and records its event; the others are skipped. One lock for the batch and one
    /// events-update webhook after it, so that a hundred thousand events take a moment. Returns
    /// how many moved.
    pub fn simulate_bank_transfers(
        &self,
        bank_transfer_ids: &[String],
        event_type: &str,
        ach_return_code: Option<&str>,
    ) -> usize {
        let now = self.shared.clock.now();
        let mut moved = 0;
        {
            let mut world = self.shared.world();
            let transfers = &mut world.plaid.bank_transfers;
            for id in bank_transfer_ids {
                let Some(status) = transfers.get(id).map(|t| t.status.clone()) else {
                    continue;
                };
                let allowed = matches!(
                    (status.as_str(), event_type),
                    ("pending", "posted" | "failed") | ("posted", "reversed")
                );
                if !allowed {
                    continue;
                }
                let failure = (event_type != "posted").then(|| Failure {
                    ach_return_code: ach_return_code.map(str::to_owned),
                    description: None,
                });
                if transfers.change(id, event_type, failure, now) {
                    moved += 1;
                }
            }
        }
        if moved > 0 {
            self.shared.announce(Outgoing::EventsUpdated);
        }
        moved
    }
}

/// Plaid webhooks.
impl SandboxControl {
    /// Sets (`Some`, an absolute http or https URL) or clears (`None`) where the
    /// `BANK_TRANSFERS_EVENTS_UPDATE` webhooks go; applies to webhooks queued from now on.
    pub fn set_plaid_webhook_url(&self, url: Option<&str>) -> Result<(), ControlError> {
        let url = url
            .map(check_url)
            .transpose()
            .map_err(ControlError::Invalid)?;
        self.shared.world().webhooks.url = url;
        Ok(())
    }

    /// Every access and processor token the Plaid side has issued so far (removed items'
    /// included): what a caller scans its logs and database for.
    pub fn issued_tokens(&self) -> IssuedTokens {
        self.shared.world().plaid.issued.clone()
    }

    /// Where the events-update webhooks go now.
    pub fn plaid_webhook_url(&self) -> Option<String> {
        self.shared.world().webhooks.url.clone()
    }

    /// `kid` of the key that signs webhooks now.
    pub fn webhook_key_id(&self) -> String {
        self.shared.world().webhooks.keys.current().kid.clone()
    }

    /// Expires the current signing key (`expired_at` = now; `/webhook_verification_key/get`
    /// still serves it) and makes a new random one, which signs every webhook from now on.
    /// Returns the new key's `kid`.
    pub fn rotate_webhook_key(&self) -> Result<String, ControlError> {
        self.rotate_webhook_key_reporting().map(|(new, _)| new)
    }

    /// Like [`Self::rotate_webhook_key`], also returning the `kid` it expired.
    pub(crate) fn rotate_webhook_key_reporting(&self) -> Result<(String, String), ControlError> {
        let now = self.shared.clock.now().timestamp();
        let mut world = self.shared.world();
        let expired = world.webhooks.keys.current().kid.clone();
        let new = world
            .webhooks
            .keys
            .rotate(now)
            .map_err(ControlError::Internal)?;
        Ok((new, expired))
    }

    /// The `Plaid-Verification` header the emulator would send with `body`, signed by its current
    /// key but with `iat` as given: for tests of a receiver's checks (a stale `iat`, a body that
    /// was altered after signing), which need Plaid's own signature on what Plaid never sent.
    pub fn sign_plaid_webhook(&self, body: &[u8], iat: i64) -> Result<String, ControlError> {
        self.shared
            .world()
            .webhooks
            .keys
            .current()
            .sign(body, iat)
            .map_err(|error| ControlError::Internal(format!("cannot sign the webhook: {error}")))
    }

    /// Adds a webhook rule (duplicate and/or delay the next webhooks); rules apply in order.
    pub fn inject_webhook_fault(&self, fault: WebhookFault) {
        self.shared.world().webhooks.faults.add(fault);
    }

    /// Removes every webhook rule.
    pub fn clear_webhook_faults(&self) {
        self.shared.world().webhooks.faults.clear();
    }

    /// Every webhook delivery attempt so far, oldest first (a duplicated webhook is two).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.world().webhooks.deliveries.clone()
    }

    /// Forgets the delivery log.
    pub fn reset_webhook_deliveries(&self) {
        self.shared.world().webhooks.deliveries.clear();
    }
}

fn checked_status(status: String) -> Result<String, ControlError> {
    let trimmed = status.trim();
    if trimmed.is_empty() {
        return Err(ControlError::Invalid("status must not be empty".into()));
    }
    Ok(trimmed.to_owned())
}
