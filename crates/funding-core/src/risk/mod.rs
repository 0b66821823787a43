//! The risk controls (DESIGN §11) around the rules of `funding_domain::risk`: the checks a
//! transfer's submit work makes before anything is sent ([`Risk::check_transfer`]), the balance
//! check a debit's submit work makes on the Plaid rail (`Risk::check_debit_balance`), the
//! owner-name check a link makes before its relationship is created, and the operators' use cases
//! of `RiskService` (an account's funding and limits, freezing, the review queue of transfers, bank
//! transfers and links, the audit trail).
//!
//! The limits are race-free across replicas because the checks run inside the submit work, which
//! runs one at a time per Alpaca account (its ordering key) on every replica: a decision and the
//! usage it counted are never interleaved with another transfer's of the same account.

mod account;
mod checks;
pub(crate) mod reviews;

use std::sync::Arc;
use std::time::Duration;

use funding_domain::risk::balance::{BalanceCheck, BalanceUnavailable};
use funding_domain::risk::limits::FundingLimits;
use funding_domain::risk::names::{NameCheck, PLAID_MATCH_THRESHOLD};

pub use account::{AccountFunding, FlowFunding, SetAccountLimitsInput};
pub use reviews::{AuditPage, ReviewPage};

use crate::engine::Engine;
use crate::ports::{
    AccountControls, BankLinkStore, Clock, FundingFlow, LinkSecretStore, PlaidGateway, RiskStore,
};

/// The failure code prefix of a transfer the checks (or a review) ended: `service/risk/<REASON>`.
pub const RISK_FAILURE_PREFIX: &str = "service/risk/";

/// The reason code of a transfer rejected in review.
pub const REVIEW_REJECTED: &str = "REVIEW_REJECTED";
/// The reason code of a transfer whose review expired unreviewed.
pub const REVIEW_EXPIRED: &str = "REVIEW_EXPIRED";

/// The stable reason code (`ErrorInfo.reason`) of a transfer the checks or a review ended.
pub fn reason_code(code: &str) -> &'static str {
    use funding_domain::risk::{
        ACCOUNT_FROZEN, balance::INSUFFICIENT_BANK_BALANCE, limits::LIMIT_EXCEEDED,
        names::NAME_MISMATCH,
    };
    [
        INSUFFICIENT_BANK_BALANCE,
        LIMIT_EXCEEDED,
        NAME_MISMATCH,
        ACCOUNT_FROZEN,
        REVIEW_REJECTED,
        REVIEW_EXPIRED,
    ]
    .into_iter()
    .find(|known| *known == code)
    .unwrap_or("RISK_REFUSED")
}

/// The configured defaults of the limits, per flow; an account's override replaces a window it
/// sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultLimits {
    pub alpaca_deposit: FundingLimits,
    pub alpaca_withdrawal: FundingLimits,
    pub plaid_debit: FundingLimits,
    pub plaid_credit: FundingLimits,
}

impl DefaultLimits {
    pub fn of(&self, flow: FundingFlow) -> FundingLimits {
        match flow {
            FundingFlow::AlpacaDeposit => self.alpaca_deposit,
            FundingFlow::AlpacaWithdrawal => self.alpaca_withdrawal,
            FundingFlow::PlaidDebit => self.plaid_debit,
            FundingFlow::PlaidCredit => self.plaid_credit,
        }
    }
}

/// `[risk]`, as the use cases take it.
#[derive(Debug, Clone)]
pub struct RiskSettings {
    pub balance_check: BalanceCheck,
    pub balance_unavailable: BalanceUnavailable,
    pub name_check: NameCheck,
    pub name_match_threshold: u8,
    /// How long a held transfer waits for a reviewer before it ends FAILED (`REVIEW_EXPIRED`).
    pub review_expiry: Duration,
    pub limits: DefaultLimits,
    /// Attempts of the submit work an approved transfer is given (the transfers' own setting).
    pub submit_max_attempts: u32,
    /// What each ACH return code leads to (DESIGN §12); its insufficient-funds codes are counted.
    pub return_policy: funding_domain::returns::ReturnPolicy,
    /// A link's deposits go to REVIEW once it has had this many insufficient-funds returns in 60
    /// days (`[returns] r01_review_after`; 0: never).
    pub insufficient_funds_review_after: u32,
    /// Attempts of the submit work an approved bank transfer is given (the bank transfers' own
    /// setting, as their create gives it).
    pub bank_transfer_submit_max_attempts: u32,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            balance_check: BalanceCheck::Off,
            balance_unavailable: BalanceUnavailable::Accept,
            name_check: NameCheck::Off,
            name_match_threshold: PLAID_MATCH_THRESHOLD,
            review_expiry: Duration::from_secs(3 * 86_400),
            limits: DefaultLimits::default(),
            submit_max_attempts: 10,
            return_policy: funding_domain::returns::ReturnPolicy::default(),
            insufficient_funds_review_after: 3,
            bank_transfer_submit_max_attempts: 10,
        }
    }
}

/// The risk controls over their ports.
#[derive(Clone)]
pub struct Risk {
    store: Arc<dyn RiskStore>,
    links: Arc<dyn BankLinkStore>,
    secrets: Arc<dyn LinkSecretStore>,
    plaid: Arc<dyn PlaidGateway>,
    clock: Arc<dyn Clock>,
    engine: Engine,
    settings: RiskSettings,
}

/// The ports [`Risk`] reads and writes through.
pub struct RiskPorts {
    pub store: Arc<dyn RiskStore>,
    pub links: Arc<dyn BankLinkStore>,
    pub secrets: Arc<dyn LinkSecretStore>,
    pub plaid: Arc<dyn PlaidGateway>,
    pub clock: Arc<dyn Clock>,
}

impl Risk {
    pub fn new(ports: RiskPorts, engine: Engine, settings: RiskSettings) -> Self {
        Self {
            store: ports.store,
            links: ports.links,
            secrets: ports.secrets,
            plaid: ports.plaid,
            clock: ports.clock,
            engine,
            settings,
        }
    }

    pub(crate) fn store(&self) -> &dyn RiskStore {
        self.store.as_ref()
    }

    pub fn settings(&self) -> &RiskSettings {
        &self.settings
    }

    /// The limits in force for `flow` on an account with `controls`: the defaults, each window
    /// replaced by the account's override where it sets one.
    pub fn limits_for(&self, controls: &AccountControls, flow: FundingFlow) -> FundingLimits {
        let defaults = self.settings.limits.of(flow);
        match controls.override_for(flow) {
            Some(set) => defaults.overridden_by(&set.limits),
            None => defaults,
        }
    }
}
