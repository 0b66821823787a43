//! The funding workflow: the use cases and the ports they need. It depends on the domain crate only;
//! providers and storage come in through the traits of [`ports`].

pub mod model;
pub mod ports;

pub mod error;
pub mod follow;
pub mod links;
pub mod sandbox;

pub use error::CoreError;
pub use follow::{FollowerSettings, FundingEventFollower};
pub use links::{BankLinks, CreateBankLinkInput, EventOutcome, LinkSettings};
pub use sandbox::Sandbox;
