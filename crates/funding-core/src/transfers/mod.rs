//! The transfer use cases on the Alpaca rail: create (a deposit or withdrawal, idempotent, submitted
//! by the engine with look-before-create), read, list, cancel, following each transfer's status from
//! Alpaca's events, and reconciling the transfers whose events are late.
//!
//! Alpaca's `POST /transfers` has no idempotency key, so the submit work of an account runs one at a
//! time (the same ordering key as link creation: one unresolved Alpaca create per account), stores
//! the time of its request before sending it, and after an unknown outcome looks the transfer up
//! (relationship, amount, direction, created since the request, held by none of ours) before it
//! creates again; an adopted Alpaca id is claimed through UNIQUE(provider_transfer_id).

mod cancel;
mod create;
mod events;
mod submit;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use funding_domain::{AccountId, AlpacaTransferStatus, TransferId, ValidationErrors};

pub use create::CreateTransferInput;
pub use watch::TransferWatch;

use crate::engine::Engine;
use crate::error::CoreError;
use crate::model::Transfer;
use crate::ports::{
    BankLinkStore, Broker, Clock, TransferDirection, TransferFilter, TransferStore, WorkKind,
};

/// How the transfer use cases behave.
#[derive(Debug, Clone)]
pub struct TransferSettings {
    /// How far before our recorded request an Alpaca transfer found by the lookup may have been
    /// created to be taken as ours (clock skew between us and Alpaca): seconds, never minutes.
    pub adoption_skew: Duration,
    /// How long after a create whose outcome is unknown an empty lookup still proves nothing
    /// (DESIGN §4.2): Alpaca may commit a request after its caller gave up. Until it has passed the
    /// transfer waits, visibly, and is neither created again, nor failed, nor cancelled.
    pub unknown_outcome_settle: Duration,
    /// Attempts at submitting before a transfer whose create surely never reached Alpaca ends
    /// FAILED. (One whose create may have reached Alpaca is never failed blindly: it is looked up
    /// until the lookup answers.)
    pub max_attempts: u32,
    /// Events buffered for one watcher; one that falls this far behind is ended.
    pub watch_buffer: usize,
    /// Refuse new transfers on a link whose Item needs its user to log in again
    /// (`[risk] refuse_on_needs_reauth`; default false: Alpaca already holds the account numbers).
    pub refuse_on_needs_reauth: bool,
}

impl Default for TransferSettings {
    fn default() -> Self {
        Self {
            adoption_skew: Duration::from_secs(5),
            unknown_outcome_settle: Duration::from_secs(600),
            max_attempts: 10,
            watch_buffer: 256,
            refuse_on_needs_reauth: false,
        }
    }
}

/// The transfer use cases, over their ports.
#[derive(Clone)]
pub struct Transfers {
    broker: Arc<dyn Broker>,
    store: Arc<dyn TransferStore>,
    links: Arc<dyn BankLinkStore>,
    clock: Arc<dyn Clock>,
    pub(crate) engine: Engine,
    /// The checks before anything is sent (DESIGN §11).
    risk: crate::risk::Risk,
    settings: TransferSettings,
    /// Set when the server stops: every watch ends (naming where to resume) so the server can drain.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// One page of an account's transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPage {
    pub transfers: Vec<Transfer>,
    /// Give it back as `page_token` for the next page; empty when this was the last.
    pub next_page_token: String,
}

impl Transfers {
    /// The use cases; their kinds of work (submit, cancel) are registered with `engine`.
    pub fn new(
        broker: Arc<dyn Broker>,
        store: Arc<dyn TransferStore>,
        links: Arc<dyn BankLinkStore>,
        clock: Arc<dyn Clock>,
        engine: Engine,
        risk: crate::risk::Risk,
        settings: TransferSettings,
    ) -> Self {
        let transfers = Self {
            broker,
            store,
            links,
            clock,
            engine,
            risk,
            settings,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        };
        transfers.engine.register(
            WorkKind::TransferSubmit,
            Arc::new(submit::TransferSubmission(transfers.clone())),
        );
        transfers.engine.register(
            WorkKind::TransferCancel,
            Arc::new(cancel::TransferCancellation(transfers.clone())),
        );
        transfers
    }

    /// Ends every watch (at shutdown), each with where to resume.
    pub fn close_watches(&self) {
        self.closing.send_replace(true);
    }

    /// One transfer by id. Errors: `InvalidArgument` for a malformed id, `NotFound`.
    #[tracing::instrument(skip_all, fields(transfer_id = %id))]
    pub async fn get(&self, id: &str) -> Result<Transfer, CoreError> {
        let id = TransferId::parse(id).map_err(|e| ValidationErrors::from(e.at("id")))?;
        self.load(id).await
    }

    /// The account's transfers, oldest first, optionally of one status and one direction.
    /// `page_size` 0 means 50; at most 500.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn list(
        &self,
        account_id: &str,
        status: Option<AlpacaTransferStatus>,
        direction: Option<TransferDirection>,
        page_size: i32,
        page_token: &str,
    ) -> Result<TransferPage, CoreError> {
        let mut errors = ValidationErrors::new();
        let account = errors.check(AccountId::parse(account_id));
        let (size, after) = crate::paging::read_page(
            &mut errors,
            page_size,
            page_token,
            crate::paging::PageLimits {
                default: 50,
                max: 500,
            },
            TransferId::parse,
        );
        errors.into_result()?;
        let (Some(account), Some(size), Some(after)) = (account, size, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        if let Some(after) = after {
            let issued_for_account = self
                .store
                .get_transfer(after)
                .await?
                .is_some_and(|transfer| transfer.account_id == account);
            if !issued_for_account {
                return Err(crate::paging::foreign_page_token().into());
            }
        }
        let (transfers, next) = self
            .store
            .list_transfers(account, TransferFilter { status, direction }, size, after)
            .await?;
        Ok(TransferPage {
            transfers,
            next_page_token: next.map(|id| id.to_string()).unwrap_or_default(),
        })
    }

    async fn load(&self, id: TransferId) -> Result<Transfer, CoreError> {
        self.store
            .get_transfer(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "transfer",
                id: id.to_string(),
            })
    }
}
