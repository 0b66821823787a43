//! The bank-transfer use cases on the Plaid processor rail (`/processor/bank_transfer/create`):
//! create (every rule of the endpoint checked at the door, idempotent per caller and key, then
//! submitted by the engine with the same idempotency key on every attempt, so Plaid makes one
//! transfer however often it is sent), read, list, cancel (only while Plaid says `cancellable`),
//! following each transfer from Plaid's event sync (woken by verified webhooks, backed up by a
//! periodic sync) and reconciling the ones whose events are late. Before a debit is first sent, the
//! risk checks (DESIGN §11) read the bank's balance: a debit it does not cover is refused or held
//! for review ([`crate::risk`]).

mod applier;
mod apply;
mod cancel;
mod create;
mod reconcile;
mod submit;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use funding_domain::{BankTransferDirection, BankTransferId, ValidationError, ValidationErrors};

pub use apply::PlaidEventOutcome;
pub use sync::SyncReport;

pub use crate::follow::BankTransferSyncFollower;

use crate::engine::Engine;
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::{
    BankTransferFilter, BankTransferGateway, BankTransferHistoryEntry, BankTransferStore, Clock,
    InboxStore, WorkKind,
};
use crate::risk::Risk;

/// How the bank-transfer use cases behave.
#[derive(Debug, Clone)]
pub struct BankTransferSettings {
    /// Attempts at submitting before the engine stops retrying on its own schedule. A create
    /// that may have reached Plaid is never given up blindly: it is resent (same key) until Plaid
    /// answers.
    pub max_attempts: u32,
}

impl Default for BankTransferSettings {
    fn default() -> Self {
        Self { max_attempts: 10 }
    }
}

/// The bank-transfer use cases, over their ports.
#[derive(Clone)]
pub struct BankTransfers {
    gateway: Arc<dyn BankTransferGateway>,
    store: Arc<dyn BankTransferStore>,
    inbox: Arc<dyn InboxStore>,
    clock: Arc<dyn Clock>,
    pub(crate) engine: Engine,
    /// The risk checks before a first send, and the review queue of what they hold (its writes go
    /// through the risk store).
    risk: Risk,
    settings: BankTransferSettings,
    /// One sync at a time in this process (another replica's is harmless: storing is idempotent
    /// and the cursor never moves back).
    syncing: Arc<tokio::sync::Mutex<()>>,
    /// One applier of the inbox at a time in this process; the others leave their request here for
    /// it (see [`apply_pending_events`](Self::apply_pending_events)).
    applying: Arc<tokio::sync::Mutex<()>>,
    apply_requested: Arc<std::sync::atomic::AtomicBool>,
}

/// One page of a caller's bank transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransferPage {
    pub transfers: Vec<BankTransfer>,
    /// Give it back as `page_token` for the next page; empty when this was the last.
    pub next_page_token: String,
}

/// The filters of a list request as the caller sent them.
#[derive(Debug, Clone, Default)]
pub struct BankTransferListInput {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub origination_account_id: String,
    /// `None` for any.
    pub direction: Option<BankTransferDirection>,
    pub page_size: i32,
    pub page_token: String,
}

impl BankTransfers {
    /// The use cases; their kinds of work (submit, cancel) are registered with `engine`. `risk`
    /// checks a debit before it is first sent and keeps the review queue of those it holds.
    pub fn new(
        gateway: Arc<dyn BankTransferGateway>,
        store: Arc<dyn BankTransferStore>,
        inbox: Arc<dyn InboxStore>,
        clock: Arc<dyn Clock>,
        engine: Engine,
        risk: Risk,
        settings: BankTransferSettings,
    ) -> Self {
        let transfers = Self {
            gateway,
            store,
            inbox,
            clock,
            engine,
            risk,
            settings,
            syncing: Arc::new(tokio::sync::Mutex::new(())),
            applying: Arc::new(tokio::sync::Mutex::new(())),
            apply_requested: Arc::default(),
        };
        transfers.engine.register(
            WorkKind::BankTransferSubmit,
            Arc::new(submit::BankTransferSubmission(transfers.clone())),
        );
        transfers.engine.register(
            WorkKind::BankTransferCancel,
            Arc::new(cancel::BankTransferCancellation(transfers.clone())),
        );
        transfers
    }

    /// One bank transfer by our id. Errors: `InvalidArgument` for a malformed id, `NotFound`.
    #[tracing::instrument(skip_all, fields(bank_transfer_id = %id))]
    pub async fn get(&self, id: &str) -> Result<BankTransfer, CoreError> {
        let id = parse_id(id)?;
        self.load(id).await
    }

    /// The transfer's history, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<BankTransferHistoryEntry>, CoreError> {
        let id = parse_id(id)?;
        self.load(id).await?;
        Ok(self.store.bank_transfer_history(id).await?)
    }

    /// The caller's bank transfers, oldest first, with Plaid's list filters. `page_size` 0 means
    /// 50; at most 500.
    #[tracing::instrument(skip_all, fields(caller = %caller))]
    pub async fn list(
        &self,
        caller: &str,
        input: BankTransferListInput,
    ) -> Result<BankTransferPage, CoreError> {
        let mut errors = ValidationErrors::new();
        let (size, after) = crate::paging::read_page(
            &mut errors,
            input.page_size,
            &input.page_token,
            crate::paging::PageLimits {
                default: 50,
                max: 500,
            },
            BankTransferId::parse,
        );
        if let (Some(start), Some(end)) = (input.start, input.end)
            && end <= start
        {
            errors.push(ValidationError::new(
                "end_date",
                "must be later than start_date",
            ));
        }
        let origination_account_id = if input.origination_account_id.is_empty() {
            None
        } else {
            errors
                .check(funding_domain::OriginationAccountId::parse(
                    &input.origination_account_id,
                ))
                .map(|id| id.as_str().to_owned())
        };
        errors.into_result()?;
        let (Some(size), Some(after)) = (size, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        if let Some(after) = after {
            let issued_for_caller = self
                .store
                .get_bank_transfer(after)
                .await?
                .is_some_and(|transfer| transfer.caller == caller);
            if !issued_for_caller {
                return Err(crate::paging::foreign_page_token().into());
            }
        }
        let filter = BankTransferFilter {
            start: input.start,
            end: input.end,
            origination_account_id,
            direction: input.direction,
        };
        let (transfers, next) = self
            .store
            .list_bank_transfers(caller, filter, size, after)
            .await?;
        Ok(BankTransferPage {
            transfers,
            next_page_token: next.map(|id| id.to_string()).unwrap_or_default(),
        })
    }

    async fn load(&self, id: BankTransferId) -> Result<BankTransfer, CoreError> {
        self.store
            .get_bank_transfer(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "bank transfer",
                id: id.to_string(),
            })
    }
}

fn parse_id(id: &str) -> Result<BankTransferId, CoreError> {
    Ok(BankTransferId::parse(id).map_err(ValidationErrors::from)?)
}

/// The ordering key of a bank transfer's work: its cancel runs after its submit (an approved
/// review's submit work too).
pub(crate) fn ordering_key(id: BankTransferId) -> String {
    format!("plaid:bank_transfer:{id}")
}

/// How long to wait between periodic syncs when nothing wakes the follower.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(5);
