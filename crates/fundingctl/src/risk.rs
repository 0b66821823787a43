//! The risk commands (RiskService): `risk funding`, `limits`, `freeze`, `unfreeze`, `reviews`,
//! `approve`, `reject` and `audit`.
//!
//! `reviews` and `audit` read one page (`--page-size`, `--page-token`): the table is followed by a
//! `next page: --page-token T` line when there is more, and `--json` answers the page as the proto
//! does (`{"reviews": […], "next_page_token": "…"}`).

use clap::{Args, Subcommand, ValueEnum};
use funding_client::FundingClient;
use funding_client::v1;

use crate::error::CliError;
use crate::show::{missing, print_json};
use crate::transfers::DirectionArg;
use crate::{json, output};

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// An account's funding: frozen or not, per rail and direction the limits in force and what is
    /// used (GetAccountFunding).
    ///
    /// Frozen or not, why, by whom and since when; its deposits not yet complete; then per rail and
    /// direction the soft and hard limits of each window (one transfer, the UTC day, the last 30
    /// days), who overrode the defaults and why, and what today and the last 30 days have used.
    Funding { account_id: String },
    /// Set an account's own limits for one rail and direction (SetAccountLimits).
    ///
    /// Replaces the account's earlier limits there: each limit given replaces the configured
    /// default, one left out keeps the default, none at all removes the account's own limits.
    /// Amounts are decimal strings (1000.00); past a soft limit a transfer goes to review, past a
    /// hard one it is refused (LIMIT_EXCEEDED).
    Limits(Box<LimitsArgs>),
    /// Freeze an account's funding: every new transfer is refused (FreezeAccount).
    Freeze {
        account_id: String,
        /// Why (kept with the freeze and in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Unfreeze an account's funding (UnfreezeAccount).
    Unfreeze {
        account_id: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// The review queue, oldest first, one page (ListReviews).
    Reviews {
        /// Only reviews in this state; every state when absent.
        #[arg(long)]
        state: Option<ReviewStateArg>,
        /// Only this account's; every account's when absent.
        #[arg(long, default_value = "")]
        account_id: String,
        /// 0 means the service's default (50); at most 500.
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The `next page` token of the page before.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Send a transfer held for review (or let the link go on) (ApproveReview).
    Approve {
        review_id: String,
        /// Why (kept with the review and in the audit trail).
        #[arg(long)]
        note: String,
    },
    /// End a transfer held for review FAILED, unsent (or fail the link) (RejectReview).
    Reject {
        review_id: String,
        /// Why (kept with the review and in the audit trail).
        #[arg(long)]
        note: String,
    },
    /// The audit trail, in the order it was written, one page (ListAuditEvents).
    Audit {
        /// Only this account's; every account's when absent.
        #[arg(long, default_value = "")]
        account_id: String,
        /// Only this resource (`accounts/<id>`, `transfers/<id>`, `bank_links/<id>`).
        #[arg(long, default_value = "")]
        resource: String,
        /// 0 means the service's default (100); at most 1000.
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The `next page` token of the page before.
        #[arg(long, default_value = "")]
        page_token: String,
    },
}

// `risk limits`' arguments (its help is the variant's).
#[derive(Debug, Args)]
pub struct LimitsArgs {
    account_id: String,
    #[arg(long)]
    rail: RailArg,
    #[arg(long)]
    direction: DirectionArg,
    /// Above it, one transfer goes to review.
    #[arg(long, value_name = "AMOUNT")]
    per_transfer_soft: Option<String>,
    /// Above it, one transfer is refused.
    #[arg(long, value_name = "AMOUNT")]
    per_transfer_hard: Option<String>,
    /// Past it, the UTC calendar day's transfers go to review.
    #[arg(long, value_name = "AMOUNT")]
    daily_soft: Option<String>,
    /// Past it, the UTC calendar day's transfers are refused.
    #[arg(long, value_name = "AMOUNT")]
    daily_hard: Option<String>,
    /// Past it, the last 30 days' transfers go to review.
    #[arg(long = "rolling-30-days-soft", value_name = "AMOUNT")]
    rolling_30_days_soft: Option<String>,
    /// Past it, the last 30 days' transfers are refused.
    #[arg(long = "rolling-30-days-hard", value_name = "AMOUNT")]
    rolling_30_days_hard: Option<String>,
    /// Why (kept in the audit trail).
    #[arg(long)]
    reason: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RailArg {
    /// Alpaca transfers (deposit, withdraw).
    Alpaca,
    /// Plaid bank transfers (refused: their limits are set in [risk.limits.plaid] only).
    Plaid,
}

impl From<RailArg> for v1::FundingRail {
    fn from(rail: RailArg) -> Self {
        match rail {
            RailArg::Alpaca => Self::Alpaca,
            RailArg::Plaid => Self::Plaid,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReviewStateArg {
    Open,
    Approved,
    Rejected,
    Expired,
}

impl From<ReviewStateArg> for v1::ReviewState {
    fn from(state: ReviewStateArg) -> Self {
        match state {
            ReviewStateArg::Open => Self::Open,
            ReviewStateArg::Approved => Self::Approved,
            ReviewStateArg::Rejected => Self::Rejected,
            ReviewStateArg::Expired => Self::Expired,
        }
    }
}

fn limit(soft: Option<String>, hard: Option<String>) -> Option<v1::Limit> {
    Some(v1::Limit {
        soft: soft.unwrap_or_default(),
        hard: hard.unwrap_or_default(),
    })
}

/// The line after a page that has a next one (nothing after the last page).
fn next_page(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!("next page: --page-token {token}\n")
    }
}

/// A decided or held review: its row, then its detail and note.
fn show_review(json: bool, review: &v1::Review) -> Result<(), CliError> {
    if json {
        return print_json(&json::review(review));
    }
    print!("{}", output::reviews([review]));
    if !review.detail.is_empty() {
        println!("detail: {}", review.detail);
    }
    if !review.note.is_empty() {
        println!("note: {}", review.note);
    }
    Ok(())
}

/// `fundingctl returns`: GetReturnRates.
pub async fn returns(client: &FundingClient, json: bool) -> Result<(), CliError> {
    let rates = client
        .risk()
        .get_return_rates(v1::GetReturnRatesRequest {})
        .await?
        .into_inner();
    if json {
        return print_json(&json::return_rates_by_rail(&rates));
    }
    print!("{}", output::return_rates(&rates));
    Ok(())
}

/// One `risk` subcommand.
pub async fn run(client: &FundingClient, json: bool, command: RiskCommand) -> Result<(), CliError> {
    let mut risk = client.risk();
    match command {
        RiskCommand::Funding { account_id } => {
            let funding = risk
                .get_account_funding(v1::GetAccountFundingRequest { account_id })
                .await?
                .into_inner();
            if json {
                return print_json(&json::account_funding(&funding));
            }
            print!("{}", output::account_funding(&funding));
            Ok(())
        }
        RiskCommand::Limits(args) => {
            let args = *args;
            let request = v1::SetAccountLimitsRequest {
                account_id: args.account_id,
                rail: v1::FundingRail::from(args.rail).into(),
                direction: v1::TransferDirection::from(args.direction).into(),
                limits: Some(v1::FundingLimits {
                    per_transfer: limit(args.per_transfer_soft, args.per_transfer_hard),
                    daily: limit(args.daily_soft, args.daily_hard),
                    rolling_30_days: limit(args.rolling_30_days_soft, args.rolling_30_days_hard),
                }),
                reason: args.reason,
            };
            let flows = risk.set_account_limits(request).await?.into_inner().flows;
            if json {
                return print_json(&json::flows(&flows));
            }
            print!("{}", output::flows(&flows));
            Ok(())
        }
        RiskCommand::Freeze { account_id, reason } => {
            let response = risk
                .freeze_account(v1::FreezeAccountRequest {
                    account_id: account_id.clone(),
                    reason,
                })
                .await?
                .into_inner();
            if json {
                return print_json(&json::freeze(&response));
            }
            if response.changed {
                println!("account {account_id} frozen: {}", response.frozen_reason);
            } else {
                println!(
                    "account {account_id} was already frozen: {} (nothing changed)",
                    response.frozen_reason
                );
            }
            Ok(())
        }
        RiskCommand::Unfreeze { account_id, reason } => {
            let response = risk
                .unfreeze_account(v1::UnfreezeAccountRequest {
                    account_id: account_id.clone(),
                    reason,
                })
                .await?
                .into_inner();
            if json {
                return print_json(&json::unfreeze(&response));
            }
            if response.changed {
                println!("account {account_id} unfrozen");
            } else {
                println!("account {account_id} was not frozen (nothing changed)");
            }
            Ok(())
        }
        RiskCommand::Reviews {
            state,
            account_id,
            page_size,
            page_token,
        } => {
            let state = state.map_or(v1::ReviewState::Unspecified, Into::into);
            let page = risk
                .list_reviews(v1::ListReviewsRequest {
                    state: state.into(),
                    account_id,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            if json {
                return print_json(&json::reviews(&page));
            }
            print!("{}", output::reviews(&page.reviews));
            print!("{}", next_page(&page.next_page_token));
            Ok(())
        }
        RiskCommand::Approve { review_id, note } => {
            let review = risk
                .approve_review(v1::ApproveReviewRequest { review_id, note })
                .await?
                .into_inner()
                .review
                .ok_or_else(|| missing("review"))?;
            show_review(json, &review)
        }
        RiskCommand::Reject { review_id, note } => {
            let review = risk
                .reject_review(v1::RejectReviewRequest { review_id, note })
                .await?
                .into_inner()
                .review
                .ok_or_else(|| missing("review"))?;
            show_review(json, &review)
        }
        RiskCommand::Audit {
            account_id,
            resource,
            page_size,
            page_token,
        } => {
            let page = risk
                .list_audit_events(v1::ListAuditEventsRequest {
                    account_id,
                    resource,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            if json {
                return print_json(&json::audit_events(&page));
            }
            print!("{}", output::audit_events(&page.events));
            print!("{}", next_page(&page.next_page_token));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_left_out_is_sent_empty() {
        let limit = limit(Some("100.00".into()), None).unwrap();
        assert_eq!(limit.soft, "100.00");
        assert_eq!(limit.hard, "");
    }

    #[test]
    fn the_next_page_is_named_only_when_there_is_one() {
        assert_eq!(next_page(""), "");
        assert_eq!(next_page("42"), "next page: --page-token 42\n");
    }
}
