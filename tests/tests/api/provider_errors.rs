//! Provider refusals and outages come back as precise gRPC errors: Plaid's and Alpaca's own codes in
//! ErrorInfo, 5xx and 429 retried with backoff and then UNAVAILABLE with RetryInfo, and a dropped
//! answer from Alpaca's non-idempotent create never makes a second relationship.

use std::time::Duration;

use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method};
use funding_tests::{AppOptions, TestApp, error_metadata, error_reason};
use tonic_types::StatusExt;

#[tokio::test]
async fn an_unknown_public_token_is_plaids_invalid_public_token() {
    let app = TestApp::spawn().await;
    let mut request = app.create_request().await;
    request.public_token = "public-sandbox-00000000-0000-0000-0000-000000000000".into();
    let status = app.create_link(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(error_reason(&status), "PROVIDER_REFUSED_INPUT");
    assert_eq!(
        error_metadata(&status, "provider").as_deref(),
        Some("plaid")
    );
    assert_eq!(
        error_metadata(&status, "provider_code").as_deref(),
        Some("INVALID_PUBLIC_TOKEN")
    );
    assert!(error_metadata(&status, "provider_request_id").is_some_and(|id| !id.is_empty()));
    assert!(
        !status.message().contains("00000000-0000"),
        "no token in messages: {}",
        status.message()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_public_token_is_refused_and_a_repeat_answers_the_same() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    app.sandbox.advance_clock(Duration::from_secs(31 * 60));
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(
        error_metadata(&status, "provider_code").as_deref(),
        Some("INVALID_PUBLIC_TOKEN")
    );
    let again = app.create_link(request).await.unwrap_err();
    assert_eq!(again.code(), status.code());
    assert_eq!(
        error_metadata(&again, "provider_code").as_deref(),
        Some("INVALID_PUBLIC_TOKEN")
    );
    assert_eq!(
        app.provider_calls("POST", "/item/public_token/exchange"),
        1,
        "the failure is replayed, not retried"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_account_not_in_the_item_is_plaids_invalid_account_id() {
    let app = TestApp::spawn().await;
    let mut request = app.create_request().await;
    request.plaid_account_id = "notAnAccountOfThisItem000000000000000".into();
    let status = app.create_link(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error_metadata(&status, "provider_code").as_deref(),
        Some("INVALID_ACCOUNT_ID")
    );
    assert_eq!(app.provider_calls("POST", "/v1/accounts/"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_second_active_relationship_is_alpacas_conflict() {
    let app = TestApp::spawn().await;
    let first = app.create_request().await;
    app.create_link(first.clone()).await.unwrap();
    let mut second = app.create_request().await;
    second.account_id = first.account_id.clone();
    let status = app.create_link(second).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert_eq!(error_reason(&status), "PROVIDER_CONFLICT");
    assert_eq!(
        error_metadata(&status, "provider").as_deref(),
        Some("alpaca")
    );
    assert_eq!(
        error_metadata(&status, "provider_http_status").as_deref(),
        Some("409")
    );
    assert!(error_metadata(&status, "provider_code").is_some_and(|code| !code.is_empty()));
    assert!(
        status.message().contains("active relationship"),
        "{}",
        status.message()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_alpaca_422_is_invalid_argument_with_alpacas_code() {
    let app = TestApp::spawn().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, "/v1/accounts/", 422)
            .method(Method::POST)
            .times(1),
    );
    let status = app
        .create_link(app.create_request().await)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error_metadata(&status, "provider").as_deref(),
        Some("alpaca")
    );
    assert_eq!(
        error_metadata(&status, "provider_http_status").as_deref(),
        Some("422")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_plaid_500_on_a_repeatable_call_is_retried_and_the_link_is_made() {
    let app = TestApp::spawn().await;
    app.sandbox
        .inject_fault(Fault::new(Host::Plaid, "/processor/token/create", 500).times(1));
    let link = app
        .create_link(app.create_request().await)
        .await
        .expect("the retry succeeds");
    assert_eq!(app.provider_calls("POST", "/processor/token/create"), 2);
    assert_eq!(app.provider_calls("POST", "/item/public_token/exchange"), 1);
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_plaid_outage_is_unavailable_with_retry_info_and_the_link_finishes_on_repeat() {
    let app = TestApp::spawn().await;
    app.sandbox
        .inject_fault(Fault::new(Host::Plaid, "/processor/token/create", 503).times(100));
    let request = app.create_request().await;
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(error_reason(&status), "PROVIDER_UNAVAILABLE");
    assert!(
        status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
            .is_some()
    );
    assert!(
        app.provider_calls("POST", "/processor/token/create") > 1,
        "retried before giving up"
    );

    app.sandbox.clear_faults();
    let link = app
        .create_link(request)
        .await
        .expect("the repeat continues the stored link");
    assert_eq!(
        app.provider_calls("POST", "/item/public_token/exchange"),
        1,
        "the public token was exchanged once"
    );
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_plaid_rate_limit_is_retried_then_unavailable_with_retry_info() {
    let app = TestApp::spawn().await;
    app.sandbox
        .inject_fault(Fault::new(Host::Plaid, "/item/public_token/exchange", 429).times(100));
    let status = app
        .create_link(app.create_request().await)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(error_reason(&status), "PROVIDER_RATE_LIMITED");
    assert!(
        status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
            .is_some()
    );
    assert!(app.provider_calls("POST", "/item/public_token/exchange") > 1);
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_answer_from_alpaca_is_looked_up_not_resent() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    let path = format!("/v1/accounts/{}/ach_relationships", request.account_id);
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, path.clone(), 500)
            .method(Method::POST)
            .times(1)
            .mode(FaultMode::AfterEffect),
    );

    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        app.provider_calls("POST", &path),
        1,
        "a create with an unknown outcome is not resent blindly"
    );

    let link = app
        .create_link(request)
        .await
        .expect("the repeat finds the relationship Alpaca made");
    assert!(!link.ach_relationship_id.is_empty());
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.provider_calls("POST", &path),
        1,
        "still exactly one relationship create"
    );
    assert!(app.provider_calls("GET", &path) >= 1, "it was looked up");
    app.stop().await;
}

#[tokio::test]
async fn the_engine_finishes_a_link_left_half_made_by_an_outage() {
    let app = TestApp::spawn_with(AppOptions {
        resume: true,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, "/v1/accounts/", 503)
            .method(Method::POST)
            .times(1),
    );
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let listed = app
        .client
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: request.account_id.clone(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bank_links.len(), 1);
    let link = &listed.bank_links[0];
    assert!(matches!(
        link.status(),
        BankLinkStatus::Creating | BankLinkStatus::Queued | BankLinkStatus::Approved
    ));
    // Nobody repeats the request: the engine retries the stored work after its backoff.
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    assert_eq!(app.provider_calls("POST", "/item/public_token/exchange"), 1);
    assert_eq!(
        app.provider_calls(
            "POST",
            &format!("/v1/accounts/{}/ach_relationships", request.account_id)
        ),
        2,
        "one refused by the outage, one made"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_gives_up_mid_create_does_not_abort_the_link() {
    let app = TestApp::spawn().await;
    let request = app.create_request().await;
    // Alpaca answers the relationship create slowly, so the call is in flight when the caller's
    // deadline passes.
    app.sandbox.inject_fault(
        Fault::slow(
            Host::Alpaca,
            format!("/v1/accounts/{}/ach_relationships", request.account_id),
            Duration::from_millis(800),
        )
        .method(Method::POST),
    );
    let mut call = tonic::Request::new(request.clone());
    call.set_timeout(Duration::from_millis(100));
    let status = app
        .client
        .bank_links()
        .create_bank_link(call)
        .await
        .unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );

    // The link goes on without the caller: found by listing the account, it reaches APPROVED.
    let mut found = None;
    for _ in 0..100 {
        let listed = app
            .client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: request.account_id.clone(),
                page_size: 10,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(link) = listed.bank_links.into_iter().next() {
            found = Some(link);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let link = found.expect("the link was stored before the deadline");
    app.wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    let again = app.create_link(request.clone()).await.unwrap();
    assert_eq!(again.id, link.id);
    assert_eq!(
        app.provider_calls(
            "POST",
            &format!("/v1/accounts/{}/ach_relationships", request.account_id)
        ),
        1,
        "one create, not aborted and not repeated"
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_service_credentials_are_an_internal_error_and_leave_the_link_to_be_continued() {
    let emulator = funding_sandbox::spawn(funding_sandbox::SandboxConfig {
        plaid_credentials: Some(("the-client".into(), "the-secret".into())),
        ..funding_sandbox::SandboxConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = fundingd::Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite:{}", dir.path().join("funding.db").display()),
        encryption_key: Some(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                .to_owned()
                .into(),
        ),
        plaid: Some(fundingd::settings::PlaidSettings {
            base_url: emulator.plaid_url(),
            client_id: "the-client".into(),
            secret: Some("a-wrong-secret".to_owned().into()),
            request_timeout_ms: None,
            webhook_url: None,
            client_name: None,
        }),
        alpaca: Some(fundingd::settings::AlpacaSettings {
            base_url: emulator.alpaca_url(),
            key_id: "key".into(),
            secret: Some("secret".to_owned().into()),
            request_timeout_ms: None,
        }),
        insecure_no_auth: true,
        ..fundingd::Settings::default()
    };
    let app = fundingd::Application::build(settings).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let client = funding_client::FundingClient::connect(address, None)
        .await
        .unwrap();

    let link = emulator
        .control()
        .create_public_token("ins_109508")
        .unwrap();
    let request = v1::CreateBankLinkRequest {
        account_id: uuid::Uuid::new_v4().to_string(),
        public_token: link.public_token.clone(),
        plaid_account_id: link.accounts[0].account_id.clone(),
        nickname: String::new(),
        idempotency_key: "creds".into(),
        replace_bank_link_id: String::new(),
    };
    let status = client
        .bank_links()
        .create_bank_link(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(error_reason(&status), "PROVIDER_CREDENTIALS_REFUSED");
    assert!(!status.message().contains("a-wrong-secret"));
    let listed = client
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: request.account_id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.bank_links[0].status(),
        BankLinkStatus::Creating,
        "an operator's mistake does not fail the customer's link"
    );

    shutdown.cancel();
    let _ = server.await;
    emulator.shutdown().await;
}
