//! What the risk checks read from Plaid (DESIGN §7, §11): `/accounts/balance/get` and
//! `/processor/balance/get` answering the Item's balances (set through control, per account),
//! Plaid's `INSTITUTION_NOT_RESPONDING` for a balance that cannot be fetched, `/identity/get`,
//! `/processor/identity/get`, `/identity/match` and `/processor/identity/match` answering the
//! Item's owner names, the errors for bad tokens, and the control route's validation.

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use funding_sandbox::ItemRiskSettings;

use crate::helpers::{Linked, TestSandbox, spawn_sandbox};

/// A link, and a processor token for Alpaca on its checking account.
async fn linked_with_processor(sandbox: &TestSandbox) -> (Linked, String) {
    let linked = sandbox.link().await;
    let token = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({
                "access_token": linked.access_token,
                "account_id": linked.checking_account_id,
                "processor": "alpaca",
            }),
        )
        .await["processor_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (linked, token)
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn account<'a>(body: &'a Value, account_id: &str) -> &'a Value {
    body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["account_id"] == account_id)
        .unwrap()
}

async fn set_item(sandbox: &TestSandbox, item_id: &str, body: Value) -> (StatusCode, Value) {
    sandbox
        .control_http(Method::POST, &format!("/plaid/items/{item_id}"), Some(body))
        .await
}

#[tokio::test]
async fn balances_are_plaids_sandbox_ones_until_control_sets_them() {
    let sandbox = spawn_sandbox().await;
    let (linked, processor) = linked_with_processor(&sandbox).await;
    let access = json!({"access_token": linked.access_token});

    let body = sandbox
        .plaid_ok("/accounts/balance/get", access.clone())
        .await;
    assert_eq!(body["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(
        account(&body, &linked.checking_account_id)["balances"],
        json!({"available": 100.0, "current": 110.0, "iso_currency_code": "USD",
               "limit": null, "unofficial_currency_code": null})
    );
    assert_eq!(body["item"]["item_id"], linked.item_id.as_str());
    assert!(body["request_id"].is_string());

    let (status, item) = set_item(
        &sandbox,
        &linked.item_id,
        json!({"available": "120.00", "current": 130.5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["accounts"][0]["available"], "120.00");
    assert_eq!(item["accounts"][0]["current"], "130.5");

    let body = sandbox
        .plaid_ok("/accounts/balance/get", access.clone())
        .await;
    let checking = &account(&body, &linked.checking_account_id)["balances"];
    assert_eq!(
        (checking["available"].as_f64(), checking["current"].as_f64()),
        (Some(120.0), Some(130.5))
    );
    let savings = &account(&body, &linked.savings_account_id)["balances"];
    assert_eq!(
        savings["available"].as_f64(),
        Some(200.0),
        "only checking changed"
    );
    let processor_body = sandbox
        .plaid_ok(
            "/processor/balance/get",
            json!({"processor_token": processor}),
        )
        .await;
    assert_eq!(
        processor_body["account"]["balances"]["available"].as_f64(),
        Some(120.0)
    );
    assert_eq!(
        processor_body["account"]["account_id"],
        linked.checking_account_id.as_str()
    );
    // /accounts/get shows what the balance read last saw.
    let cached = sandbox.plaid_ok("/accounts/get", access.clone()).await;
    assert_eq!(
        account(&cached, &linked.checking_account_id)["balances"]["available"].as_f64(),
        Some(120.0)
    );

    // Another account by id, and a null available balance (an institution that reports none).
    sandbox
        .control
        .set_item_risk(
            &linked.item_id,
            ItemRiskSettings {
                account_id: Some(linked.savings_account_id.clone()),
                available: Some(None),
                current: Some(Some(dec("5.25"))),
                ..ItemRiskSettings::default()
            },
        )
        .unwrap();
    let only_savings = sandbox
        .plaid_ok(
            "/accounts/balance/get",
            json!({"access_token": linked.access_token,
                   "options": {"account_ids": [linked.savings_account_id]}}),
        )
        .await;
    assert_eq!(only_savings["accounts"].as_array().unwrap().len(), 1);
    let savings = &only_savings["accounts"][0]["balances"];
    assert_eq!(
        (savings["available"].clone(), savings["current"].as_f64()),
        (Value::Null, Some(5.25))
    );
}

#[tokio::test]
async fn an_unavailable_balance_answers_institution_not_responding_on_balance_reads_only() {
    let sandbox = spawn_sandbox().await;
    let (linked, processor) = linked_with_processor(&sandbox).await;
    let (status, item) = set_item(
        &sandbox,
        &linked.item_id,
        json!({"balance_unavailable": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["balance_unavailable"], true);

    let expected = json!({
        "error_type": "INSTITUTION_ERROR",
        "error_code": "INSTITUTION_NOT_RESPONDING",
        "error_message": "this institution is not currently responding to this request. please try again soon",
        "display_message": "This financial institution is not currently responding to requests. We apologize for the inconvenience.",
    });
    for (path, body) in [
        (
            "/accounts/balance/get",
            json!({"access_token": linked.access_token}),
        ),
        (
            "/processor/balance/get",
            json!({"processor_token": processor}),
        ),
    ] {
        let (status, error) = sandbox.plaid(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        for key in [
            "error_type",
            "error_code",
            "error_message",
            "display_message",
        ] {
            assert_eq!(error[key], expected[key], "{path} {key}");
        }
        assert!(error["request_id"].is_string());
    }
    // Reads that do not fetch a balance still answer.
    sandbox
        .plaid_ok(
            "/accounts/get",
            json!({"access_token": linked.access_token}),
        )
        .await;
    sandbox
        .plaid_ok(
            "/processor/identity/get",
            json!({"processor_token": processor}),
        )
        .await;

    set_item(
        &sandbox,
        &linked.item_id,
        json!({"balance_unavailable": false}),
    )
    .await;
    sandbox
        .plaid_ok(
            "/processor/balance/get",
            json!({"processor_token": processor}),
        )
        .await;
    // An Item that needs a login answers that first.
    sandbox.control.reset_login(&linked.item_id).unwrap();
    let (_, error) = sandbox
        .plaid(
            "/accounts/balance/get",
            json!({"access_token": linked.access_token}),
        )
        .await;
    assert_eq!(error["error_code"], "ITEM_LOGIN_REQUIRED");
}

#[tokio::test]
async fn identity_reads_carry_the_items_owner_names() {
    let sandbox = spawn_sandbox().await;
    let (linked, processor) = linked_with_processor(&sandbox).await;
    let access = json!({"access_token": linked.access_token});
    let body = sandbox.plaid_ok("/identity/get", access.clone()).await;
    assert_eq!(body["accounts"].as_array().unwrap().len(), 2);
    let owners = &body["accounts"][0]["owners"];
    assert_eq!(owners[0]["names"], json!(["Alberta Bobbeth Charleson"]));
    assert_eq!(owners[0]["emails"][0]["data"], "accountholder0@example.com");
    assert_eq!(body["item"]["item_id"], linked.item_id.as_str());

    sandbox
        .control
        .set_item_risk(
            &linked.item_id,
            ItemRiskSettings {
                owner_names: Some(vec!["John Q Public".into(), "Jane Public".into()]),
                ..ItemRiskSettings::default()
            },
        )
        .unwrap();
    let body = sandbox.plaid_ok("/identity/get", access.clone()).await;
    assert_eq!(
        body["accounts"][1]["owners"][0]["names"],
        json!(["John Q Public", "Jane Public"])
    );
    let processor_body = sandbox
        .plaid_ok(
            "/processor/identity/get",
            json!({"processor_token": processor}),
        )
        .await;
    assert_eq!(
        processor_body["account"]["owners"][0]["names"],
        json!(["John Q Public", "Jane Public"])
    );
    // The relationship Alpaca makes from the token names the (first) owner.
    let (status, relationship) = sandbox
        .alpaca_json(
            Method::POST,
            &format!("/v1/accounts/{}/ach_relationships", uuid::Uuid::new_v4()),
            Some(json!({"processor_token": processor})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{relationship}");
    assert_eq!(relationship["account_owner_name"], "John Q Public");

    let filtered = sandbox
        .plaid_ok(
            "/identity/get",
            json!({"access_token": linked.access_token,
                   "options": {"account_ids": [linked.checking_account_id]}}),
        )
        .await;
    assert_eq!(filtered["accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn identity_match_scores_the_users_name_against_the_owner() {
    let sandbox = spawn_sandbox().await;
    let (linked, processor) = linked_with_processor(&sandbox).await;
    let matched =
        |name: &str| json!({"access_token": linked.access_token, "user": {"legal_name": name}});
    let body = sandbox
        .plaid_ok("/identity/match", matched("Alberta Bobbeth Charleson"))
        .await;
    let checking = account(&body, &linked.checking_account_id);
    assert_eq!(
        checking["legal_name"],
        json!({"score": 100, "is_first_name_or_last_name_match": true,
               "is_nickname_match": false, "is_business_name_detected": false})
    );
    assert_eq!(
        checking["phone_number"],
        json!({"score": null}),
        "nothing given, nothing scored"
    );
    assert_eq!(checking["balances"]["available"], Value::Null);
    assert_eq!(checking["mask"], "0000");
    assert_eq!(body["item"]["item_id"], linked.item_id.as_str());

    let partial = sandbox
        .plaid_ok("/identity/match", matched("Alberta B. Charleson"))
        .await;
    assert!(
        partial["accounts"][0]["legal_name"]["score"]
            .as_u64()
            .unwrap()
            >= 70
    );

    set_item(
        &sandbox,
        &linked.item_id,
        json!({"owner_names": ["John Q Public"]}),
    )
    .await;
    let stranger = sandbox
        .plaid_ok(
            "/processor/identity/match",
            json!({"processor_token": processor,
                   "user": {"legal_name": "Alberta Charleson", "phone_number": "+1 111 222 3333",
                            "email_address": "accountholder0@example.com",
                            "address": {"street": "2992 Cameron Road", "postal_code": "14236",
                                        "city": "Malakoff", "region": "NY", "country": "US"}}}),
        )
        .await;
    let account = &stranger["account"];
    assert!(
        account["legal_name"]["score"].as_u64().unwrap() < 70,
        "{account}"
    );
    assert_eq!(
        account["legal_name"]["is_first_name_or_last_name_match"],
        false
    );
    assert_eq!(account["phone_number"]["score"], 100);
    assert_eq!(account["email_address"]["score"], 100);
    assert_eq!(
        account["address"],
        json!({"score": 100, "is_postal_code_match": true})
    );
    assert_eq!(account["account_id"], linked.checking_account_id.as_str());

    // No user at all: every score is null (the objects are there: plaid-python requires them).
    let nothing = sandbox
        .plaid_ok(
            "/processor/identity/match",
            json!({"processor_token": processor}),
        )
        .await;
    for key in ["legal_name", "phone_number", "email_address", "address"] {
        assert_eq!(nothing["account"][key]["score"], Value::Null, "{key}");
    }
}

#[tokio::test]
async fn bad_tokens_and_bad_bodies_get_plaids_errors() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    for (path, body, code) in [
        (
            "/accounts/balance/get",
            json!({"access_token": "access-sandbox-nope"}),
            "INVALID_ACCESS_TOKEN",
        ),
        (
            "/identity/get",
            json!({"access_token": "access-sandbox-nope"}),
            "INVALID_ACCESS_TOKEN",
        ),
        (
            "/identity/match",
            json!({"access_token": "access-sandbox-nope"}),
            "INVALID_ACCESS_TOKEN",
        ),
        (
            "/processor/balance/get",
            json!({"processor_token": "processor-sandbox-nope"}),
            "INVALID_PROCESSOR_TOKEN",
        ),
        (
            "/processor/identity/match",
            json!({"processor_token": "processor-sandbox-nope"}),
            "INVALID_PROCESSOR_TOKEN",
        ),
        ("/accounts/balance/get", json!({}), "MISSING_FIELDS"),
        (
            "/accounts/balance/get",
            json!({"access_token": linked.access_token, "options": {"account_ids": ["nope"]}}),
            "INVALID_ACCOUNT_ID",
        ),
        (
            "/identity/match",
            json!({"access_token": linked.access_token, "user": {"legal_name": 7}}),
            "INVALID_FIELD",
        ),
        (
            "/identity/match",
            json!({"access_token": linked.access_token, "user": {"nickname": "Bob"}}),
            "UNKNOWN_FIELDS",
        ),
    ] {
        let (status, error) = sandbox.plaid(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert_eq!(error["error_code"], code, "{path}: {error}");
        let message = error["error_message"].as_str().unwrap();
        assert!(
            !message.contains("sandbox-nope"),
            "a token is never echoed: {message}"
        );
    }
}

#[tokio::test]
async fn the_item_control_refuses_bad_settings_naming_the_field() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    let item = linked.item_id.as_str();
    for (body, field) in [
        (json!({"available": "lots"}), "available"),
        (json!({"available": true}), "available"),
        (json!({"current": "0.001"}), "current"),
        (json!({"current": "1000000000000.01"}), "current"),
        (json!({"owner_names": []}), "owner_names"),
        (json!({"owner_names": ["  "]}), "owner_names"),
        (json!({"owner_names": "John"}), "owner_names"),
        (json!({"owner_names": null}), "owner_names"),
        (json!({"balance_unavailable": "yes"}), "balance_unavailable"),
        (
            json!({"account_id": linked.checking_account_id}),
            "account_id",
        ),
        (
            json!({"account_id": "nope", "available": "1"}),
            "account_id",
        ),
        (json!({"availble": "1"}), "availble"),
    ] {
        let (status, answer) = set_item(&sandbox, item, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(field), "{body}: {error}");
    }
    // Nothing changed, since every refusal came before any change.
    let snapshot = sandbox.control.item(item).unwrap();
    assert_eq!(snapshot.accounts[0].available, Some(Decimal::from(100)));
    assert_eq!(
        snapshot.owner_names,
        vec!["Alberta Bobbeth Charleson".to_owned()]
    );

    let (status, _) = set_item(&sandbox, "no-such-item", json!({"available": "1"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // GET shows the same state as POST answers.
    let (_, posted) = set_item(&sandbox, item, json!({"available": 42})).await;
    let (status, got) = sandbox
        .control_http(Method::GET, &format!("/plaid/items/{item}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(posted, got);
    assert_eq!(got["accounts"][0]["available"], "42");
}
