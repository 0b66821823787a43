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
