//! An account's funding as operators see and set it: limits in force, usage, frozen or not.

use chrono::Duration as ChronoDuration;
use funding_domain::risk::limits::{FundingLimits, Limit, Usage};
use funding_domain::risk::{self, format_cents};
use funding_domain::{AccountId, Amount, ValidationError, ValidationErrors};

use super::Risk;
use crate::error::CoreError;
use crate::ports::{AccountFreeze, FundingFlow, NewAuditEvent};

/// One flow's limits and usage on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFunding {
    pub flow: FundingFlow,
    /// In force: the defaults with the account's override applied.
    pub limits: FundingLimits,
    /// Whether the account has its own override for this flow (and who set it, why).
    pub overridden_by: Option<(String, String)>,
    /// What its decided transfers use of each window, in cents.
    pub usage: Usage,
}

/// `GetAccountFunding`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFunding {
    pub account_id: AccountId,
    pub frozen: Option<AccountFreeze>,
    pub flows: Vec<FlowFunding>,
    /// Deposits on their way (decided, not yet COMPLETE), in cents.
    pub pending_deposits: i64,
    /// Deposits COMPLETE in the last 60 days (an unauthorized return may still come), in cents.
    pub in_return_window: i64,
    /// The account's debits and returns over 60 days, by category.
    pub returns: funding_domain::returns::rates::ReturnRates,
}

/// `SetAccountLimits` as the caller sent it; empty strings are "no limit".
#[derive(Debug, Clone, Default)]
pub struct SetAccountLimitsInput {
    pub account_id: String,
    pub flow: Option<FundingFlow>,
    /// (soft, hard) per window: per transfer, daily, rolling 30 days.
    pub per_transfer: (String, String),
    pub daily: (String, String),
    pub rolling_30_days: (String, String),
    pub reason: String,
}

/// The longest reason or note kept.
pub(super) const MAX_NOTE: usize = 500;

/// A required reason or note: 1 to [`MAX_NOTE`] characters, no control characters.
pub(super) fn note(errors: &mut ValidationErrors, field: &str, text: &str) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        errors.push(ValidationError::new(field, "is required: say why"));
        return None;
    }
    if trimmed.chars().count() > MAX_NOTE {
        errors.push(ValidationError::new(
            field,
            format!("must be at most {MAX_NOTE} characters"),
        ));
        return None;
    }
    if trimmed.chars().any(char::is_control) {
        errors.push(ValidationError::new(
            field,
            "must not contain control characters",
        ));
        return None;
    }
    Some(trimmed.to_owned())
}

fn cents_of(errors: &mut ValidationErrors, field: &str, text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    match Amount::parse(text) {
        Ok(amount) => risk::cents(amount.as_decimal()).or_else(|| {
            errors.push(ValidationError::new(field, "is too large"));
            None
        }),
        Err(error) => {
            errors.push(error.at(field));
            None
        }
    }
}

fn limit_of(errors: &mut ValidationErrors, field: &str, (soft, hard): &(String, String)) -> Limit {
    let limit = Limit {
        soft: cents_of(errors, &format!("{field}.soft"), soft),
        hard: cents_of(errors, &format!("{field}.hard"), hard),
    };
    if let (Some(soft), Some(hard)) = (limit.soft, limit.hard)
        && soft > hard
    {
        errors.push(ValidationError::new(
            format!("{field}.soft"),
            "must not be above the hard limit",
        ));
    }
    limit
}

fn limit_json(limit: &Limit) -> serde_json::Value {
    serde_json::json!({
        "soft": limit.soft.map(format_cents),
        "hard": limit.hard.map(format_cents),
    })
}

impl Risk {
    /// The 60-day return rates of the Alpaca rail's debits (DESIGN §12), of one account or of the
    /// whole service.
    pub async fn return_rates_of(
        &self,
        account_id: Option<AccountId>,
    ) -> Result<funding_domain::returns::rates::ReturnRates, CoreError> {
        use funding_domain::{AchReturnCode, ReturnCategory};
        let since = self.clock.now() - ChronoDuration::days(60);
        let mut rates = funding_domain::returns::rates::ReturnRates::default();
        for (returned, code, count) in self.store.debit_outcomes(account_id, since).await? {
            rates.debits += count;
            if !returned {
                continue;
            }
            rates.returned += count;
            match code
                .as_deref()
                .map(|code| AchReturnCode::parse(code).category())
            {
                Some(ReturnCategory::Unauthorized) => rates.unauthorized += count,
                Some(ReturnCategory::Administrative) => rates.administrative += count,
                _ => {}
            }
        }
        Ok(rates)
    }

    /// An account's funding: frozen or not, and per flow the limits in force and what the window
    /// has used.
    pub async fn account_funding(&self, account_id: &str) -> Result<AccountFunding, CoreError> {
        let account_id = AccountId::parse(account_id).map_err(ValidationErrors::from)?;
        let controls = self.store.account_controls(account_id).await?;
        let now = self.clock.now();
        let mut flows = Vec::new();
        let mut pending_deposits: i64 = 0;
        for flow in [FundingFlow::AlpacaDeposit, FundingFlow::AlpacaWithdrawal] {
            let past = self
                .store
                .limit_usage(account_id, flow, now - ChronoDuration::days(31))
                .await?;
            let usage = Usage::over(past.iter().copied(), now.timestamp_millis());
            flows.push(FlowFunding {
                flow,
                limits: self.limits_for(&controls, flow),
                overridden_by: controls
                    .override_for(flow)
                    .map(|set| (set.updated_by.clone(), set.reason.clone())),
                usage,
            });
        }
        pending_deposits += self
            .store
            .in_flight_amount(account_id, FundingFlow::AlpacaDeposit)
            .await?;
        let window = now - ChronoDuration::days(60);
        let in_return_window = self
            .store
            .completed_deposits_since(account_id, window)
            .await?;
        let returns = self.return_rates_of(Some(account_id)).await?;
        Ok(AccountFunding {
            account_id,
            frozen: controls.frozen,
            flows,
            pending_deposits,
            in_return_window,
            returns,
        })
    }

    /// Sets an account's limits for one flow (replacing its earlier override; all empty removes
    /// it), with an audit event naming `caller`.
    pub async fn set_account_limits(
        &self,
        caller: &str,
        input: SetAccountLimitsInput,
    ) -> Result<AccountFunding, CoreError> {
        let mut errors = ValidationErrors::new();
        let account_id = errors.check(AccountId::parse(&input.account_id));
        if input.flow.is_none() {
            errors.push(ValidationError::new(
                "rail",
                "rail and direction must name a flow: FUNDING_RAIL_ALPACA with a deposit or a withdrawal",
            ));
        }
        let limits = FundingLimits {
            per_transfer: limit_of(&mut errors, "limits.per_transfer", &input.per_transfer),
            daily: limit_of(&mut errors, "limits.daily", &input.daily),
            rolling_30_days: limit_of(
                &mut errors,
                "limits.rolling_30_days",
                &input.rolling_30_days,
            ),
        };
        let reason = note(&mut errors, "reason", &input.reason);
        errors.into_result()?;
        let (Some(account_id), Some(flow), Some(reason)) = (account_id, input.flow, reason) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let audit = NewAuditEvent {
            actor: caller.to_owned(),
            action: "limits.set".to_owned(),
            resource: format!("accounts/{account_id}"),
            account_id: Some(account_id),
            reason,
            details: serde_json::json!({
                "account_id": account_id.to_string(),
                "rail": flow.rail(),
                "direction": flow.direction(),
                "per_transfer": limit_json(&limits.per_transfer),
                "daily": limit_json(&limits.daily),
                "rolling_30_days": limit_json(&limits.rolling_30_days),
            }),
            at: self.clock.now(),
        };
        self.store
            .set_account_limits(account_id, flow, limits, audit)
            .await?;
        tracing::info!(%account_id, caller, rail = flow.rail(), direction = flow.direction(), "account limits set");
        self.account_funding(&account_id.to_string()).await
    }

    /// Freezes (`freeze`) or unfreezes an account's funding, with an audit event naming `caller`
    /// and the reason; the funding after, and whether it changed (freezing a frozen account, or
    /// unfreezing one that is not, changes nothing and writes no audit event).
    pub async fn set_frozen(
        &self,
        caller: &str,
        account_id: &str,
        freeze: bool,
        reason: &str,
    ) -> Result<(AccountFunding, bool), CoreError> {
        let mut errors = ValidationErrors::new();
        let account = errors.check(AccountId::parse(account_id));
        let reason = note(&mut errors, "reason", reason);
        errors.into_result()?;
        let (Some(account_id), Some(reason)) = (account, reason) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        let now = self.clock.now();
        let audit = NewAuditEvent {
            actor: caller.to_owned(),
            action: if freeze {
                "account.frozen"
            } else {
                "account.unfrozen"
            }
            .to_owned(),
            resource: format!("accounts/{account_id}"),
            account_id: Some(account_id),
            reason: reason.clone(),
            details: serde_json::json!({ "account_id": account_id.to_string() }),
            at: now,
        };
        let changed = self
            .store
            .set_frozen(
                account_id,
                freeze.then(|| AccountFreeze {
                    reason,
                    by: caller.to_owned(),
                    at: now,
                }),
                audit,
            )
            .await?;
        if changed {
            tracing::warn!(%account_id, caller, frozen = freeze, "account funding {}", if freeze { "frozen" } else { "unfrozen" });
            if !freeze {
                self.engine.wake();
            }
        }
        Ok((
            self.account_funding(&account_id.to_string()).await?,
            changed,
        ))
    }
}
