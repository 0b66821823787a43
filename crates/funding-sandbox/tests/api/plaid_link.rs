//! Plaid happy paths: public token → exchange → accounts → processor token, the processor reads
//! Alpaca makes, single-use and expiring public tokens, and item removal.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_sandbox;

fn is_alphanumeric_of_len(value: &serde_json::Value, len: usize) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == len && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn a_public_token_exchanges_for_an_access_token_and_an_item() {
    let sandbox = spawn_sandbox().await;
    let created = sandbox
        .plaid_ok(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["auth"]}),
        )
        .await;
    let public_token = created["public_token"].as_str().unwrap();
    assert!(public_token.starts_with("public-sandbox-"));
    assert!(is_alphanumeric_of_len(&created["request_id"], 15));

    let exchanged = sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({ "public_token": public_token }),
        )
        .await;
    assert!(
        exchanged["access_token"]
            .as_str()
            .unwrap()
            .starts_with("access-sandbox-")
    );
    assert!(is_alphanumeric_of_len(&exchanged["item_id"], 37));
    assert!(is_alphanumeric_of_len(&exchanged["request_id"], 15));
}

#[tokio::test]
async fn accounts_get_lists_a_checking_and_a_savings_account() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let body = sandbox
        .plaid_ok(
            "/accounts/get",
            json!({ "access_token": linked.access_token }),
        )
        .await;
    let accounts = body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let checking = &accounts[0];
    assert_eq!(checking["name"], "Plaid Checking");
    assert_eq!(checking["mask"], "0000");
    assert_eq!(checking["type"], "depository");
    assert_eq!(checking["subtype"], "checking");
    assert!(is_alphanumeric_of_len(&checking["account_id"], 37));
    let balances = &checking["balances"];
    for key in [
        "available",
        "current",
        "limit",
        "iso_currency_code",
        "unofficial_currency_code",
    ] {
        assert!(balances.get(key).is_some(), "balances.{key} present");
    }
    assert_eq!(balances["iso_currency_code"], "USD");
    assert_eq!(accounts[1]["name"], "Plaid Saving");
    assert_eq!(accounts[1]["mask"], "1111");
    assert_eq!(accounts[1]["subtype"], "savings");

    let item = &body["item"];
    assert_eq!(item["item_id"], linked.item_id.as_str());
    assert_eq!(item["institution_id"], "ins_109508");
    assert!(item["error"].is_null());
    assert!(item["consent_expiration_time"].is_null());
    assert_eq!(item["update_type"], "background");
    assert_eq!(item["billed_products"], json!(["auth", "identity"]));

    let only_savings = sandbox
        .plaid_ok(
            "/accounts/get",
            json!({
                "access_token": linked.access_token,
                "options": {"account_ids": [linked.savings_account_id]},
            }),
        )
        .await;
    assert_eq!(only_savings["accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_public_token_is_single_use() {
    let sandbox = spawn_sandbox().await;
    let token = sandbox.public_token().await;
    let body = json!({ "public_token": token });
    sandbox
        .plaid_ok("/item/public_token/exchange", body.clone())
        .await;
    let (status, error) = sandbox.plaid("/item/public_token/exchange", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "INVALID_INPUT");
    assert_eq!(error["error_code"], "INVALID_PUBLIC_TOKEN");
}

#[tokio::test]
async fn a_public_token_expires_after_thirty_minutes_of_emulator_time() {
    let sandbox = spawn_sandbox().await;
    let fresh = sandbox.public_token().await;
    let stale = sandbox.public_token().await;
    sandbox.control.advance_clock(Duration::from_secs(29 * 60));
    sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({ "public_token": fresh }),
        )
        .await;
    sandbox.control.advance_clock(Duration::from_secs(60));
    let (status, error) = sandbox
        .plaid(
            "/item/public_token/exchange",
            json!({ "public_token": stale }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_code"], "INVALID_PUBLIC_TOKEN");
    assert!(error["error_message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn processor_tokens_are_made_for_an_account_of_the_item() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let body = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({
                "access_token": linked.access_token,
                "account_id": linked.checking_account_id,
                "processor": "alpaca",
            }),
        )
        .await;
    assert!(
        body["processor_token"]
            .as_str()
            .unwrap()
            .starts_with("processor-sandbox-")
    );

    let (status, error) = sandbox
        .plaid(
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": "nope", "processor": "alpaca"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_code"], "INVALID_ACCOUNT_ID");

    let (_, error) = sandbox
        .plaid(
            "/processor/token/create",
            json!({"access_token": "access-sandbox-nope", "account_id": linked.checking_account_id, "processor": "alpaca"}),
        )
        .await;
    assert_eq!(error["error_type"], "INVALID_INPUT");
    assert_eq!(error["error_code"], "INVALID_ACCESS_TOKEN");

    let (status, error) = sandbox
        .plaid(
            "/processor/token/create",
            json!({"access_token": linked.access_token, "account_id": linked.checking_account_id, "processor": "acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "INVALID_REQUEST");
    assert_eq!(error["error_code"], "INVALID_FIELD");
    assert!(
        error["error_message"]
            .as_str()
            .unwrap()
            .contains("processor")
    );
}

#[tokio::test]
async fn the_processor_reads_auth_and_identity_with_the_token() {
    let sandbox = spawn_sandbox().await;
    let token = sandbox.processor_token().await;
    let auth = sandbox
        .plaid_ok("/processor/auth/get", json!({ "processor_token": token }))
        .await;
    let ach = &auth["numbers"]["ach"];
    assert_eq!(ach["account_id"], auth["account"]["account_id"]);
    assert_eq!(ach["routing"].as_str().unwrap().len(), 9);
    assert!(ach.get("wire_routing").is_some());
    assert!(ach["account"].as_str().unwrap().ends_with("0000"));

    let identity = sandbox
        .plaid_ok(
            "/processor/identity/get",
            json!({ "processor_token": token }),
        )
        .await;
    assert_eq!(
        identity["account"]["owners"][0]["names"][0],
        "Alberta Bobbeth Charleson"
    );

    let (status, error) = sandbox
        .plaid(
            "/processor/auth/get",
            json!({ "processor_token": "processor-sandbox-x" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_code"], "INVALID_PROCESSOR_TOKEN");
}

#[tokio::test]
async fn the_sandbox_processor_token_endpoint_links_a_checking_account_in_one_call() {
    let sandbox = spawn_sandbox().await;
    let body = sandbox
        .plaid_ok(
            "/sandbox/processor_token/create",
            json!({"institution_id": "ins_109508"}),
        )
        .await;
    let token = body["processor_token"].as_str().unwrap();
    let account = sandbox
        .plaid_ok(
            "/processor/account/get",
            json!({ "processor_token": token }),
        )
        .await;
    assert_eq!(account["account"]["subtype"], "checking");
    assert_eq!(account["institution_id"], "ins_109508");
}

#[tokio::test]
async fn removing_an_item_revokes_its_tokens() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    sandbox
        .plaid_ok(
            "/item/remove",
            json!({ "access_token": linked.access_token }),
        )
        .await;
    let (_, error) = sandbox
        .plaid("/item/get", json!({ "access_token": linked.access_token }))
        .await;
    assert_eq!(error["error_code"], "INVALID_ACCESS_TOKEN");
}

#[tokio::test]
async fn credentials_may_travel_in_the_body() {
    let sandbox = spawn_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.plaid_url("/sandbox/public_token/create"))
        .json(&json!({
            "client_id": "id", "secret": "s",
            "institution_id": "ins_3", "initial_products": ["auth"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
