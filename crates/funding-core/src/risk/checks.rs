//! The checks before money moves: frozen, limits, balance (a transfer), balance (a debit on the
//! Plaid rail), owner name (a link).

use chrono::Duration as ChronoDuration;
use funding_domain::risk::balance::{BalanceCheck, check_balance};
use funding_domain::risk::limits::{Usage, check_limits};
use funding_domain::risk::names::{NameCheck, check_owner_name};
use funding_domain::risk::{self, Decision, Verdict};
use funding_domain::{
    AccountId, Amount, BankLinkId, BankTransferId, PlaidAccountId, ProcessorToken,
};

use super::Risk;
use crate::error::CoreError;
use crate::model::Transfer;
use crate::ports::{
    AccountControls, AccountFreeze, BankTransferGateway, FundingFlow, TransferDirection,
};

/// The reason code of a deposit held because its link's recent returns were for insufficient funds.
pub const INSUFFICIENT_FUNDS_RETURNS: &str = "INSUFFICIENT_FUNDS_RETURNS";

/// The flow of an Alpaca transfer.
pub(crate) fn alpaca_flow(direction: TransferDirection) -> FundingFlow {
    match direction {
        TransferDirection::Deposit => FundingFlow::AlpacaDeposit,
        TransferDirection::Withdrawal => FundingFlow::AlpacaWithdrawal,
    }
}

/// The strictest of `decisions`; when all accept, one acceptance carrying every rule's figures
/// and words, so the stored decision shows what each check saw.
fn combine(decisions: Vec<Decision>) -> Decision {
    let strictest = Decision::strictest(decisions.iter().cloned());
    if strictest.verdict != Verdict::Accept {
        return strictest;
    }
    let mut accepted = Decision::accept();
    for decision in decisions {
        if !decision.detail.is_empty() {
            if !accepted.detail.is_empty() {
                accepted.detail.push_str("; ");
            }
            accepted.detail.push_str(&decision.detail);
        }
        for (name, value) in decision.figures {
            if !accepted.figures.iter().any(|(seen, _)| *seen == name) {
                accepted.figures.push((name, value));
            }
        }
    }
    accepted
}

impl Risk {
    /// Whether the account's funding is frozen, and why.
    pub async fn frozen(&self, account_id: AccountId) -> Result<Option<AccountFreeze>, CoreError> {
        Ok(self.controls(account_id).await?.frozen)
    }

    /// What is kept per account for the checks: frozen or not, its limit overrides.
    pub async fn controls(&self, account_id: AccountId) -> Result<AccountControls, CoreError> {
        Ok(self.store.account_controls(account_id).await?)
    }

    /// The decision on an Alpaca transfer about to be sent, over its account's `controls` (read
    /// once by the caller): REFUSE when the account is frozen; else the strictest of its limits
    /// (what the account's decided transfers of the same flow have used of each window) and, for a
    /// deposit, the bank's available balance. Read-only: the caller stores the decision with what
    /// it does next.
    pub async fn check_transfer(
        &self,
        transfer: &Transfer,
        controls: &AccountControls,
    ) -> Result<Decision, CoreError> {
        if let Some(freeze) = &controls.frozen {
            return Ok(risk::frozen(&freeze.reason));
        }
        let amount = risk::cents(transfer.amount.as_decimal()).unwrap_or(i64::MAX);
        let flow = alpaca_flow(transfer.direction);
        let limits = self.limits_for(controls, flow);
        let mut decisions = Vec::new();
        let unlimited = limits.per_transfer.is_none()
            && limits.daily.is_none()
            && limits.rolling_30_days.is_none();
        if !unlimited {
            let now = self.clock.now();
            let past = self
                .store
                .limit_usage(transfer.account_id, flow, now - ChronoDuration::days(31))
                .await?;
            let usage = Usage::over(past, now.timestamp_millis());
            decisions.push(check_limits(&limits, &usage, amount));
        }
        if transfer.direction == TransferDirection::Deposit {
            decisions.push(self.return_history(transfer.bank_link_id).await?);
        }
        let refused = decisions.iter().any(|d| d.verdict == Verdict::Refuse);
        if transfer.direction == TransferDirection::Deposit
            && self.settings.balance_check != BalanceCheck::Off
            && !refused
        {
            let available = self.available_cents(transfer.bank_link_id).await?;
            decisions.push(check_balance(
                self.settings.balance_check,
                self.settings.balance_unavailable,
                available,
                amount,
            ));
        }
        Ok(combine(decisions))
    }

    /// The decision on a new transfer taken before it is stored, when it can be: a deposit whose
    /// limits are all unset, so no usage of the account needs counting (its other checks read
    /// nothing this service's own concurrent transfers change). `None` when it must be decided in
    /// the account's submit work, one transfer at a time: limits in force, or a withdrawal (whose
    /// withdrawable cash is checked there against what is in flight).
    pub async fn check_new_transfer(
        &self,
        transfer: &Transfer,
        controls: &AccountControls,
    ) -> Result<Option<Decision>, CoreError> {
        if transfer.direction != TransferDirection::Deposit {
            return Ok(None);
        }
        let limits = self.limits_for(controls, alpaca_flow(transfer.direction));
        let unlimited = limits.per_transfer.is_none()
            && limits.daily.is_none()
            && limits.rolling_30_days.is_none();
        if !unlimited {
            return Ok(None);
        }
        self.check_transfer(transfer, controls).await.map(Some)
    }

    /// REVIEW once the link has had `insufficient_funds_review_after` insufficient-funds returns
    /// (the policy's counted codes: R01, R09 by default) in the last 60 days.
    async fn return_history(&self, link_id: BankLinkId) -> Result<Decision, CoreError> {
        let after = self.settings.insufficient_funds_review_after;
        if after == 0 {
            return Ok(Decision::accept());
        }
        let codes: Vec<String> = self
            .settings
            .return_policy
            .entries()
            .filter(|(_, consequence)| {
                *consequence == funding_domain::returns::Consequence::CountInsufficientFunds
            })
            .map(|(code, _)| code.code().to_owned())
            .collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        let since = self.clock.now() - ChronoDuration::days(60);
        let returned = self.store.returns_on_link(link_id, &codes, since).await?;
        if returned < after {
            return Ok(Decision::accept());
        }
        Ok(Decision {
            verdict: Verdict::Review,
            rule: risk::Rule::ReturnHistory,
            reason: Some(INSUFFICIENT_FUNDS_RETURNS),
            detail: format!(
                "the bank link had {returned} insufficient-funds returns ({}) in the last 60 days; its deposits are reviewed from {after}",
                codes.join(", ")
            ),
            figures: vec![
                ("insufficient_funds_returns_60_days", returned.to_string()),
                ("review_after", after.to_string()),
            ],
        })
    }

    /// The bank account's available balance in cents (Plaid `/accounts/balance/get` with the
    /// link's access token; its current balance when Plaid gives no available one), `None` when
    /// it cannot be read: the settings say what that means.
    async fn available_cents(&self, link_id: BankLinkId) -> Result<Option<i64>, CoreError> {
        let Some(link) = self.links.get_link(link_id).await? else {
            return Ok(None);
        };
        let Some(access_token) = self.secrets.link_secrets(link_id).await?.access_token else {
            return Ok(None);
        };
        match self
            .plaid
            .account_balance(&access_token, &link.plaid_account_id)
            .await
        {
            Ok(balance) => Ok(balance.available.or(balance.current).and_then(risk::cents)),
            Err(error) => {
                tracing::warn!(bank_link_id = %link_id, code = %error.code, "the bank's balance could not be read: {}", error.message);
                Ok(None)
            }
        }
    }

    /// The balance check of a debit on the Plaid rail (money pulled from the customer's bank) of
    /// `amount`, about to be sent for the first time: the available balance of the bank account
    /// behind `processor_token` (Plaid's `/processor/balance/get`, through the rail's own gateway;
    /// its current balance when Plaid gives no available one) against the amount, as
    /// `balance_check` says; a balance that cannot be read is what `balance_unavailable` says.
    /// ACCEPT (rule `none`) with the check off. Read-only: the caller stores the decision with what
    /// it does next.
    ///
    /// Only the balance is checked on this rail: its bank transfers carry no account of ours, so
    /// there is nothing to count limits against and no account to freeze.
    pub(crate) async fn check_debit_balance(
        &self,
        gateway: &dyn BankTransferGateway,
        bank_transfer_id: BankTransferId,
        processor_token: &ProcessorToken,
        amount: Amount,
    ) -> Decision {
        if self.settings.balance_check == BalanceCheck::Off {
            return Decision::accept();
        }
        let amount = risk::cents(amount.as_decimal()).unwrap_or(i64::MAX);
        let available = match gateway.processor_balance(processor_token).await {
            Ok(balance) => balance.available.or(balance.current).and_then(risk::cents),
            Err(error) => {
                tracing::warn!(%bank_transfer_id, code = %error.code, "the bank's balance could not be read: {}", error.message);
                None
            }
        };
        check_balance(
            self.settings.balance_check,
            self.settings.balance_unavailable,
            available,
            amount,
        )
    }

    /// The owner-name check of a link (DESIGN §11): Plaid's `/identity/match` score of the bank's
    /// owners against the Alpaca account owner's name, or, when Plaid cannot score it, the
    /// domain's scorer over `/identity/get`'s names. ACCEPT when the check is off or Alpaca holds
    /// no name to compare.
    pub(crate) async fn check_owner_name(
        &self,
        access_token: &funding_domain::AccessToken,
        plaid_account_id: &PlaidAccountId,
        account_owner: Option<&str>,
    ) -> Result<Decision, crate::ports::ProviderError> {
        let check = self.settings.name_check;
        let threshold = self.settings.name_match_threshold;
        let Some(account_owner) = account_owner.filter(|name| !name.trim().is_empty()) else {
            return Ok(Decision::accept());
        };
        if check == NameCheck::Off {
            return Ok(Decision::accept());
        }
        let scored = match self
            .plaid
            .match_owner_name(access_token, plaid_account_id, account_owner)
            .await
        {
            Ok(score) => score,
            Err(error) if error.is_refusal() => {
                tracing::info!(code = %error.code, "/identity/match is not available; scoring /identity/get's names");
                None
            }
            Err(error) => return Err(error),
        };
        if let Some(score) = scored {
            let figures = vec![
                ("score", score.to_string()),
                ("threshold", threshold.to_string()),
                ("scored_by", "plaid".to_owned()),
            ];
            if score >= threshold {
                return Ok(Decision::accepted_by(
                    risk::Rule::OwnerName,
                    format!(
                        "Plaid scored the bank account owner's name {score} against the account owner's"
                    ),
                    figures,
                ));
            }
            return Ok(Decision {
                verdict: if check == NameCheck::Review {
                    Verdict::Review
                } else {
                    Verdict::Refuse
                },
                rule: risk::Rule::OwnerName,
                reason: Some(risk::names::NAME_MISMATCH),
                detail: format!(
                    "the bank account owner's name does not match the account owner's (Plaid's score {score}, below {threshold})"
                ),
                figures,
            });
        }
        let names = self
            .plaid
            .owner_names(access_token, plaid_account_id)
            .await?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(check_owner_name(check, threshold, &names, account_owner))
    }
}

#[cfg(test)]
mod tests {
    use funding_domain::risk::{Rule, Verdict};

    use super::*;

    #[test]
    fn an_acceptance_keeps_every_rules_figures_and_a_refusal_its_own() {
        let limits = Decision::accepted_by(
            Rule::DailyLimit,
            "within".to_owned(),
            vec![("amount", "1.00".to_owned())],
        );
        let balance = Decision::accepted_by(
            Rule::Balance,
            "the bank has 5.00".to_owned(),
            vec![
                ("amount", "1.00".to_owned()),
                ("available", "5.00".to_owned()),
            ],
        );
        let accepted = combine(vec![limits.clone(), balance]);
        assert_eq!(accepted.verdict, Verdict::Accept);
        assert_eq!(accepted.figures.len(), 2);
        assert_eq!(accepted.detail, "within; the bank has 5.00");
        let refused = combine(vec![limits, risk::frozen("R10")]);
        assert_eq!(refused.rule, Rule::Frozen);
        assert!(refused.detail.contains("R10"));
    }
}
