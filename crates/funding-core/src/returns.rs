//! What an ACH return does after the money moved (DESIGN §12), through the engine: the store
//! writes a [`WorkKind::TransferReturned`] work with the transfer's move to RETURNED (once, however
//! often the return is reported) when the policy gives the return's code a consequence that acts
//! now (`Consequence::acts_now`; the store is given the same policy), and its handler applies it:
//! - the account gone or wrong (R02, R03, R04, R20, …): the link becomes UNUSABLE (new transfers on
//!   it are refused with `BANK_LINK_UNUSABLE`), and its deletion is queued: Alpaca is asked to
//!   cancel the relationship, and its Plaid Item is removed once Alpaca has;
//! - unauthorized (R05, R07, R10, R11, R29, R51): the account's funding is frozen, reason the
//!   return, until an operator unfreezes it; its deposits not yet sent wait meanwhile;
//! - insufficient funds (R01, R09): nothing now; the checks count them (`r01_review_after`).
//!
//! Each step is idempotent (a freeze of a frozen account, a link already UNUSABLE, a delete already
//! queued change nothing), so a handler run again after a crash finishes what the first began, and
//! each change is an audit event by `service`, written with it.

use std::sync::Arc;

use async_trait::async_trait;
use funding_domain::returns::{Consequence, ReturnPolicy};
use funding_domain::{AchReturnCode, AlpacaTransferStatus, TransferId};

use crate::engine::{Attempt, Engine, Stop, WorkHandler};
use crate::links::delete::DeleteState as _;
use crate::model::Transfer;
use crate::ports::{
    AccountFreeze, BankLinkStore, ClaimedWork, Clock, NewAuditEvent, NewWork, RiskStore,
    TransferStore, WorkKind,
};
use crate::risk::reviews::SERVICE_ACTOR;

/// Attempts at the relationship delete an unusable link's return queues.
const DELETE_ATTEMPTS: u32 = 10;

/// The return consequences over their ports.
#[derive(Clone)]
pub struct Returns {
    transfers: Arc<dyn TransferStore>,
    links: Arc<dyn BankLinkStore>,
    risk: Arc<dyn RiskStore>,
    clock: Arc<dyn Clock>,
    engine: Engine,
    policy: ReturnPolicy,
}

impl Returns {
    /// The consequences of returns under `policy`; their work is registered with `engine`.
    pub fn new(
        transfers: Arc<dyn TransferStore>,
        links: Arc<dyn BankLinkStore>,
        risk: Arc<dyn RiskStore>,
        clock: Arc<dyn Clock>,
        engine: Engine,
        policy: ReturnPolicy,
    ) -> Self {
        let returns = Self {
            transfers,
            links,
            risk,
            clock,
            engine,
            policy,
        };
        returns.engine.register(
            WorkKind::TransferReturned,
            Arc::new(ReturnConsequences(returns.clone())),
        );
        returns
    }

    async fn apply(&self, id: TransferId) -> Result<Attempt, Stop> {
        let Some(transfer) = self.transfers.get_transfer(id).await? else {
            return Ok(Attempt::Done);
        };
        if transfer.status != AlpacaTransferStatus::Returned {
            return Ok(Attempt::Done);
        }
        let Some(code) = transfer
            .ach_return_code
            .as_deref()
            .map(AchReturnCode::parse)
        else {
            tracing::warn!(transfer_id = %id, "a return without a return code: nothing follows but its status");
            return Ok(Attempt::Done);
        };
        let consequence = self.policy.consequence(&code);
        let why = format!(
            "ACH return {}{} on transfer {id}",
            code.code(),
            code.description()
                .map(|text| format!(" ({text})"))
                .unwrap_or_default()
        );
        tracing::info!(transfer_id = %id, code = code.code(), consequence = consequence.as_str(), "applying an ACH return");
        match consequence {
            Consequence::FreezeAccount => self.freeze(&transfer, &code, &why).await?,
            Consequence::LinkUnusable => self.unusable(&transfer, &code, &why).await?,
            Consequence::CountInsufficientFunds | Consequence::None => {}
        }
        metrics::counter!("funding_return_consequences_total", "consequence" => consequence.as_str())
            .increment(1);
        Ok(Attempt::Done)
    }

    fn audit(
        &self,
        transfer: &Transfer,
        code: &AchReturnCode,
        action: &str,
        resource: String,
        why: &str,
    ) -> NewAuditEvent {
        NewAuditEvent {
            actor: SERVICE_ACTOR.to_owned(),
            action: action.to_owned(),
            resource,
            account_id: Some(transfer.account_id),
            reason: why.to_owned(),
            details: serde_json::json!({
                "account_id": transfer.account_id.to_string(),
                "transfer_id": transfer.id.to_string(),
                "bank_link_id": transfer.bank_link_id.to_string(),
                "ach_return_code": code.code(),
                "category": code.category().as_str(),
            }),
            at: self.clock.now(),
        }
    }

    async fn freeze(
        &self,
        transfer: &Transfer,
        code: &AchReturnCode,
        why: &str,
    ) -> Result<(), Stop> {
        let frozen = self
            .risk
            .set_frozen(
                transfer.account_id,
                Some(AccountFreeze {
                    reason: why.to_owned(),
                    by: SERVICE_ACTOR.to_owned(),
                    at: self.clock.now(),
                }),
                self.audit(
                    transfer,
                    code,
                    "account.frozen",
                    format!("accounts/{}", transfer.account_id),
                    why,
                ),
            )
            .await?;
        if frozen {
            tracing::warn!(account_id = %transfer.account_id, "account funding frozen: {why}");
        }
        Ok(())
    }

    async fn unusable(
        &self,
        transfer: &Transfer,
        code: &AchReturnCode,
        why: &str,
    ) -> Result<(), Stop> {
        let link_id = transfer.bank_link_id;
        if self
            .risk
            .mark_link_unusable(
                link_id,
                why,
                &format!("ach-return:{}", transfer.id),
                self.audit(
                    transfer,
                    code,
                    "bank_link.unusable",
                    format!("bank_links/{link_id}"),
                    why,
                ),
            )
            .await?
        {
            tracing::warn!(bank_link_id = %link_id, "bank link UNUSABLE: {why}");
            metrics::counter!("funding_bank_link_health_changes_total", "to" => "UNUSABLE")
                .increment(1);
        }
        // Its relationship is cancelled at Alpaca and its Item removed (the link's own delete
        // work), unless it is gone already (replaced, deleted).
        let Some(link) = self.links.get_link(link_id).await? else {
            return Ok(());
        };
        if link.ach_relationship_id.is_some() && !link.status.is_terminal_for_delete() {
            self.engine
                .queue()
                .enqueue(NewWork {
                    kind: WorkKind::LinkDelete,
                    subject_id: link_id.as_uuid(),
                    ordering_key: None,
                    max_attempts: DELETE_ATTEMPTS,
                })
                .await?;
            self.engine.wake();
        }
        Ok(())
    }
}

/// The handler of [`WorkKind::TransferReturned`].
struct ReturnConsequences(Returns);

#[async_trait]
impl WorkHandler for ReturnConsequences {
    async fn run(&self, work: &ClaimedWork) -> Attempt {
        match self.0.apply(TransferId::from_uuid(work.subject_id)).await {
            Ok(attempt) => attempt,
            Err(stop) => stop.into_attempt(),
        }
    }

    async fn give_up(&self, work: &ClaimedWork, reason: &str) -> Attempt {
        tracing::error!(transfer_id = %work.subject_id, "the consequences of an ACH return could not be applied: {reason}");
        Attempt::Done
    }
}
