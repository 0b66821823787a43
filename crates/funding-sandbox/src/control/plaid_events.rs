//! Plaid bank-transfer events a test writes itself (fault injection): an event exactly as given,
//! malformed or of a shape Plaid has not sent yet, in the next `/bank_transfer/event/sync` page.

use serde_json::Value;

use super::SandboxControl;
use crate::plaid::webhooks::Outgoing;

impl SandboxControl {
    /// Appends `event` to Plaid's bank-transfer event log as the next event: the sync and the
    /// event list return it exactly as given. Its place in the log (what `after_id` counts) is the
    /// next `event_id`, written into it unless it already carries an `event_id` (which is then sent
    /// as given, readable or not). Queues the events-update webhook, as a simulated event does.
    /// Returns its place.
    pub fn emit_raw_bank_transfer_event(&self, event: Value) -> u64 {
        let now = self.shared.clock.now();
        let event_id = self
            .shared
            .world()
            .plaid
            .bank_transfers
            .record_raw(event, now);
        self.shared.announce(Outgoing::EventsUpdated);
        event_id
    }
}
