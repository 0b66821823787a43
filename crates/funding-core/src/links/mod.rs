//! The bank link use cases: create (exchange → processor token → ACH relationship, idempotent, on
//! the engine), read, list, delete, following the relationship's status from Alpaca's events, and
//! reconciling the links whose events are late.

mod adopt;
pub(crate) mod create;
pub(crate) mod delete;
mod events;
mod health;
mod item;
mod item_check;
mod link_token;
mod reconcile;
mod replace;
pub(crate) mod steps;

use std::sync::Arc;
use std::time::Duration;

use funding_domain::{AccountId, BankLinkId, ValidationErrors};

pub use create::CreateBankLinkInput;
pub use link_token::{CreateLinkTokenInput, client_user_id};

use crate::engine::Engine;
use crate::error::CoreError;
use crate::model::BankLink;
use crate::ports::{
    BankLinkStore, Broker, Clock, LinkPage, LinkPageRequest, LinkSecretStore, LinkStatusStore,
    PlaidGateway, WorkKind,
};

/// How the link use cases behave.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// How far before the recorded request a relationship found at Alpaca may have been created to be
    /// taken as ours (clock skew between us and Alpaca): seconds, never minutes.
    pub adoption_skew: Duration,
    /// How long after a relationship create whose outcome is unknown an empty lookup still proves
    /// nothing (DESIGN §4.2); until then the link waits, visibly, and is neither created again nor
    /// failed.
    pub unknown_outcome_settle: Duration,
    /// Attempts at creating a link before it ends FAILED.
    pub max_attempts: u32,
    /// Shown in Plaid Link (`client_name`).
    pub client_name: String,
    /// The products a new link asks Plaid for (`auth`; `identity` too when the owner-name check
    /// needs it).
    pub products: Vec<String>,
    /// Where Plaid sends the Items' webhooks (this service's webhook listener).
    pub webhook_url: Option<String>,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            adoption_skew: Duration::from_secs(5),
            unknown_outcome_settle: Duration::from_secs(600),
            max_attempts: 8,
            client_name: "Funding".to_owned(),
            products: vec!["auth".to_owned()],
            webhook_url: None,
        }
    }
}

/// The stores the link use cases need, one port per concern; usually one store behind all three.
#[derive(Clone)]
pub struct LinkStores {
    pub links: Arc<dyn BankLinkStore>,
    pub secrets: Arc<dyn LinkSecretStore>,
    pub statuses: Arc<dyn LinkStatusStore>,
}

impl LinkStores {
    /// All three ports on one store.
    pub fn on<S>(store: S) -> Self
    where
        S: BankLinkStore + LinkSecretStore + LinkStatusStore + Clone,
    {
        Self {
            links: Arc::new(store.clone()),
            secrets: Arc::new(store.clone()),
            statuses: Arc::new(store),
        }
    }
}

/// The bank link use cases, over their ports.
#[derive(Clone)]
pub struct BankLinks {
    plaid: Arc<dyn PlaidGateway>,
    broker: Arc<dyn Broker>,
    store: Arc<dyn BankLinkStore>,
    secrets: Arc<dyn LinkSecretStore>,
    statuses: Arc<dyn LinkStatusStore>,
    clock: Arc<dyn Clock>,
    pub(crate) engine: Engine,
    /// The owner-name check before a relationship is created (DESIGN §11); `None`: none.
    risk: Option<crate::risk::Risk>,
    settings: LinkSettings,
}

impl BankLinks {
    /// The use cases; their kinds of work (create, delete, Item removal) are registered with
    /// `engine`.
    pub fn new(
        plaid: Arc<dyn PlaidGateway>,
        broker: Arc<dyn Broker>,
        stores: LinkStores,
        clock: Arc<dyn Clock>,
        engine: Engine,
        risk: Option<crate::risk::Risk>,
        settings: LinkSettings,
    ) -> Self {
        let links = Self {
            plaid,
            broker,
            store: stores.links,
            secrets: stores.secrets,
            statuses: stores.statuses,
            clock,
            engine,
            risk,
            settings,
        };
        links.engine.register(
            WorkKind::LinkCreate,
            Arc::new(steps::LinkCreation(links.clone())),
        );
        links.engine.register(
            WorkKind::LinkDelete,
            Arc::new(delete::LinkDeletion(links.clone())),
        );
        links.engine.register(
            WorkKind::PlaidItemRemove,
            Arc::new(item::ItemRemoval(links.clone())),
        );
        links
    }

    /// One link by id. Errors: `InvalidArgument` for a malformed id, `NotFound`.
    #[tracing::instrument(skip_all, fields(bank_link_id = %id))]
    pub async fn get(&self, id: &str) -> Result<BankLink, CoreError> {
        let id = BankLinkId::parse(id).map_err(|e| ValidationErrors::from(e.at("id")))?;
        self.load(id).await
    }

    /// The links of an account, oldest first. `page_size` 0 means 50; at most 100.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn list(
        &self,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<LinkPage<BankLink>, CoreError> {
        let mut errors = ValidationErrors::new();
        let account = errors.check(AccountId::parse(account_id));
        let (size, after) = crate::paging::read_page(
            &mut errors,
            page_size,
            page_token,
            crate::paging::PageLimits {
                default: 50,
                max: 100,
            },
            BankLinkId::parse,
        );
        errors.into_result()?;
        let (Some(account), Some(size), Some(after)) = (account, size, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        if let Some(after) = after {
            let issued_for_account = self
                .store
                .get_link(after)
                .await?
                .is_some_and(|link| link.account_id == account);
            if !issued_for_account {
                return Err(crate::paging::foreign_page_token().into());
            }
        }
        Ok(self
            .store
            .list_links(account, LinkPageRequest { size, after })
            .await?)
    }

    async fn load(&self, id: BankLinkId) -> Result<BankLink, CoreError> {
        self.store
            .get_link(id)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                resource: "bank link",
                id: id.to_string(),
            })
    }
}
