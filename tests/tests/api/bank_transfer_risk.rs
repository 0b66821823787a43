//! The risk checks on the Plaid processor rail (DESIGN §11), end to end against the emulator: a
//! debit (money pulled from the customer's bank) is checked against the bank's balance, read with
//! its processor token (`/processor/balance/get`), before it is first sent; refused, it never
//! reaches Plaid's create; held, it waits in PENDING_REVIEW for an operator (approved: sent once;
//! rejected, expired: REFUSED; cancelled by its caller), with the audit trail naming who decided.
//! A credit is not checked.

use funding_client::v1::{self, BankTransferStatus, ReviewState};
use funding_domain::risk::balance::{BalanceCheck, BalanceUnavailable};
use funding_sandbox::ItemRiskSettings;
use funding_tests::{AppOptions, Backend, TestApp, error_reason};
use fundingd::settings::RiskSettings;
use rust_decimal::Decimal;
use tonic::Code;

const CREATE_PATH: &str = "/processor/bank_transfer/create";
const BALANCE_PATH: &str = "/processor/balance/get";

fn with_risk(backend: Backend, risk: RiskSettings) -> AppOptions {
    AppOptions {
        backend,
        risk,
        ..AppOptions::default()
    }
}

fn balance_check(check: BalanceCheck) -> RiskSettings {
    RiskSettings {
        balance_check: check,
        ..RiskSettings::default()
    }
}

fn available(app: &TestApp, item_id: &str, amount: &str) {
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

fn creates(app: &TestApp) -> usize {
    app.provider_calls("POST", CREATE_PATH)
}

fn credit(app: &TestApp, token: &str, amount: &str) -> v1::CreateBankTransferRequest {
    let mut request = app.bank_transfer_request(token, amount);
    request.r#type = v1::BankTransferType::Credit.into();
    request.ach_class = v1::AchClass::Ppd.into();
    request
}

/// The open review of the bank transfer `id` (every review of this test's own app).
async fn review_of(app: &TestApp, id: &str) -> v1::Review {
    let reviews = app
        .client
        .risk()
        .list_reviews(v1::ListReviewsRequest {
            state: ReviewState::Open.into(),
            ..v1::ListReviewsRequest::default()
        })
        .await
        .expect("ListReviews")
        .into_inner()
        .reviews;
    reviews
        .into_iter()
        .find(|review| review.resource_id == id)
        .unwrap_or_else(|| panic!("no open review of bank transfer {id}"))
}

async fn audit_of(app: &TestApp, id: &str) -> Vec<v1::AuditEvent> {
    app.client
        .risk()
        .list_audit_events(v1::ListAuditEventsRequest {
            resource: format!("bank_transfers/{id}"),
            ..v1::ListAuditEventsRequest::default()
        })
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .events
}

fn figure<'a>(risk: &'a v1::RiskDecision, name: &str) -> Option<&'a str> {
    risk.figures
        .iter()
        .find(|figure| figure.name == name)
        .map(|figure| figure.value.as_str())
}

async fn a_debit_above_the_bank_balance_is_refused_unsent_and_a_credit_goes_through(
    backend: Backend,
) {
    let app = TestApp::spawn_with(with_risk(backend, balance_check(BalanceCheck::Refuse))).await;
    let (token, item) = app.controlled_processor_token().await;
    available(&app, &item, "120.00");

    let request = app.bank_transfer_request(&token, "500.00");
    let status = app.create_bank_transfer(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(error_reason(&status), "INSUFFICIENT_BANK_BALANCE");
    assert!(
        status.message().contains("380.00 short"),
        "{}",
        status.message()
    );
    assert!(!status.message().contains(&token), "no secret in the error");
    assert_eq!(creates(&app), 0, "nothing sent to Plaid");
    assert_eq!(app.provider_calls("POST", BALANCE_PATH), 1);

    // A repeat answers the same, asking nothing of Plaid; the transfer shows what the check saw.
    let again = app.create_bank_transfer(request).await.unwrap_err();
    assert_eq!(error_reason(&again), "INSUFFICIENT_BANK_BALANCE");
    assert_eq!(app.provider_calls("POST", BALANCE_PATH), 1);
    let listed = app
        .client
        .bank_transfers()
        .list_bank_transfers(v1::ListBankTransfersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .bank_transfers;
    assert_eq!(listed.len(), 1);
    let refused = &listed[0];
    assert_eq!(refused.status(), BankTransferStatus::Refused);
    assert_eq!(
        refused.failure_code,
        "service/risk/INSUFFICIENT_BANK_BALANCE"
    );
    assert!(
        refused
            .status_reason
            .starts_with("INSUFFICIENT_BANK_BALANCE: "),
        "{refused:?}"
    );
    assert!(refused.provider_bank_transfer_id.is_empty());
    let risk = refused.risk.as_ref().expect("the decision is shown");
    assert_eq!(risk.verdict(), v1::RiskVerdict::Refuse);
    assert_eq!(risk.rule, "balance");
    assert_eq!(risk.reason, "INSUFFICIENT_BANK_BALANCE");
    assert_eq!(figure(risk, "available"), Some("120.00"), "{risk:?}");
    assert_eq!(figure(risk, "amount"), Some("500.00"), "{risk:?}");

    // A credit pushes money to the customer's bank: not checked, sent.
    let credited = app
        .create_bank_transfer(credit(&app, &token, "500.00"))
        .await
        .expect("a credit is not checked against the balance");
    assert_eq!(
        credited.status(),
        BankTransferStatus::Pending,
        "{credited:?}"
    );
    let risk = credited.risk.expect("the acceptance is stored");
    assert_eq!(risk.verdict(), v1::RiskVerdict::Accept);
    assert_eq!(risk.rule, "none");
    assert_eq!(creates(&app), 1);
    assert_eq!(
        app.provider_calls("POST", BALANCE_PATH),
        1,
        "no balance read for a credit"
    );

    // A debit the balance covers is sent, with the acceptance and its figures.
    let covered = app
        .create_bank_transfer(app.bank_transfer_request(&token, "100.00"))
        .await
        .expect("a debit the balance covers");
    assert_eq!(covered.status(), BankTransferStatus::Pending, "{covered:?}");
    let risk = covered.risk.expect("the acceptance is stored");
    assert_eq!(risk.verdict(), v1::RiskVerdict::Accept);
    assert_eq!(risk.rule, "balance");
    assert_eq!(figure(&risk, "available"), Some("120.00"), "{risk:?}");
    assert_eq!(creates(&app), 2);
    app.stop().await;
}

async fn a_held_debit_is_sent_only_after_approval_and_the_audit_names_the_reviewer(
    backend: Backend,
) {
    let app = TestApp::spawn_with(with_risk(backend, balance_check(BalanceCheck::Review))).await;
    let (token, item) = app.controlled_processor_token().await;
    available(&app, &item, "120.00");

    let held = app
        .create_bank_transfer(app.bank_transfer_request(&token, "500.00"))
        .await
        .expect("a held debit is answered, not refused");
    assert_eq!(held.status(), BankTransferStatus::PendingReview, "{held:?}");
    let risk = held.risk.as_ref().expect("the decision is shown");
    assert_eq!(risk.verdict(), v1::RiskVerdict::Review);
    assert_eq!(risk.rule, "balance");
    assert!(held.provider_bank_transfer_id.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.get_bank_transfer(&held.id).await.status(),
        BankTransferStatus::PendingReview
    );
    assert_eq!(creates(&app), 0, "nothing sent while held");

    let review = review_of(&app, &held.id).await;
    assert_eq!(review.resource_type, "bank_transfer");
    assert_eq!(
        review.account_id, "",
        "a bank transfer carries no account of ours"
    );
    assert_eq!(review.rule, "balance");
    assert_eq!(review.reason, "INSUFFICIENT_BANK_BALANCE");
    assert_eq!(review.amount, "500.00");
    assert!(review.detail.contains("380.00 short"), "{review:?}");

    let note = "called the customer: payroll lands tomorrow";
    let approved = app
        .client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id.clone(),
            note: note.into(),
        })
        .await
        .expect("ApproveReview")
        .into_inner()
        .review
        .unwrap();
    assert_eq!(approved.state(), ReviewState::Approved);
    assert_eq!(approved.decided_by, "anonymous");
    let sent = app
        .wait_for_bank_transfer_status(&held.id, BankTransferStatus::Pending)
        .await;
    assert!(!sent.provider_bank_transfer_id.is_empty(), "{sent:?}");
    assert_eq!(
        sent.risk.as_ref().map(v1::RiskDecision::verdict),
        Some(v1::RiskVerdict::Review),
        "the decision that held it stays"
    );
    app.simulate_bank_transfer(&sent.id, "posted", "")
        .await
        .expect("simulate posted");
    app.wait_for_bank_transfer_status(&held.id, BankTransferStatus::Posted)
        .await;
    assert_eq!(creates(&app), 1, "sent once");

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

    let events = audit_of(&app, &held.id).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["review.opened", "review.approved"], "{events:?}");
    assert_eq!(events[0].actor, "service");
    let approval = &events[1];
    assert_eq!(approval.actor, "anonymous");
    assert_eq!(approval.reason, note);
    assert_eq!(approval.account_id, "");

    // A second held debit, rejected: REFUSED with the reviewer's note, never sent; a repeat of its
    // create answers the rejection.
    let request = app.bank_transfer_request(&token, "400.00");
    let second = app.create_bank_transfer(request.clone()).await.unwrap();
    assert_eq!(second.status(), BankTransferStatus::PendingReview);
    let review = review_of(&app, &second.id).await;
    app.client
        .risk()
        .reject_review(v1::RejectReviewRequest {
            review_id: review.id,
            note: "the customer did not ask for it".into(),
        })
        .await
        .expect("RejectReview");
    let rejected = app.get_bank_transfer(&second.id).await;
    assert_eq!(rejected.status(), BankTransferStatus::Refused);
    assert!(
        rejected
            .status_reason
            .contains("the customer did not ask for it"),
        "{rejected:?}"
    );
    assert_eq!(rejected.failure_code, "service/risk/REVIEW_REJECTED");
    let repeat = app.create_bank_transfer(request).await.unwrap_err();
    assert_eq!(repeat.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&repeat), "REVIEW_REJECTED");
    assert_eq!(creates(&app), 1, "the rejected one was never sent");
    let actions: Vec<String> = audit_of(&app, &second.id)
        .await
        .into_iter()
        .map(|e| format!("{}:{}", e.action, e.actor))
        .collect();
    assert_eq!(
        actions,
        ["review.opened:service", "review.rejected:anonymous"]
    );
    app.stop().await;
}

async fn a_held_debit_is_cancelled_by_its_caller_or_expires_unsent(backend: Backend) {
    let app = TestApp::spawn_with(with_risk(
        backend,
        RiskSettings {
            balance_check: BalanceCheck::Review,
            review_expiry_ms: 3_000,
            ..RiskSettings::default()
        },
    ))
    .await;
    let (token, item) = app.controlled_processor_token().await;
    available(&app, &item, "10.00");

    let held = app
        .create_bank_transfer(app.bank_transfer_request(&token, "50.00"))
        .await
        .unwrap();
    assert_eq!(held.status(), BankTransferStatus::PendingReview);
    let cancelled = app
        .client
        .bank_transfers()
        .cancel_bank_transfer(v1::CancelBankTransferRequest {
            id: held.id.clone(),
        })
        .await
        .expect("CancelBankTransfer of a held bank transfer")
        .into_inner()
        .bank_transfer
        .unwrap();
    assert_eq!(cancelled.status(), BankTransferStatus::Cancelled);
    let closed = app
        .client
        .risk()
        .list_reviews(v1::ListReviewsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .reviews;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].state(), ReviewState::Rejected, "{closed:?}");
    // Cancelling it again answers it as it is.
    let again = app
        .client
        .bank_transfers()
        .cancel_bank_transfer(v1::CancelBankTransferRequest {
            id: held.id.clone(),
        })
        .await
        .expect("a second cancel")
        .into_inner()
        .bank_transfer
        .unwrap();
    assert_eq!(again.status(), BankTransferStatus::Cancelled);

    let unreviewed = app
        .create_bank_transfer(app.bank_transfer_request(&token, "60.00"))
        .await
        .unwrap();
    assert_eq!(unreviewed.status(), BankTransferStatus::PendingReview);
    let expired = app
        .wait_for_bank_transfer_status(&unreviewed.id, BankTransferStatus::Refused)
        .await;
    assert!(expired.status_reason.contains("expired"), "{expired:?}");
    assert_eq!(expired.failure_code, "service/risk/REVIEW_EXPIRED");
    assert_eq!(creates(&app), 0, "neither was sent");
    let mut actions = Vec::new();
    for id in [&held.id, &unreviewed.id] {
        actions.extend(
            audit_of(&app, id)
                .await
                .into_iter()
                .map(|e| format!("{}:{}", e.action, e.actor)),
        );
    }
    assert_eq!(
        actions,
        [
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
        (BalanceUnavailable::Accept, BankTransferStatus::Pending),
        (
            BalanceUnavailable::Review,
            BankTransferStatus::PendingReview,
        ),
        (BalanceUnavailable::Refuse, BankTransferStatus::Refused),
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
        let (token, item) = app.controlled_processor_token().await;
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
            .create_bank_transfer(app.bank_transfer_request(&token, "25.00"))
            .await;
        let transfer = match (created, setting) {
            (Err(status), BalanceUnavailable::Refuse) => {
                assert_eq!(
                    error_reason(&status),
                    "INSUFFICIENT_BANK_BALANCE",
                    "{status:?}"
                );
                assert!(
                    status.message().contains("could not be read"),
                    "{}",
                    status.message()
                );
                let listed = app
                    .client
                    .bank_transfers()
                    .list_bank_transfers(v1::ListBankTransfersRequest::default())
                    .await
                    .unwrap()
                    .into_inner()
                    .bank_transfers;
                assert_eq!(listed.len(), 1);
                listed.into_iter().next().unwrap()
            }
            (Ok(transfer), _) => transfer,
            (Err(status), _) => panic!("{setting:?}: {status:?}"),
        };
        assert_eq!(transfer.status(), expected, "{setting:?}: {transfer:?}");
        let risk = transfer.risk.expect("the decision is shown");
        assert_eq!(risk.rule, "balance", "{setting:?}: {risk:?}");
        assert_eq!(
            figure(&risk, "available"),
            Some("unavailable"),
            "{setting:?}: {risk:?}"
        );
        assert!(
            app.provider_calls("POST", BALANCE_PATH) >= 1,
            "{setting:?}: the balance was asked for"
        );
        assert_eq!(
            creates(&app),
            usize::from(setting == BalanceUnavailable::Accept),
            "{setting:?}"
        );
        if setting == BalanceUnavailable::Review {
            let review = review_of(&app, &transfer.id).await;
            assert_eq!(review.resource_type, "bank_transfer");
            assert!(review.detail.contains("could not be read"), "{review:?}");
        }
        app.stop().await;
    }
}

funding_tests::on_both_backends!(
    a_debit_above_the_bank_balance_is_refused_unsent_and_a_credit_goes_through,
    a_held_debit_is_sent_only_after_approval_and_the_audit_names_the_reviewer,
    a_held_debit_is_cancelled_by_its_caller_or_expires_unsent,
    an_unavailable_balance_does_what_the_setting_says,
);
