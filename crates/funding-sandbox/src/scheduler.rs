//! Time-driven lifecycle steps. Handlers and control calls put a [`Due`] step in the
//! [`Schedule`] (relationship approval, cancel completion, next transfer step, settlement); one background
//! task sleeps until the earliest step is due on the emulator clock, applies every due step under
//! the state lock, and goes back to sleep. Advancing the clock or scheduling wakes it early.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::state::Shared;

/// What to do when a step is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// QUEUED → APPROVED.
    ApproveRelationship,
    /// CANCEL_REQUESTED → CANCELED.
    FinishRelationshipCancel,
    /// QUEUED → SENT_TO_CLEARING → COMPLETE, one step per run.
    AdvanceTransfer,
    /// COMPLETE → SETTLED (only when `settled_after_complete` is set).
    SettleTransfer,
}

/// A step on one entity, valid only while the entity is still at `version` (any other change,
/// such as a status set through control, makes it stale).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Due {
    pub at: DateTime<Utc>,
    pub step: Step,
    pub entity: Uuid,
    pub version: u64,
    seq: u64,
}

/// Pending steps.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    items: Vec<Due>,
    seq: u64,
}

impl Schedule {
    pub(crate) fn push(&mut self, at: DateTime<Utc>, step: Step, entity: Uuid, version: u64) {
        self.seq += 1;
        self.items.push(Due {
            at,
            step,
            entity,
            version,
            seq: self.seq,
        });
    }

    /// Removes and returns the steps due at `now`, earliest first.
    pub(crate) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let (mut due, later): (Vec<Due>, Vec<Due>) =
            self.items.drain(..).partition(|item| item.at <= now);
        self.items = later;
        due.sort_by_key(|item| (item.at, item.seq));
        due
    }

    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.items.iter().map(|item| item.at).min()
    }
}

/// Longest nap when nothing is scheduled; any wake-up cuts it short.
const IDLE: Duration = Duration::from_secs(3600);
/// Bound on steps applied in one pass, against a runaway zero-delay loop.
const MAX_STEPS_PER_PASS: usize = 100_000;

/// The background task; ends when the emulator shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let next = {
            let now = shared.clock.now();
            let mut world = shared.world();
            let mut applied = 0;
            loop {
                let due = world.schedule.take_due(now);
                if due.is_empty() || applied > MAX_STEPS_PER_PASS {
                    break;
                }
                applied += due.len();
                for item in due {
                    world.apply_step(item, now);
                }
            }
            world.schedule.next_due()
        };
        let nap = next
            .map(|at| (at - shared.clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(IDLE);
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(nap) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_steps_come_out_earliest_first_and_later_ones_stay() {
        let now = Utc::now();
        let mut schedule = Schedule::default();
        schedule.push(
            now + chrono::Duration::seconds(5),
            Step::AdvanceTransfer,
            Uuid::nil(),
            1,
        );
        schedule.push(now, Step::ApproveRelationship, Uuid::nil(), 2);
        schedule.push(
            now - chrono::Duration::seconds(1),
            Step::AdvanceTransfer,
            Uuid::nil(),
            3,
        );
        let due = schedule.take_due(now);
        assert_eq!(
            due.iter().map(|d| d.version).collect::<Vec<_>>(),
            vec![3, 2]
        );
        assert_eq!(
            schedule.next_due(),
            Some(now + chrono::Duration::seconds(5))
        );
    }
}
