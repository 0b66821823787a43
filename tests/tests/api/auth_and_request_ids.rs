//! Bearer tokens with scopes, compared by hash; every response carries an `x-request-id`, echoed
//! when the caller sent one.

use funding_client::FundingClient;
use funding_client::v1;
use funding_tests::{AppOptions, TestApp};
use fundingd::settings::ClientSettings;

fn client(name: &str, token: &str, scopes: &[&str]) -> ClientSettings {
    ClientSettings {
        name: name.into(),
        token_sha256: funding_grpc_hash(token),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The hex SHA-256 configuration holds for a token.
fn funding_grpc_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn calls_need_a_known_token_and_the_right_scope() {
    let options = AppOptions {
        clients: vec![
            client("app", "writer-token", &["links:write", "read", "sandbox"]),
            client("viewer", "reader-token", &["read"]),
        ],
        token: Some("writer-token".into()),
        ..AppOptions::default()
    };
    let app = TestApp::spawn_with(options).await;
    let request = app.create_request().await;
    app.create_link(request.clone())
        .await
        .expect("the writer may create");

    let anonymous = FundingClient::connect(app.address.clone(), None)
        .await
        .unwrap();
    let status = anonymous
        .bank_links()
        .create_bank_link(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let stranger = FundingClient::connect(app.address.clone(), Some("guessed-token"))
        .await
        .unwrap();
    let status = stranger
        .bank_links()
        .get_bank_link(v1::GetBankLinkRequest {
            id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(!status.message().contains("guessed-token"));

    let viewer = FundingClient::connect(app.address.clone(), Some("reader-token"))
        .await
        .unwrap();
    let status = viewer
        .bank_links()
        .create_bank_link(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    let listed = viewer
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: request.account_id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("the viewer may read");
    assert_eq!(listed.into_inner().bank_links.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let app = TestApp::spawn().await;
    let mut request = tonic::Request::new(v1::GetBankLinkRequest { id: "nope".into() });
    request
        .metadata_mut()
        .insert("x-request-id", "trace-me-123".parse().unwrap());
    let status = app
        .client
        .bank_links()
        .get_bank_link(request)
        .await
        .unwrap_err();
    assert_eq!(
        status
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-123")
    );

    let mut raw = funding_client::v1::bank_link_service_client::BankLinkServiceClient::new(
        app.client.channel(),
    );
    let response = raw
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(generated.len(), 36, "a generated UUID: {generated:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_service_refuses_to_start_open_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let settings = fundingd::Settings {
        listen: "0.0.0.0:0".parse().unwrap(),
        database_url: format!("sqlite:{}", dir.path().join("funding.db").display()),
        encryption_key_file: Some(dir.path().join("funding.key")),
        // Sandbox mode beyond loopback is asked for; what is refused here is the missing auth.
        explicit_sandbox: true,
        ..fundingd::Settings::default()
    };
    let error = fundingd::Application::build(settings.clone())
        .await
        .err()
        .expect("no clients, not loopback");
    assert!(
        format!("{error:#}").contains("--insecure-no-auth"),
        "{error:#}"
    );
    assert!(
        !dir.path().join("funding.db").exists(),
        "nothing was created before refusing"
    );

    let open = fundingd::Settings {
        insecure_no_auth: true,
        ..settings
    };
    let app = fundingd::Application::build(open)
        .await
        .expect("told explicitly, it starts");
    drop(app);
}
