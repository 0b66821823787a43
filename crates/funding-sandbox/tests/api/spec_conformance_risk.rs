//! The risk reads against the official OpenAPI schemas (the verbatim excerpts in
//! `tests/fixtures/`): Plaid's `/accounts/balance/get` (`AccountsGetResponse`, as the spec says),
//! `/processor/balance/get`, `/identity/get`, `/identity/match`, `/processor/identity/match` (with
//! every score, and with none), the unavailable-balance error (`PlaidError`), and Alpaca's
//! `GET /v1/accounts/{account_id}` (`AccountExtended`).

use funding_sandbox::ItemRiskSettings;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_sandbox;
use crate::schema_checker::Schemas;

#[tokio::test]
async fn risk_reads_match_the_official_schemas() {
    let plaid = Schemas::load("plaid-schemas.yaml");
    let alpaca = Schemas::load("alpaca-schemas.yaml");
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let token = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({"access_token": linked.access_token,
                   "account_id": linked.checking_account_id, "processor": "alpaca"}),
        )
        .await["processor_token"]
        .clone();
    let access = json!({"access_token": linked.access_token});
    let user = json!({
        "legal_name": "Alberta Charleson", "phone_number": "+11112223333",
        "email_address": "accountholder0@example.com",
        "address": {"street": "2992 Cameron Road", "city": "Malakoff", "region": "NY",
                    "postal_code": "14236", "country": "US"},
    });
    sandbox
        .control
        .set_item_risk(
            &linked.item_id,
            ItemRiskSettings {
                account_id: Some(linked.savings_account_id.clone()),
                available: Some(None),
                ..ItemRiskSettings::default()
            },
        )
        .unwrap();

    let balances = sandbox
        .plaid_ok("/accounts/balance/get", access.clone())
        .await;
    plaid.assert_valid(&balances, "AccountsGetResponse");
    let processor = json!({"processor_token": token});
    plaid.assert_valid(
        &sandbox
            .plaid_ok("/processor/balance/get", processor.clone())
            .await,
        "ProcessorBalanceGetResponse",
    );
    plaid.assert_valid(
        &sandbox.plaid_ok("/identity/get", access.clone()).await,
        "IdentityGetResponse",
    );
    for body in [
        json!({"access_token": linked.access_token, "user": user}),
        access.clone(),
    ] {
        plaid.assert_valid(
            &sandbox.plaid_ok("/identity/match", body).await,
            "IdentityMatchResponse",
        );
    }
    for body in [json!({"processor_token": token, "user": user}), processor] {
        plaid.assert_valid(
            &sandbox.plaid_ok("/processor/identity/match", body).await,
            "ProcessorIdentityMatchResponse",
        );
    }
    sandbox
        .control
        .set_item_risk(
            &linked.item_id,
            ItemRiskSettings {
                balance_unavailable: Some(true),
                ..ItemRiskSettings::default()
            },
        )
        .unwrap();
    let (_, error) = sandbox.plaid("/accounts/balance/get", access).await;
    plaid.assert_valid(&error, "PlaidError");

    let account = Uuid::new_v4();
    sandbox
        .control
        .set_account_owner_name(account, "John Q Public")
        .unwrap();
    let (_, body) = sandbox
        .alpaca_json(Method::GET, &format!("/v1/accounts/{account}"), None)
        .await;
    alpaca.assert_valid(&body, "AccountExtended");
}
