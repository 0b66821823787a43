//! The emulator's shared state: one [`World`] behind a mutex (Plaid items and tokens, Alpaca
//! accounts, relationships and transfers, the event log, the schedule, faults, the call log and
//! the webhook state) plus the clock, the scheduler's wake-up, the webhook outbox and the shutdown
//! token. Handlers lock the world for a
//! short, synchronous critical section and never hold the lock across an `.await`.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::alpaca::auth::RateWindow;
use crate::alpaca::events::EventLog;
use crate::alpaca::settings::AlpacaSettings;
use crate::alpaca::store::AlpacaWorld;
use crate::clock::Clock;
use crate::config::SandboxConfig;
use crate::control::calls::RecordedCall;
use crate::control::faults::FaultBook;
use crate::plaid::store::PlaidWorld;
use crate::plaid::webhooks::{Outbox, Outgoing, WebhookBook};
use crate::scheduler::Schedule;

/// Settings that control may change at run time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub relationship_approval_delay: Duration,
    pub transfer_step_delay: Duration,
    pub heartbeat_interval: Duration,
    pub public_token_ttl: Duration,
    /// Optional behaviours of the live Alpaca API (all off by default).
    pub alpaca: AlpacaSettings,
}

/// Everything mutable, guarded by one lock.
#[derive(Debug)]
pub(crate) struct World {
    pub settings: Settings,
    pub plaid: PlaidWorld,
    pub alpaca: AlpacaWorld,
    pub events: EventLog,
    pub schedule: Schedule,
    pub faults: FaultBook,
    pub calls: Vec<RecordedCall>,
    /// Plaid webhook URL, signing keys, webhook faults and deliveries.
    pub webhooks: WebhookBook,
}

/// State shared by both listeners, the scheduler and [`crate::SandboxControl`].
pub(crate) struct Shared {
    world: Mutex<World>,
    pub clock: Clock,
    /// Wakes the scheduler (something was scheduled or the clock moved).
    pub wake: Notify,
    pub shutdown: CancellationToken,
    pub plaid_credentials: Option<(String, String)>,
    pub alpaca_credentials: Option<(String, String)>,
    /// Alpaca's per-minute call counter behind the `X-RateLimit-*` headers.
    pub rate: RateWindow,
    /// Webhooks to send, read by the webhook dispatcher.
    outbox: Outbox,
}

impl fmt::Debug for Shared {
    /// Neither the world (large) nor the credentials (secret) are printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("clock", &self.clock)
            .field("stopping", &self.shutdown.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(config: &SandboxConfig, webhooks: WebhookBook, outbox: Outbox) -> Self {
        let settings = Settings {
            relationship_approval_delay: config.relationship_approval_delay,
            transfer_step_delay: config.transfer_step_delay,
            heartbeat_interval: config.heartbeat_interval,
            public_token_ttl: config.public_token_ttl,
            alpaca: AlpacaSettings::default(),
        };
        Self {
            world: Mutex::new(World {
                settings,
                plaid: PlaidWorld::default(),
                alpaca: AlpacaWorld::default(),
                events: EventLog::default(),
                schedule: Schedule::default(),
                faults: FaultBook::default(),
                calls: Vec::new(),
                webhooks,
            }),
            clock: Clock::default(),
            wake: Notify::new(),
            shutdown: CancellationToken::new(),
            plaid_credentials: config.plaid_credentials.clone(),
            alpaca_credentials: config.alpaca_credentials.clone(),
            rate: RateWindow::default(),
            outbox,
        }
    }

    /// Locks the world. A panic elsewhere while holding the lock does not make the state
    /// unusable: the emulator keeps serving with whatever was written.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a webhook. Never blocks, so it may be called with the world locked; the dispatcher
    /// takes the lock itself, so whatever the caller recorded is visible before the webhook goes.
    /// After shutdown nothing is sent.
    pub(crate) fn announce(&self, outgoing: Outgoing) {
        let _ = self.outbox.send(outgoing);
    }

    /// Tells the scheduler to look at the schedule again.
    pub(crate) fn wake_scheduler(&self) {
        self.wake.notify_one();
    }
}
