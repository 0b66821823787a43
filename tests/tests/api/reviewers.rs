//! Who may decide a review, and what the trail says of it, with named clients (DESIGN §5, §11):
//! a client without the `review` scope is refused and changes nothing; a reviewer's approval is in
//! the audit trail under the reviewer's client name, with the note.

use funding_client::{FundingClient, v1};
use funding_domain::risk::balance::BalanceCheck;
use funding_tests::{AppOptions, Backend, TestApp};
use fundingd::settings::{ClientSettings, RiskSettings};
use tonic::Code;

use crate::risk::{available, controlled_link, deposit, open_reviews};
use crate::security::ALL_SCOPES;

const OPERATOR_TOKEN: &str = "operator-token-7c1e";
const SUPPORT_TOKEN: &str = "support-token-93ab";

fn named(name: &str, token: &str, scopes: &[&str]) -> ClientSettings {
    use sha2::Digest as _;
    ClientSettings {
        name: name.into(),
        token_sha256: hex::encode(sha2::Sha256::digest(token.as_bytes())),
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
    }
}

async fn a_reviewer_needs_the_review_scope_and_the_trail_names_the_reviewer(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        risk: RiskSettings {
            balance_check: BalanceCheck::Review,
            ..RiskSettings::default()
        },
        clients: vec![
            named("ops-alice", OPERATOR_TOKEN, &ALL_SCOPES),
            // Support may read the queue and the trail, not decide.
            named("support-bob", SUPPORT_TOKEN, &["read", "risk:read"]),
        ],
        token: Some(OPERATOR_TOKEN.to_owned()),
        ..AppOptions::default()
    })
    .await;
    let (account_id, link, item) = controlled_link(&app).await;
    available(&app, &item, "120.00");
    let held = app
        .create_transfer(deposit(&app, &account_id, &link, "500.00"))
        .await
        .expect("a held deposit");
    assert_eq!(held.status(), v1::TransferStatus::PendingReview);
    let review = open_reviews(&app, &account_id).await.remove(0);

    let support = FundingClient::connect(app.address.clone(), Some(SUPPORT_TOKEN))
        .await
        .unwrap();
    let listed = support
        .risk()
        .list_reviews(v1::ListReviewsRequest {
            account_id: account_id.clone(),
            ..v1::ListReviewsRequest::default()
        })
        .await
        .expect("support reads the queue")
        .into_inner()
        .reviews;
    assert_eq!(listed.len(), 1);
    for refused in [
        support
            .risk()
            .approve_review(v1::ApproveReviewRequest {
                review_id: review.id.clone(),
                note: "looks fine to me".into(),
            })
            .await
            .map(|_| ()),
        support
            .risk()
            .reject_review(v1::RejectReviewRequest {
                review_id: review.id.clone(),
                note: "no".into(),
            })
            .await
            .map(|_| ()),
    ] {
        let status = refused.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(
            status.message().contains("lacks the scope review"),
            "{status:?}"
        );
        assert!(!status.message().contains(SUPPORT_TOKEN));
    }
    assert_eq!(
        open_reviews(&app, &account_id).await.len(),
        1,
        "the refused decisions changed nothing"
    );
    assert_eq!(
        app.get_transfer(&held.id).await.status(),
        v1::TransferStatus::PendingReview
    );

    let approved = app
        .client
        .risk()
        .approve_review(v1::ApproveReviewRequest {
            review_id: review.id.clone(),
            note: "called the customer: payroll lands tomorrow".into(),
        })
        .await
        .expect("the operator approves")
        .into_inner()
        .review
        .unwrap();
    assert_eq!(approved.decided_by, "ops-alice");
    app.wait_for_transfer_status(&held.id, v1::TransferStatus::Complete)
        .await;

    // The trail, as support reads it: the approval under the reviewer's name, with the note.
    let events = support
        .risk()
        .list_audit_events(v1::ListAuditEventsRequest {
            account_id: account_id.clone(),
            ..v1::ListAuditEventsRequest::default()
        })
        .await
        .expect("support reads the trail")
        .into_inner()
        .events;
    let decisions: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|event| event.action.starts_with("review."))
        .map(|event| {
            (
                event.action.as_str(),
                event.actor.as_str(),
                event.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        decisions[1..],
        [(
            "review.approved",
            "ops-alice",
            "called the customer: payroll lands tomorrow"
        )],
        "{events:?}"
    );
    assert_eq!(decisions[0].0, "review.opened");
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_reviewer_needs_the_review_scope_and_the_trail_names_the_reviewer,
);
