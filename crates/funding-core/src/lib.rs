//! The funding workflow: the use cases and the ports they need. It depends on the domain crate only;
//! providers and storage come in through the traits of [`ports`], and every provider call that
//! changes something is driven by the [`engine`].

pub mod model;
pub mod ports;

pub mod bank_transfers;
pub mod engine;
pub mod error;
pub mod event_outcome;
pub(crate) mod failure;
pub mod fingerprint;
pub mod follow;
pub mod inbox_sweep;
pub mod links;
pub mod observe;
pub mod orphans;
mod paging;
pub mod reconcile;
pub mod returns;
pub mod risk;
pub mod sandbox;
pub mod transfers;
pub mod waiting;

pub use engine::{Engine, EngineSettings};
pub use error::CoreError;
pub use event_outcome::EventOutcome;
pub use fingerprint::Fingerprint;
pub use follow::{FollowerSettings, FundingEventFollower};
pub use inbox_sweep::{InboxSweepReport, InboxSweepSettings, InboxSweeper};
pub use links::{BankLinks, CreateBankLinkInput, CreateLinkTokenInput, LinkSettings, LinkStores};
pub use orphans::{OrphanPage, OrphanReport, OrphanSweep};
pub use reconcile::{Pacer, PassReport, ReconcileReport, ReconcileSettings, Reconciler};
pub use risk::{Risk, RiskPorts, RiskSettings};
pub use sandbox::Sandbox;
pub use transfers::{
    CreateTransferInput, TransferPage, TransferSettings, TransferWatch, Transfers,
};
pub use waiting::{Waiting, WaitingReason};
