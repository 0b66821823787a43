//! Exactly once per idempotency key (DESIGN §4.1) for bank links: a repeat returns the same link and
//! Alpaca sees one relationship, under concurrency too; another payload under the key is refused.

use funding_client::v1::BankLinkStatus;
use funding_tests::{TestApp, error_metadata, error_reason};

#[tokio::test]
async fn the_same_key_twice_returns_the_same_link_and_makes_one_relationship() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    let first = app.create_link(request.clone()).await.unwrap();
    let second = app.create_link(request.clone()).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(first.ach_relationship_id, second.ach_relationship_id);
    assert_eq!(
        app.provider_calls(
            "POST",
            &format!("/v1/accounts/{}/ach_relationships", request.account_id)
        ),
        1
    );
    assert_eq!(app.provider_calls("POST", "/item/public_token/exchange"), 1);
    assert_eq!(app.count_rows("bank_links").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_link_and_one_relationship() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    let calls = (0..8).map(|_| {
        let client = app.client.clone();
        let request = request.clone();
        tokio::spawn(async move { client.bank_links().create_bank_link(request).await })
    });
    let mut ids = std::collections::HashSet::new();
    for call in futures::future::join_all(calls).await {
        let link = call
            .unwrap()
            .expect("every concurrent create succeeds")
            .into_inner()
            .bank_link
            .unwrap();
        ids.insert(link.id);
    }
    assert_eq!(ids.len(), 1, "every caller got the same link");
    let id = ids.into_iter().next().unwrap();
    app.wait_for_link_status(&id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.provider_calls(
            "POST",
            &format!("/v1/accounts/{}/ach_relationships", request.account_id)
        ),
        1
    );
    assert_eq!(app.count_rows("bank_links").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_reused_key_with_another_payload_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    app.create_link(request.clone()).await.unwrap();

    let mut other = request.clone();
    other.nickname = "Savings".into();
    let status = app.create_link(other).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(
        error_metadata(&status, "field").as_deref(),
        Some("nickname")
    );

    let mut other = request.clone();
    other.account_id = uuid::Uuid::new_v4().to_string();
    let status = app.create_link(other).await.unwrap_err();
    assert_eq!(error_reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(
        error_metadata(&status, "field").as_deref(),
        Some("account_id")
    );
    assert!(!status.message().contains("public-sandbox"));

    assert_eq!(app.provider_calls("POST", "/v1/accounts/"), 1);
    assert_eq!(app.count_rows("bank_links").await, 1);
    app.stop().await;
}
