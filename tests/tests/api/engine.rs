//! The engine under the link flow (DESIGN §9): claims renewed across a slow provider, adoption after
//! unknown outcomes, one Alpaca create per account at a time, the single-use public token, bounded
//! retries that end visibly without holding up healthy work, and events that outrun the create.

use std::time::Duration;

use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp, error_reason, relationships_at_alpaca};

fn relationships_path(account_id: &str) -> String {
    format!("/v1/accounts/{account_id}/ach_relationships")
}

async fn an_alpaca_call_slower_than_the_claims_lease_keeps_its_claim_and_is_sent_once(
    backend: Backend,
) {
    // Claims last 600 ms here; Alpaca takes 2 s to answer the create.
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    let path = relationships_path(&request.account_id);
    app.sandbox.inject_fault(
        Fault::slow(Host::Alpaca, path.clone(), Duration::from_secs(2)).method(Method::POST),
    );
    let link = app
        .create_link(request.clone())
        .await
        .expect("CreateBankLink");
    assert!(!link.ach_relationship_id.is_empty());
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    // Give a worker that wrongly took the work over every chance to send a second create.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.provider_calls("POST", &path), 1, "no second POST");
    assert_eq!(
        relationships_at_alpaca(&app.sandbox, &request.account_id).len(),
        1
    );
    app.stop().await;
}

async fn an_after_effect_500_on_the_relationship_create_is_settled_by_adoption(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    let path = relationships_path(&request.account_id);
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, path.clone(), 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect),
    );
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    // Nobody repeats the request: the engine's retry looks the relationship up and adopts it.
    let listed = list(&app, &request.account_id).await;
    let link = app
        .wait_for_link_status(&listed[0].id, BankLinkStatus::Approved)
        .await;
    let made = relationships_at_alpaca(&app.sandbox, &request.account_id);
    assert_eq!(made.len(), 1, "one relationship at Alpaca");
    assert!(
        made.contains(&link.ach_relationship_id),
        "and the link holds it"
    );
    assert_eq!(app.provider_calls("POST", &path), 1);
    app.stop().await;
}

async fn two_links_for_one_account_at_once_get_one_relationship_and_alpacas_refusal(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let first = app.create_request().await;
    let mut second = app.create_request().await;
    second.account_id = first.account_id.clone();
    second.nickname = "Savings".into();
    let (a, b) = tokio::join!(
        app.create_link(first.clone()),
        app.create_link(second.clone())
    );
    // Whichever went second waits its turn (one Alpaca create per account) and meets the 409.
    let mut ids = Vec::new();
    for outcome in [a, b] {
        match outcome {
            Ok(link) => ids.push(link.id),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
            }
        }
    }
    let links = wait_until_settled(&app, &first.account_id, 2).await;
    let approved: Vec<_> = links
        .iter()
        .filter(|l| l.status() == BankLinkStatus::Approved)
        .collect();
    let failed: Vec<_> = links
        .iter()
        .filter(|l| l.status() == BankLinkStatus::Failed)
        .collect();
    assert_eq!(approved.len(), 1, "{links:?}");
    assert_eq!(failed.len(), 1, "{links:?}");
    assert!(
        failed[0].status_reason.contains("active"),
        "Alpaca's reason: {}",
        failed[0].status_reason
    );
    assert!(
        failed[0].ach_relationship_id.is_empty(),
        "it holds no relationship"
    );
    let made = relationships_at_alpaca(&app.sandbox, &first.account_id);
    assert_eq!(made.len(), 1);
    assert!(made.contains(&approved[0].ach_relationship_id));
    app.stop().await;
}

async fn an_exchange_with_an_unknown_outcome_is_not_repeated_and_the_link_says_to_link_again(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Plaid, "/item/public_token/exchange", 500).mode(FaultMode::AfterEffect),
    );
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(error_reason(&status), "PUBLIC_TOKEN_NEEDED");
    assert!(
        status.message().contains("new public token"),
        "{}",
        status.message()
    );
    let again = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(error_reason(&again), "PUBLIC_TOKEN_NEEDED");
    assert_eq!(
        app.provider_calls("POST", "/item/public_token/exchange"),
        1,
        "the single-use token was exchanged once"
    );
    let link = &list(&app, &request.account_id).await[0];
    assert_eq!(link.status(), BankLinkStatus::Failed);
    assert!(link.status_reason.contains("new public token"));
    assert_eq!(app.provider_calls("POST", "/v1/accounts/"), 0);
    app.stop().await;
}

async fn a_link_that_fails_after_the_exchange_removes_its_plaid_item(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, relationships_path(&request.account_id), 422).method(Method::POST),
    );
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(app.provider_calls("POST", "/item/public_token/exchange"), 1);
    wait_for_calls(&app, "POST", "/item/remove", 1).await;
    app.stop().await;
}

async fn a_deleted_link_removes_its_plaid_item(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    app.client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap();
    wait_for_calls(&app, "POST", "/item/remove", 1).await;
    app.wait_for_link_status(&link.id, BankLinkStatus::Canceled)
        .await;
    app.stop().await;
}

async fn thirty_links_refused_on_every_attempt_do_not_delay_a_healthy_one_and_end_failed(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let mut stuck = Vec::new();
    for _ in 0..30 {
        let request = app.create_request().await;
        // Our Alpaca credentials refused, on every attempt, for these accounts.
        app.sandbox.inject_fault(
            Fault::new(Host::Alpaca, relationships_path(&request.account_id), 401)
                .method(Method::POST)
                .times(1_000),
        );
        let status = app.create_link(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
        stuck.push(request.account_id);
    }
    let healthy = app.create_link(app.create_request().await).await.unwrap();
    app.wait_for_link_status(&healthy.id, BankLinkStatus::Approved)
        .await;
    for account_id in &stuck {
        let links = wait_until_settled(&app, account_id, 1).await;
        assert_eq!(links[0].status(), BankLinkStatus::Failed);
        assert!(
            links[0].status_reason.contains("gave up after"),
            "{}",
            links[0].status_reason
        );
    }
    app.stop().await;
}

async fn an_approved_event_that_outruns_the_creates_answer_is_applied_once_the_link_is_stored(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        relationship_approval_delay_ms: 20,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    // Alpaca makes the relationship, approves it 20 ms later, and answers the create after 1 s.
    app.sandbox.inject_fault(
        Fault::slow(
            Host::Alpaca,
            relationships_path(&request.account_id),
            Duration::from_secs(1),
        )
        .method(Method::POST),
    );
    let link = app.create_link(request).await.unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.count_rows_where("inbox_events", "state = 'parked_no_subject'")
            .await,
        0
    );
    app.stop().await;
}

async fn list(app: &TestApp, account_id: &str) -> Vec<v1::BankLink> {
    app.list_links(account_id).await
}

/// The account's links once `count` of them are neither CREATING nor QUEUED (bounded).
async fn wait_until_settled(app: &TestApp, account_id: &str, count: usize) -> Vec<v1::BankLink> {
    let mut links = Vec::new();
    for _ in 0..400 {
        links = list(app, account_id).await;
        let settled = links
            .iter()
            .filter(|l| {
                !matches!(
                    l.status(),
                    BankLinkStatus::Creating | BankLinkStatus::Queued
                )
            })
            .count();
        if settled >= count {
            return links;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the links of {account_id} never settled: {links:?}");
}

async fn wait_for_calls(app: &TestApp, method: &str, path: &str, count: usize) {
    for _ in 0..200 {
        if app.provider_calls(method, path) >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{method} {path} was never called {count} times");
}

funding_tests::on_both_backends!(
    an_alpaca_call_slower_than_the_claims_lease_keeps_its_claim_and_is_sent_once,
    an_after_effect_500_on_the_relationship_create_is_settled_by_adoption,
    two_links_for_one_account_at_once_get_one_relationship_and_alpacas_refusal,
    an_exchange_with_an_unknown_outcome_is_not_repeated_and_the_link_says_to_link_again,
    a_link_that_fails_after_the_exchange_removes_its_plaid_item,
    a_deleted_link_removes_its_plaid_item,
    thirty_links_refused_on_every_attempt_do_not_delay_a_healthy_one_and_end_failed,
    an_approved_event_that_outruns_the_creates_answer_is_applied_once_the_link_is_stored,
);
