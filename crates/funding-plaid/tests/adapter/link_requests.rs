//! The four port calls, pinned on the wire: path, method, headers and the exact JSON body, and what
//! each answer becomes.

use funding_core::ports::PlaidGateway;
use serde_json::json;

use crate::fixtures;
use crate::support::*;

#[tokio::test]
async fn exchange_posts_only_the_public_token_and_returns_the_access_token_and_item() {
    let (server, client) = plaid().await;
    on("/item/public_token/exchange", ok(fixtures::exchange()))
        .mount(&server)
        .await;

    let item = client.exchange_public_token(&public_token()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/item/public_token/exchange");
    assert_eq!(body(&request), json!({"public_token": PUBLIC_TOKEN}));
    assert_eq!(item.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(item.item_id.as_str(), ITEM_ID);
}

#[tokio::test]
async fn a_processor_token_is_created_for_alpaca() {
    let (server, client) = plaid().await;
    on("/processor/token/create", ok(fixtures::processor_token()))
        .mount(&server)
        .await;

    let token = client
        .create_processor_token(&access_token(), &account_id())
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/processor/token/create");
    assert_eq!(
        body(&request),
        json!({"access_token": ACCESS_TOKEN, "account_id": ACCOUNT_ID, "processor": "alpaca"})
    );
    assert_eq!(token.expose_secret(), PROCESSOR_TOKEN);
}

#[tokio::test]
async fn accounts_are_listed_with_their_names_masks_types_and_subtypes() {
    let (server, client) = plaid().await;
    on("/accounts/get", ok(fixtures::accounts()))
        .mount(&server)
        .await;

    let accounts = client.list_accounts(&access_token()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/accounts/get");
    assert_eq!(body(&request), json!({"access_token": ACCESS_TOKEN}));
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0].account_id.as_str(), ACCOUNT_ID);
    assert_eq!(accounts[0].name, "Plaid Checking");
    assert_eq!(accounts[0].mask.as_deref(), Some("0000"));
    assert_eq!(accounts[0].account_type, "depository");
    assert_eq!(accounts[0].subtype.as_deref(), Some("checking"));
    assert_eq!(accounts[1].mask, None);
    assert_eq!(accounts[1].subtype, None);
}

#[tokio::test]
async fn a_sandbox_public_token_is_created_with_auth_as_the_initial_product() {
    let (server, client) = plaid().await;
    on(
        "/sandbox/public_token/create",
        ok(fixtures::sandbox_public_token()),
    )
    .mount(&server)
    .await;

    let token = client
        .sandbox_create_public_token(INSTITUTION_ID)
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/sandbox/public_token/create");
    assert_eq!(
        body(&request),
        json!({"institution_id": INSTITUTION_ID, "initial_products": ["auth"]})
    );
    assert_eq!(token.expose_secret(), PUBLIC_TOKEN);
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_and_trailing_slash_is_honoured() {
    let server = wiremock::MockServer::start().await;
    on("/plaid/accounts/get", ok(fixtures::accounts()))
        .mount(&server)
        .await;
    let client =
        funding_plaid::PlaidClient::new(config(&format!("{}/plaid/", server.uri()))).unwrap();

    client.list_accounts(&access_token()).await.unwrap();

    assert_eq!(the_request(&server).await.url.path(), "/plaid/accounts/get");
}

#[tokio::test]
async fn unknown_response_fields_are_ignored() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::exchange();
    answer["brand_new_field"] = json!({"nested": [1, 2, 3]});
    on("/item/public_token/exchange", ok(answer))
        .mount(&server)
        .await;

    let item = client.exchange_public_token(&public_token()).await.unwrap();

    assert_eq!(item.item_id.as_str(), ITEM_ID);
}

fn link_token_answer() -> serde_json::Value {
    json!({
        "link_token": "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176",
        "expiration": "2026-12-06T19:38:30Z",
        "request_id": "XQVgFigpGHXkb0b"
    })
}

fn link_token_request(
    access_token: Option<funding_domain::AccessToken>,
) -> funding_core::ports::LinkTokenRequest {
    funding_core::ports::LinkTokenRequest {
        client_name: "Funding".into(),
        client_user_id: "c3b1d5e0a7f24e6b9d8c7a6b5e4d3c2b".into(),
        products: if access_token.is_some() {
            vec![]
        } else {
            vec!["auth".into()]
        },
        access_token,
        webhook: Some("https://funding.example.com/plaid/webhook".into()),
        redirect_uri: None,
        android_package_name: Some("com.example.app".into()),
        language: "en".into(),
        country_codes: vec!["US".into()],
    }
}

#[tokio::test]
async fn a_link_token_is_created_with_the_products_the_user_and_the_webhook() {
    let (server, client) = plaid().await;
    on("/link/token/create", ok(link_token_answer()))
        .mount(&server)
        .await;

    let token = client
        .create_link_token(&link_token_request(None))
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/link/token/create");
    assert_eq!(
        body(&request),
        json!({
            "client_name": "Funding",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "c3b1d5e0a7f24e6b9d8c7a6b5e4d3c2b"},
            "products": ["auth"],
            "webhook": "https://funding.example.com/plaid/webhook",
            "android_package_name": "com.example.app"
        })
    );
    assert_eq!(
        token.link_token,
        "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176"
    );
    assert_eq!(token.expiration.to_rfc3339(), "2026-12-06T19:38:30+00:00");
}

#[tokio::test]
async fn update_mode_sends_the_items_access_token_and_no_products() {
    let (server, client) = plaid().await;
    on("/link/token/create", ok(link_token_answer()))
        .mount(&server)
        .await;

    client
        .create_link_token(&link_token_request(Some(access_token())))
        .await
        .unwrap();

    let sent = body(&the_request(&server).await);
    assert_eq!(sent["access_token"], ACCESS_TOKEN);
    assert!(sent.get("products").is_none(), "{sent}");
}
