//! `funding.v1.RiskService`: operators' view and control of the risk checks (DESIGN §11): an
//! account's funding and limits, freezing, the review queue, the audit trail.

use funding_client::v1::risk_service_server::RiskService;
use funding_client::v1::{
    ApproveReviewRequest, ApproveReviewResponse, AuditEvent, FlowFunding, FreezeAccountRequest,
    FreezeAccountResponse, FundingLimits, FundingRail, GetAccountFundingRequest,
    GetAccountFundingResponse, GetReturnRatesRequest, GetReturnRatesResponse, Limit,
    ListAuditEventsRequest, ListAuditEventsResponse, ListReviewsRequest, ListReviewsResponse,
    RailReturnRates, RejectReviewRequest, RejectReviewResponse, ReturnRates, Review, ReviewState,
    SetAccountLimitsRequest, SetAccountLimitsResponse, TransferDirection, UnfreezeAccountRequest,
    UnfreezeAccountResponse,
};
use funding_core::ports::{FundingFlow, ReviewState as CoreReviewState};
use funding_core::risk::{AccountFunding, SetAccountLimitsInput};
use funding_core::{CoreError, Risk};
use funding_domain::risk::format_cents;
use funding_domain::risk::limits::Limit as CoreLimit;
use funding_domain::{ValidationError, ValidationErrors};
use tonic::{Request, Response, Status};

use crate::auth::{Scope, require};
use crate::convert::timestamp;
use crate::observe::observed;

pub struct RiskApi {
    risk: Risk,
}

impl RiskApi {
    pub fn new(risk: Risk) -> Self {
        Self { risk }
    }
}

fn cents(value: Option<i64>) -> String {
    value.map(format_cents).unwrap_or_default()
}

fn limit(limit: &CoreLimit) -> Limit {
    Limit {
        soft: cents(limit.soft),
        hard: cents(limit.hard),
    }
}

/// The API's rail and direction of a flow.
fn flow_names(flow: FundingFlow) -> (FundingRail, TransferDirection) {
    match flow {
        FundingFlow::AlpacaDeposit => (FundingRail::Alpaca, TransferDirection::Deposit),
        FundingFlow::AlpacaWithdrawal => (FundingRail::Alpaca, TransferDirection::Withdrawal),
        // The Plaid rail's debit pulls from the bank, as a deposit does.
        FundingFlow::PlaidDebit => (FundingRail::Plaid, TransferDirection::Deposit),
        FundingFlow::PlaidCredit => (FundingRail::Plaid, TransferDirection::Withdrawal),
    }
}

/// The flow a request names; `None` when it names none this version applies limits to.
fn flow_of(rail: i32, direction: i32) -> Option<FundingFlow> {
    match (
        FundingRail::try_from(rail).ok()?,
        TransferDirection::try_from(direction).ok()?,
    ) {
        (FundingRail::Alpaca, TransferDirection::Deposit) => Some(FundingFlow::AlpacaDeposit),
        (FundingRail::Alpaca, TransferDirection::Withdrawal) => Some(FundingFlow::AlpacaWithdrawal),
        _ => None,
    }
}

fn flows(funding: &AccountFunding) -> Vec<FlowFunding> {
    funding
        .flows
        .iter()
        .map(|flow| {
            let (rail, direction) = flow_names(flow.flow);
            let (by, why) = flow.overridden_by.clone().unwrap_or_default();
            FlowFunding {
                rail: rail.into(),
                direction: direction.into(),
                limits: Some(FundingLimits {
                    per_transfer: Some(limit(&flow.limits.per_transfer)),
                    daily: Some(limit(&flow.limits.daily)),
                    rolling_30_days: Some(limit(&flow.limits.rolling_30_days)),
                }),
                overridden: flow.overridden_by.is_some(),
                overridden_by: by,
                override_reason: why,
                used_today: format_cents(flow.usage.today),
                used_last_30_days: format_cents(flow.usage.last_30_days),
            }
        })
        .collect()
}

fn funding_response(funding: &AccountFunding) -> GetAccountFundingResponse {
    GetAccountFundingResponse {
        account_id: funding.account_id.to_string(),
        frozen: funding.frozen.is_some(),
        frozen_reason: funding
            .frozen
            .as_ref()
            .map(|freeze| freeze.reason.clone())
            .unwrap_or_default(),
        frozen_by: funding
            .frozen
            .as_ref()
            .map(|freeze| freeze.by.clone())
            .unwrap_or_default(),
        frozen_at: funding.frozen.as_ref().map(|freeze| timestamp(freeze.at)),
        flows: flows(funding),
        pending_deposits: format_cents(funding.pending_deposits),
        in_return_window: format_cents(funding.in_return_window),
        returns_60_days: Some(return_rates(&funding.returns)),
    }
}

fn return_rates(rates: &funding_domain::returns::rates::ReturnRates) -> ReturnRates {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let bp = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    ReturnRates {
        debits: count(rates.debits),
        returned: count(rates.returned),
        unauthorized: count(rates.unauthorized),
        administrative: count(rates.administrative),
        overall_basis_points: bp(rates.overall_bp()),
        unauthorized_basis_points: bp(rates.unauthorized_bp()),
        administrative_basis_points: bp(rates.administrative_bp()),
        ceilings_passed: rates
            .ceilings_passed()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

fn review_state(state: CoreReviewState) -> ReviewState {
    match state {
        CoreReviewState::Open => ReviewState::Open,
        CoreReviewState::Approved => ReviewState::Approved,
        CoreReviewState::Rejected => ReviewState::Rejected,
        CoreReviewState::Expired => ReviewState::Expired,
    }
}

fn review(review: &funding_core::ports::Review) -> Review {
    Review {
        id: review.id.to_string(),
        resource_type: review.resource.clone(),
        resource_id: review.resource_id.to_string(),
        account_id: review
            .account_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        state: review_state(review.state).into(),
        rule: review.rule.clone(),
        reason: review.reason.clone().unwrap_or_default(),
        detail: review.detail.clone(),
        amount: review.amount.clone().unwrap_or_default(),
        created_at: Some(timestamp(review.created_at)),
        expires_at: Some(timestamp(review.expires_at)),
        decided_at: review.decided_at.map(timestamp),
        decided_by: review.decided_by.clone().unwrap_or_default(),
        note: review.note.clone().unwrap_or_default(),
    }
}

fn audit_event(event: &funding_core::ports::AuditEvent) -> AuditEvent {
    AuditEvent {
        sequence: event.seq,
        at: Some(timestamp(event.at)),
        actor: event.actor.clone(),
        action: event.action.clone(),
        resource: event.resource.clone(),
        account_id: event
            .account_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        reason: event.reason.clone(),
        details_json: event.details.clone(),
        hash: event.hash.clone(),
        previous_hash: event.prev_hash.clone(),
    }
}

fn pair(limit: Option<&Limit>) -> (String, String) {
    limit
        .map(|limit| (limit.soft.trim().to_owned(), limit.hard.trim().to_owned()))
        .unwrap_or_default()
}

#[tonic::async_trait]
impl RiskService for RiskApi {
    async fn get_account_funding(
        &self,
        request: Request<GetAccountFundingRequest>,
    ) -> Result<Response<GetAccountFundingResponse>, Status> {
        observed("GetAccountFunding", async move {
            require(&request, Scope::RiskRead)?;
            let funding = self
                .risk
                .account_funding(&request.get_ref().account_id)
                .await?;
            Ok(Response::new(funding_response(&funding)))
        })
        .await
    }

    async fn set_account_limits(
        &self,
        request: Request<SetAccountLimitsRequest>,
    ) -> Result<Response<SetAccountLimitsResponse>, Status> {
        observed("SetAccountLimits", async move {
            let caller = require(&request, Scope::RiskWrite)?;
            let body = request.into_inner();
            let flow = flow_of(body.rail, body.direction);
            if flow.is_none() && body.rail == i32::from(FundingRail::Plaid) {
                return Err(CoreError::InvalidArgument(ValidationErrors::from(
                    ValidationError::new(
                        "rail",
                        "FUNDING_RAIL_PLAID limits are set in [risk.limits.plaid] only: its bank transfers carry no account of ours",
                    ),
                ))
                .into());
            }
            let limits = body.limits.unwrap_or_default();
            let input = SetAccountLimitsInput {
                account_id: body.account_id,
                flow,
                per_transfer: pair(limits.per_transfer.as_ref()),
                daily: pair(limits.daily.as_ref()),
                rolling_30_days: pair(limits.rolling_30_days.as_ref()),
                reason: body.reason,
            };
            let funding = self.risk.set_account_limits(&caller.name, input).await?;
            Ok(Response::new(SetAccountLimitsResponse {
                flows: flows(&funding),
            }))
        })
        .await
    }

    async fn freeze_account(
        &self,
        request: Request<FreezeAccountRequest>,
    ) -> Result<Response<FreezeAccountResponse>, Status> {
        observed("FreezeAccount", async move {
            let caller = require(&request, Scope::RiskWrite)?;
            let body = request.into_inner();
            let (funding, changed) = self
                .risk
                .set_frozen(&caller.name, &body.account_id, true, &body.reason)
                .await?;
            Ok(Response::new(FreezeAccountResponse {
                frozen: funding.frozen.is_some(),
                frozen_reason: funding
                    .frozen
                    .as_ref()
                    .map(|freeze| freeze.reason.clone())
                    .unwrap_or_default(),
                changed,
            }))
        })
        .await
    }

    async fn unfreeze_account(
        &self,
        request: Request<UnfreezeAccountRequest>,
    ) -> Result<Response<UnfreezeAccountResponse>, Status> {
        observed("UnfreezeAccount", async move {
            let caller = require(&request, Scope::RiskWrite)?;
            let body = request.into_inner();
            let (funding, changed) = self
                .risk
                .set_frozen(&caller.name, &body.account_id, false, &body.reason)
                .await?;
            Ok(Response::new(UnfreezeAccountResponse {
                frozen: funding.frozen.is_some(),
                changed,
            }))
        })
        .await
    }

    async fn list_reviews(
        &self,
        request: Request<ListReviewsRequest>,
    ) -> Result<Response<ListReviewsResponse>, Status> {
        observed("ListReviews", async move {
            require(&request, Scope::RiskRead)?;
            let body = request.into_inner();
            let state = match ReviewState::try_from(body.state) {
                Ok(ReviewState::Unspecified) => None,
                Ok(ReviewState::Open) => Some(CoreReviewState::Open),
                Ok(ReviewState::Approved) => Some(CoreReviewState::Approved),
                Ok(ReviewState::Rejected) => Some(CoreReviewState::Rejected),
                Ok(ReviewState::Expired) => Some(CoreReviewState::Expired),
                Err(_) => {
                    return Err(CoreError::InvalidArgument(ValidationErrors::from(
                        ValidationError::new("state", "is not a ReviewState this version knows"),
                    ))
                    .into());
                }
            };
            let page = self
                .risk
                .list_reviews(state, &body.account_id, body.page_size, &body.page_token)
                .await?;
            Ok(Response::new(ListReviewsResponse {
                reviews: page.reviews.iter().map(review).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }

    async fn approve_review(
        &self,
        request: Request<ApproveReviewRequest>,
    ) -> Result<Response<ApproveReviewResponse>, Status> {
        observed("ApproveReview", async move {
            let caller = require(&request, Scope::Review)?;
            let body = request.into_inner();
            let closed = self
                .risk
                .approve_review(&caller.name, &body.review_id, &body.note)
                .await?;
            Ok(Response::new(ApproveReviewResponse {
                review: Some(review(&closed)),
            }))
        })
        .await
    }

    async fn reject_review(
        &self,
        request: Request<RejectReviewRequest>,
    ) -> Result<Response<RejectReviewResponse>, Status> {
        observed("RejectReview", async move {
            let caller = require(&request, Scope::Review)?;
            let body = request.into_inner();
            let closed = self
                .risk
                .reject_review(&caller.name, &body.review_id, &body.note)
                .await?;
            Ok(Response::new(RejectReviewResponse {
                review: Some(review(&closed)),
            }))
        })
        .await
    }

    async fn get_return_rates(
        &self,
        request: Request<GetReturnRatesRequest>,
    ) -> Result<Response<GetReturnRatesResponse>, Status> {
        observed("GetReturnRates", async move {
            require(&request, Scope::RiskRead)?;
            let rates = self.risk.return_rates_of(None).await?;
            Ok(Response::new(GetReturnRatesResponse {
                rails: vec![RailReturnRates {
                    rail: FundingRail::Alpaca.into(),
                    rates: Some(return_rates(&rates)),
                }],
            }))
        })
        .await
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        observed("ListAuditEvents", async move {
            require(&request, Scope::RiskRead)?;
            let body = request.into_inner();
            let page = self
                .risk
                .list_audit_events(
                    &body.account_id,
                    &body.resource,
                    body.page_size,
                    &body.page_token,
                )
                .await?;
            Ok(Response::new(ListAuditEventsResponse {
                events: page.events.iter().map(audit_event).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }
}
