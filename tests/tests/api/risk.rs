//! Risk controls before money moves (DESIGN §11), end to end against the emulator: the bank's
//! balance (refuse, review, unavailable), the owner name at link time, limits (hard, soft, per
//! account), frozen accounts, and the review queue with its audit trail.

use std::time::Duration;

use funding_client::v1::{self, BankLinkStatus, ReviewState, TransferDirection, TransferStatus};
use funding_domain::risk::balance::{BalanceCheck, BalanceUnavailable};
use funding_domain::risk::limits::{FundingLimits, Limit};
use funding_domain::risk::names::NameCheck;
use funding_sandbox::ItemRiskSettings;
use funding_tests::{AppOptions, Backend, TestApp, error_reason};
use fundingd::settings::RiskSettings;
use rust_decimal::Decimal;
use tonic::Code;

/// An approved link whose bank (its Plaid Item) the test controls: (account id, link, item id).
pub(crate) async fn controlled_link(app: &TestApp) -> (String, v1::BankLink, String) {
    let bank = app.sandbox.create_public_token("ins_109508").unwrap();
    let checking = bank
        .accounts
        .iter()
        .find(|account| account.subtype == "checking")
        .unwrap();
    let request = v1::CreateBankLinkRequest {
        account_id: uuid::Uuid::new_v4().to_string(),
        public_token: bank.public_token.clone(),
        plaid_account_id: checking.account_id.clone(),
        nickname: String::new(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        replace_bank_link_id: String::new(),
    };
    let link = app
        .create_link(request.clone())
        .await
        .expect("CreateBankLink");
    let link = app
        .wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    (request.account_id, link, bank.item_id)
}

pub(crate) fn available(app: &TestApp, item_id: &str, amount: &str) {
    app.sandbox
        .set_item_risk(
            item_id,
            ItemRiskSettings {
                available: Some(Some(amount.parse::<Decimal>().unwrap())),
                ..ItemRiskSettings::default()
            },
        )
        .unwrap();
}

fn alpaca_transfer_posts(app: &TestApp, account_id: &str) -> usize {
    app.provider_calls("POST", &format!("/v1/accounts/{account_id}/transfers"))
}

pub(crate) fn deposit(
    app: &TestApp,
    account_id: &str,
    link: &v1::BankLink,
    amount: &str,
) -> v1::CreateTransferRequest {
    app.transfer_request(account_id, link, amount, TransferDirection::Deposit)
}

pub(crate) async fn open_reviews(app: &TestApp, account_id: &str) -> Vec<v1::Review> {
    app.client
        .risk()
        .list_reviews(v1::ListReviewsRequest {
            state: ReviewState::Open.into(),
            account_id: account_id.into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("ListReviews")
        .into_inner()
        .reviews
}

pub(crate) async fn audit(app: &TestApp, account_id: &str) -> Vec<v1::AuditEvent> {
    app.client
        .risk()
        .list_audit_events(v1::ListAuditEventsRequest {
            account_id: account_id.into(),
            ..v1::ListAuditEventsRequest::default()
        })
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .events
}

fn with_risk(backend: Backend, risk: RiskSettings) -> AppOptions {
    AppOptions {
        backend,
        risk,
        ..AppOptions::default()
    }
}

async fn a_deposit_above_the_bank_balance_is_refused_unsent(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            balance_check: BalanceCheck::Refuse,
            ..RiskSettings::default()
        },
    ))
    .await;
    let (account_id, link, item) = controlled_link(&app).await;
    available(&app, &item, "120.00");
    let request = deposit(&app, &account_id, &link, "500.00");
    let status = app.create_transfer(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(error_reason(&status), "INSUFFICIENT_BANK_BALANCE");
    assert!(
        status.message().contains("380.00 short"),
        "{}",
        status.message()
    );
    assert_eq!(
        alpaca_transfer_posts(&app, &account_id),
        0,
        "nothing sent to Alpaca"
    );
    // A repeat answers the same, and the transfer shows the decision and what it saw.
    let again = app.create_transfer(request).await.unwrap_err();
    assert_eq!(error_reason(&again), "INSUFFICIENT_BANK_BALANCE");
    let listed = app
        .client
        .transfers()
        .list_transfers(v1::ListTransfersRequest {
            account_id: account_id.clone(),
            ..v1::ListTransfersRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(listed.len(), 1);
    let refused = &listed[0];
    assert_eq!(refused.status(), TransferStatus::Failed);
    let risk = refused.risk.as_ref().expect("the decision is shown");
    assert_eq!(risk.verdict(), v1::RiskVerdict::Refuse);
    assert_eq!(risk.rule, "balance");
    assert!(
        risk.figures
            .iter()
            .any(|f| f.name == "available" && f.value == "120.00"),
        "{risk:?}"
    );
    // Within the balance it goes through, and the acceptance is stored with its figures.
    let fits = app
        .create_transfer(deposit(&app, &account_id, &link, "100.00"))
        .await
        .expect("a deposit the balance covers");
    let fits = app
        .wait_for_transfer_status(&fits.id, TransferStatus::Complete)
        .await;
    assert_eq!(fits.risk.unwrap().verdict(), v1::RiskVerdict::Accept);
    app.stop().await;
}

async fn a_held_deposit_is_sent_only_after_approval_and_the_audit_names_the_reviewer(
    backend: Backend,
) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            balance_check: BalanceCheck::Review,
            ..RiskSettings::default()
        },
    ))
    .await;
    let (account_id, link, item) = controlled_link(&app).await;
    available(&app, &item, "120.00");
    let held = app
        .create_transfer(deposit(&app, &account_id, &link, "500.00"))
        .await
        .expect("a held deposit is answered, not refused");
    assert_eq!(held.status(), TransferStatus::PendingReview, "{held:?}");
    assert_eq!(
        held.risk.as_ref().unwrap().verdict(),
        v1::RiskVerdict::Review
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.get_transfer(&held.id).await.status(),
        TransferStatus::PendingReview
    );
    assert_eq!(
        alpaca_transfer_posts(&app, &account_id),
        0,
        "nothing sent while held"
    );

    let reviews = open_reviews(&app, &account_id).await;
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let review = &reviews[0];
    assert_eq!(
        (review.resource_type.as_str(), review.resource_id.as_str()),
        ("transfer", held.id.as_str())
    );
    assert_eq!(review.rule, "balance");
    assert_eq!(review.amount, "500.00");

    // A note is required; nothing changes without one.
    let refused = app
        .client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id.clone(),
            note: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(funding_tests::bad_request_fields(&refused), vec!["note"]);

    let approved = app
        .client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id.clone(),
            note: "called the customer: payroll lands tomorrow".into(),
        })
        .await
        .expect("ApproveReview")
        .into_inner()
        .review
        .unwrap();
    assert_eq!(approved.state(), ReviewState::Approved);
    assert_eq!(approved.decided_by, "anonymous");
    let sent = app
        .wait_for_transfer_status(&held.id, TransferStatus::Complete)
        .await;
    assert!(!sent.provider_transfer_id.is_empty());
    assert_eq!(alpaca_transfer_posts(&app, &account_id), 1, "sent once");

    // A second decision on the same review is refused and changes nothing.
    let twice = app
        .client
        .risk()
        .reject_review(v1::RejectReviewRequest {
            review_id: review.id.clone(),
            note: "too late".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error_reason(&twice), "REVIEW_NOT_OPEN");

    let events = audit(&app, &account_id).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["review.opened", "review.approved"], "{events:?}");
    let approval = &events[1];
    assert_eq!(approval.actor, "anonymous");
    assert_eq!(
        approval.reason,
        "called the customer: payroll lands tomorrow"
    );
    assert_eq!(approval.resource, format!("transfers/{}", held.id));
    assert_eq!(
        approval.previous_hash, events[0].hash,
        "the trail is chained"
    );
    app.stop().await;
}

async fn a_held_deposit_is_rejected_or_expires_unsent(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            balance_check: BalanceCheck::Review,
            review_expiry_ms: 1_500,
            ..RiskSettings::default()
        },
    ))
    .await;
    let (account_id, link, item) = controlled_link(&app).await;
    available(&app, &item, "10.00");
    let rejected = app
        .create_transfer(deposit(&app, &account_id, &link, "50.00"))
        .await
        .unwrap();
    let review = open_reviews(&app, &account_id).await.remove(0);
    app.client
        .risk()
        .reject_review(v1::RejectReviewRequest {
            review_id: review.id,
            note: "the customer did not ask for it".into(),
        })
        .await
        .expect("RejectReview");
    let rejected = app.get_transfer(&rejected.id).await;
    assert_eq!(rejected.status(), TransferStatus::Failed);
    assert!(
        rejected
            .status_reason
            .contains("the customer did not ask for it"),
        "{rejected:?}"
    );

    // The caller may cancel what is held: CANCELED, its review closed.
    let cancelled = app
        .create_transfer(deposit(&app, &account_id, &link, "55.00"))
        .await
        .unwrap();
    assert_eq!(cancelled.status(), TransferStatus::PendingReview);
    let cancelled = app
        .client
        .transfers()
        .cancel_transfer(v1::CancelTransferRequest {
            id: cancelled.id.clone(),
        })
        .await
        .expect("CancelTransfer of a held transfer")
        .into_inner()
        .transfer
        .unwrap();
    assert_eq!(cancelled.status(), TransferStatus::Canceled);
    assert!(open_reviews(&app, &account_id).await.is_empty());

    let unreviewed = app
        .create_transfer(deposit(&app, &account_id, &link, "60.00"))
        .await
        .unwrap();
    assert_eq!(unreviewed.status(), TransferStatus::PendingReview);
    let expired = app
        .wait_for_transfer_status(&unreviewed.id, TransferStatus::Failed)
        .await;
    assert!(expired.status_reason.contains("expired"), "{expired:?}");
    assert_eq!(
        alpaca_transfer_posts(&app, &account_id),
        0,
        "neither was sent"
    );
    let actions: Vec<String> = audit(&app, &account_id)
        .await
        .into_iter()
        .map(|e| format!("{}:{}", e.action, e.actor))
        .collect();
    assert_eq!(
        actions,
        [
            "review.opened:service",
            "review.rejected:anonymous",
            "review.opened:service",
            "review.cancelled:anonymous",
            "review.opened:service",
            "review.expired:service"
        ]
    );
    app.stop().await;
}

async fn an_unavailable_balance_does_what_the_setting_says(backend: Backend) {
    for (setting, expected) in [
        (BalanceUnavailable::Accept, TransferStatus::Complete),
        (BalanceUnavailable::Review, TransferStatus::PendingReview),
        (BalanceUnavailable::Refuse, TransferStatus::Failed),
    ] {
        let app = TestApp::spawn_with(with_risk(
            backend,
            RiskSettings {
                balance_check: BalanceCheck::Refuse,
                balance_unavailable: setting,
                ..RiskSettings::default()
            },
        ))
        .await;
        let (account_id, link, item) = controlled_link(&app).await;
        app.sandbox
            .set_item_risk(
                &item,
                ItemRiskSettings {
                    balance_unavailable: Some(true),
                    ..ItemRiskSettings::default()
                },
            )
            .unwrap();
        let created = app
            .create_transfer(deposit(&app, &account_id, &link, "25.00"))
            .await;
        let id = match (&created, setting) {
            (Err(status), BalanceUnavailable::Refuse) => {
                assert_eq!(
                    error_reason(status),
                    "INSUFFICIENT_BANK_BALANCE",
                    "{status:?}"
                );
                None
            }
            (Ok(transfer), _) => Some(transfer.id.clone()),
            (Err(status), _) => panic!("{setting:?}: {status:?}"),
        };
        if let Some(id) = id {
            let transfer = app.wait_for_transfer_status(&id, expected).await;
            let risk = transfer.risk.unwrap();
            assert!(
                risk.figures
                    .iter()
                    .any(|f| f.name == "available" && f.value == "unavailable")
                    || setting == BalanceUnavailable::Accept,
                "{setting:?}: {risk:?}"
            );
        }
        assert!(
            app.provider_calls("POST", "/accounts/balance/get") >= 1,
            "{setting:?}: the balance was asked for"
        );
        let sent = alpaca_transfer_posts(&app, &account_id);
        assert_eq!(
            sent,
            usize::from(setting == BalanceUnavailable::Accept),
            "{setting:?}"
        );
        app.stop().await;
    }
}

async fn a_link_whose_bank_owner_is_someone_else_is_refused_before_any_relationship(
    backend: Backend,
) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            name_check: NameCheck::Refuse,
            ..RiskSettings::default()
        },
    ))
    .await;
    // With the check on, Link is opened with `identity` (what /identity/match needs on the Item).
    let token = app
        .client
        .bank_links()
        .create_link_token(v1::CreateLinkTokenRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            ..v1::CreateLinkTokenRequest::default()
        })
        .await
        .expect("CreateLinkToken")
        .into_inner();
    let snapshot = app
        .sandbox
        .link_tokens()
        .into_iter()
        .find(|t| t.link_token == token.link_token)
        .unwrap();
    assert!(
        snapshot.products.iter().any(|p| p == "identity"),
        "{:?}",
        snapshot.products
    );
    for (bank_owner, passes) in [("John Q Public", false), ("Alberta B. Charleson", true)] {
        let bank = app.sandbox.create_public_token("ins_109508").unwrap();
        app.sandbox
            .set_item_risk(
                &bank.item_id,
                ItemRiskSettings {
                    owner_names: Some(vec![bank_owner.to_owned()]),
                    ..ItemRiskSettings::default()
                },
            )
            .unwrap();
        let account_id = uuid::Uuid::new_v4();
        app.sandbox
            .set_account_owner_name(account_id, "Alberta Charleson")
            .unwrap();
        let checking = bank
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .unwrap();
        let request = v1::CreateBankLinkRequest {
            account_id: account_id.to_string(),
            public_token: bank.public_token.clone(),
            plaid_account_id: checking.account_id.clone(),
            nickname: String::new(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        };
        let created = app.create_link(request).await;
        let relationships = app.provider_calls(
            "POST",
            &format!("/v1/accounts/{account_id}/ach_relationships"),
        );
        if passes {
            let link = created.expect("a matching owner passes");
            app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
                .await;
            assert_eq!(relationships, 1);
        } else {
            let status = created.unwrap_err();
            assert_eq!(error_reason(&status), "NAME_MISMATCH", "{status:?}");
            assert!(
                status.message().contains("does not match"),
                "{}",
                status.message()
            );
            assert_eq!(relationships, 0, "no relationship created for {bank_owner}");
            for _ in 0..200 {
                if app.provider_calls("POST", "/item/remove") == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                app.provider_calls("POST", "/item/remove"),
                1,
                "the Item is removed"
            );
        }
    }
    app.stop().await;
}

async fn a_doubtful_owner_name_waits_for_review_before_any_relationship(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            name_check: NameCheck::Review,
            ..RiskSettings::default()
        },
    ))
    .await;
    let mut outcomes = Vec::new();
    for approve in [true, false] {
        let bank = app.sandbox.create_public_token("ins_109508").unwrap();
        app.sandbox
            .set_item_risk(
                &bank.item_id,
                ItemRiskSettings {
                    owner_names: Some(vec!["John Q Public".to_owned()]),
                    ..ItemRiskSettings::default()
                },
            )
            .unwrap();
        let account_id = uuid::Uuid::new_v4();
        app.sandbox
            .set_account_owner_name(account_id, "Alberta Charleson")
            .unwrap();
        let checking = bank
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .unwrap();
        let link = app
            .create_link(v1::CreateBankLinkRequest {
                account_id: account_id.to_string(),
                public_token: bank.public_token.clone(),
                plaid_account_id: checking.account_id.clone(),
                nickname: String::new(),
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                replace_bank_link_id: String::new(),
            })
            .await
            .expect("a link in doubt is answered, not refused");
        let mut reviews = Vec::new();
        for _ in 0..100 {
            reviews = open_reviews(&app, &account_id.to_string()).await;
            if !reviews.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(reviews.len(), 1);
        assert_eq!(reviews[0].resource_type, "bank_link");
        assert_eq!(reviews[0].resource_id, link.id);
        assert_eq!(reviews[0].reason, "NAME_MISMATCH");
        let waiting = app.get_link(&link.id).await;
        assert_eq!(waiting.status(), BankLinkStatus::Creating);
        let relationships = format!("/v1/accounts/{account_id}/ach_relationships");
        assert_eq!(
            app.provider_calls("POST", &relationships),
            0,
            "nothing asked of Alpaca while in doubt"
        );
        if approve {
            app.client
                .risk()
                .approve_review(v1::ApproveReviewRequest {
                    review_id: reviews[0].id.clone(),
                    note: "married name; ID checked".into(),
                })
                .await
                .expect("ApproveReview");
            app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
                .await;
            assert_eq!(app.provider_calls("POST", &relationships), 1);
        } else {
            app.client
                .risk()
                .reject_review(v1::RejectReviewRequest {
                    review_id: reviews[0].id.clone(),
                    note: "not the account holder".into(),
                })
                .await
                .expect("RejectReview");
            let failed = app
                .wait_for_link_status(&link.id, BankLinkStatus::Failed)
                .await;
            assert!(failed.status_reason.contains("NAME_MISMATCH"), "{failed:?}");
            assert!(
                failed.status_reason.contains("not the account holder"),
                "{failed:?}"
            );
            assert_eq!(app.provider_calls("POST", &relationships), 0);
        }
        outcomes.push(
            audit(&app, &account_id.to_string())
                .await
                .into_iter()
                .map(|e| {
                    format!(
                        "{}:{}",
                        e.action,
                        e.resource.split('/').next().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        outcomes,
        [
            ["review.opened:bank_links", "review.approved:bank_links"],
            ["review.opened:bank_links", "review.rejected:bank_links"]
        ]
    );
    app.stop().await;
}

/// A daily hard limit of 1,000.00 and twenty concurrent deposits of 100.00: exactly ten go
/// through, the rest refused naming the limit and what remains.
pub(crate) async fn final_statuses(app: &TestApp, ids: &[String]) -> Vec<v1::Transfer> {
    let mut finals = Vec::new();
    for id in ids {
        let mut transfer = app.get_transfer(id).await;
        for _ in 0..400 {
            if transfer.status() != TransferStatus::Submitting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            transfer = app.get_transfer(id).await;
        }
        finals.push(transfer);
    }
    finals
}

fn daily(hard: Option<i64>, soft: Option<i64>) -> RiskSettings {
    let mut risk = RiskSettings::default();
    risk.limits.alpaca.deposit = FundingLimits {
        daily: Limit { soft, hard },
        ..FundingLimits::default()
    };
    risk
}

async fn a_daily_limit_lets_exactly_what_fits_through_and_an_override_raises_it(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(backend, daily(Some(100_000), None))).await;
    let (account_id, link, _) = controlled_link(&app).await;
    let calls = (0..20).map(|_| {
        let client = app.client.clone();
        let request = deposit(&app, &account_id, &link, "100.00");
        tokio::spawn(async move { client.transfers().create_transfer(request).await })
    });
    let mut ids = Vec::new();
    for (i, call) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        match call.unwrap() {
            Ok(response) => ids.push(response.into_inner().transfer.unwrap().id),
            Err(status) => {
                assert_eq!(
                    error_reason(&status),
                    "LIMIT_EXCEEDED",
                    "call {i}: {status:?}"
                );
            }
        }
    }
    let listed = app
        .client
        .transfers()
        .list_transfers(v1::ListTransfersRequest {
            account_id: account_id.clone(),
            page_size: 100,
            ..v1::ListTransfersRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(listed.len(), 20, "every request made a transfer");
    let ids: Vec<String> = listed.iter().map(|t| t.id.clone()).collect();
    let finals = final_statuses(&app, &ids).await;
    let refused: Vec<&v1::Transfer> = finals
        .iter()
        .filter(|t| t.status() == TransferStatus::Failed)
        .collect();
    let through = finals
        .iter()
        .filter(|t| t.status() != TransferStatus::Failed)
        .count();
    assert_eq!(through, 10, "{finals:#?}");
    assert_eq!(refused.len(), 10);
    for transfer in refused {
        assert!(
            transfer.status_reason.starts_with("LIMIT_EXCEEDED"),
            "{transfer:?}"
        );
        assert!(
            transfer
                .status_reason
                .contains("daily limit of 1000.00 has 0.00 left"),
            "{}",
            transfer.status_reason
        );
    }
    assert_eq!(alpaca_transfer_posts(&app, &account_id), 10);

    // An operator raises this account's daily limit; the audit shows who and why.
    let flows = app
        .client
        .risk()
        .set_account_limits(v1::SetAccountLimitsRequest {
            account_id: account_id.clone(),
            rail: v1::FundingRail::Alpaca.into(),
            direction: TransferDirection::Deposit.into(),
            limits: Some(v1::FundingLimits {
                daily: Some(v1::Limit {
                    soft: String::new(),
                    hard: "1500.00".into(),
                }),
                ..v1::FundingLimits::default()
            }),
            reason: "verified income".into(),
        })
        .await
        .expect("SetAccountLimits")
        .into_inner()
        .flows;
    let deposits = flows
        .iter()
        .find(|f| f.direction() == TransferDirection::Deposit)
        .unwrap();
    assert!(deposits.overridden);
    assert_eq!(deposits.used_today, "1000.00");
    let raised = app
        .create_transfer(deposit(&app, &account_id, &link, "100.00"))
        .await
        .expect("the raised limit lets it through");
    assert_ne!(raised.status(), TransferStatus::Failed);
    let funding = app
        .client
        .risk()
        .get_account_funding(v1::GetAccountFundingRequest {
            account_id: account_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let deposits = funding
        .flows
        .iter()
        .find(|f| f.direction() == TransferDirection::Deposit)
        .unwrap();
    assert_eq!(
        deposits
            .limits
            .as_ref()
            .unwrap()
            .daily
            .as_ref()
            .unwrap()
            .hard,
        "1500.00"
    );
    assert_eq!(deposits.used_today, "1100.00");
    assert!(!funding.frozen);
    let events = audit(&app, &account_id).await;
    let set = events
        .iter()
        .find(|e| e.action == "limits.set")
        .expect("an audit event");
    assert_eq!(
        (set.actor.as_str(), set.reason.as_str()),
        ("anonymous", "verified income")
    );
    assert!(set.details_json.contains("1500.00"), "{}", set.details_json);
    app.stop().await;
}

async fn a_soft_limit_sends_to_review_and_a_frozen_account_refuses_everything(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(backend, daily(None, Some(50_000)))).await;
    let (account_id, link, _) = controlled_link(&app).await;
    let under = app
        .create_transfer(deposit(&app, &account_id, &link, "400.00"))
        .await
        .unwrap();
    assert_ne!(under.status(), TransferStatus::PendingReview);
    let over = app
        .create_transfer(deposit(&app, &account_id, &link, "200.00"))
        .await
        .unwrap();
    assert_eq!(over.status(), TransferStatus::PendingReview);
    assert_eq!(over.risk.unwrap().rule, "daily_limit");

    let frozen = app
        .client
        .risk()
        .freeze_account(v1::FreezeAccountRequest {
            account_id: account_id.clone(),
            reason: "suspected account takeover".into(),
        })
        .await
        .expect("FreezeAccount")
        .into_inner();
    assert!(frozen.frozen && frozen.changed);
    for direction in [TransferDirection::Deposit, TransferDirection::Withdrawal] {
        let status = app
            .create_transfer(app.transfer_request(&account_id, &link, "1.00", direction))
            .await
            .unwrap_err();
        assert_eq!(
            error_reason(&status),
            "ACCOUNT_FROZEN",
            "{direction:?}: {status:?}"
        );
        assert!(status.message().contains("suspected account takeover"));
    }
    // A held transfer of a frozen account cannot be approved until it is unfrozen.
    let review = open_reviews(&app, &account_id).await.remove(0);
    let refused = app
        .client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id.clone(),
            note: "ok".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error_reason(&refused), "ACCOUNT_FROZEN");
    let again = app
        .client
        .risk()
        .freeze_account(v1::FreezeAccountRequest {
            account_id: account_id.clone(),
            reason: "twice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        again.frozen && !again.changed,
        "a second freeze changes nothing"
    );
    let unfrozen = app
        .client
        .risk()
        .unfreeze_account(v1::UnfreezeAccountRequest {
            account_id: account_id.clone(),
            reason: "the customer confirmed by phone".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!unfrozen.frozen && unfrozen.changed);
    app.client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id,
            note: "ok now".into(),
        })
        .await
        .expect("approved once unfrozen");
    app.wait_for_transfer_status(&over.id, TransferStatus::Complete)
        .await;
    let actions: Vec<String> = audit(&app, &account_id)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "review.opened",
            "account.frozen",
            "account.unfrozen",
            "review.approved"
        ]
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_deposit_above_the_bank_balance_is_refused_unsent,
    a_held_deposit_is_sent_only_after_approval_and_the_audit_names_the_reviewer,
    a_held_deposit_is_rejected_or_expires_unsent,
    an_unavailable_balance_does_what_the_setting_says,
    a_link_whose_bank_owner_is_someone_else_is_refused_before_any_relationship,
    a_doubtful_owner_name_waits_for_review_before_any_relationship,
    a_daily_limit_lets_exactly_what_fits_through_and_an_override_raises_it,
    a_soft_limit_sends_to_review_and_a_frozen_account_refuses_everything,
);
