//! The risk checks' reads, pinned on the wire: `/accounts/balance/get`, `/identity/get`,
//! `/identity/match` and `/item/get` (each asked for the one linked account),
//! `/processor/balance/get` (the account behind a processor token), what each answer becomes, and a
//! balance the bank could not give as Plaid's error.

use funding_core::ports::{AccountBalance, BankTransferGateway, PlaidGateway, ProviderErrorKind};
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{self, plaid_error};
use crate::support::*;

fn item() -> serde_json::Value {
    json!({"item_id": ITEM_ID, "institution_id": INSTITUTION_ID, "webhook": null, "error": null,
           "available_products": [], "billed_products": ["auth"], "products": ["auth"],
           "consent_expiration_time": null, "update_type": "background"})
}

#[tokio::test]
async fn the_balance_of_the_linked_account_is_read_as_exact_decimals() {
    let (server, client) = plaid().await;
    on(
        "/accounts/balance/get",
        ok(json!({
            "accounts": [
                {"account_id": "another", "balances": {"available": 1.5, "current": 2,
                 "iso_currency_code": "USD", "limit": null, "unofficial_currency_code": null},
                 "mask": "1111", "name": "Plaid Saving", "official_name": null,
                 "subtype": "savings", "type": "depository"},
                {"account_id": ACCOUNT_ID, "balances": {"available": 120.1, "current": 110,
                 "iso_currency_code": "USD", "limit": null, "unofficial_currency_code": null},
                 "mask": "0000", "name": "Plaid Checking", "official_name": null,
                 "subtype": "checking", "type": "depository"}
            ],
            "item": item(),
            "request_id": "bal-1"
        })),
    )
    .mount(&server)
    .await;

    let balance = client
        .account_balance(&access_token(), &account_id())
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_plaid_headers(&request);
    assert_eq!(
        body(&request),
        json!({"access_token": ACCESS_TOKEN, "options": {"account_ids": [ACCOUNT_ID]}})
    );
    assert_eq!(
        balance,
        AccountBalance {
            available: Some(Decimal::new(12_010, 2)),
            current: Some(Decimal::new(110, 0)),
            iso_currency_code: Some("USD".into()),
        }
    );
}

#[tokio::test]
async fn a_balance_the_bank_cannot_give_is_plaids_error_and_null_is_unknown() {
    let (server, client) = plaid().await;
    on(
        "/accounts/balance/get",
        ResponseTemplate::new(400).set_body_json(plaid_error(
            "INSTITUTION_ERROR",
            "INSTITUTION_NOT_RESPONDING",
            "this institution is not currently responding to this request",
            "bal-2",
        )),
    )
    .mount(&server)
    .await;
    let error = client
        .account_balance(&access_token(), &account_id())
        .await
        .unwrap_err();
    assert_eq!(error.code, "INSTITUTION_NOT_RESPONDING");
    assert_ne!(error.kind, ProviderErrorKind::Decode);

    let (server, client) = plaid().await;
    on(
        "/accounts/balance/get",
        ok(
            json!({"accounts": [{"account_id": ACCOUNT_ID, "balances": {"available": null,
            "current": 5.25, "iso_currency_code": "USD"}}], "item": item(), "request_id": "bal-3"}),
        ),
    )
    .mount(&server)
    .await;
    let balance = client
        .account_balance(&access_token(), &account_id())
        .await
        .unwrap();
    assert_eq!(balance.available, None);
    assert_eq!(balance.current, Some(Decimal::new(525, 2)));
}

#[tokio::test]
async fn the_balance_behind_a_processor_token_is_asked_with_the_token_alone() {
    let (server, client) = plaid().await;
    on("/processor/balance/get", ok(fixtures::processor_balance()))
        .mount(&server)
        .await;

    let balance = client.processor_balance(&processor_token()).await.unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/processor/balance/get");
    // The credentials travel in the headers, as on every Plaid call; the body is the token.
    assert_plaid_headers(&request);
    assert_eq!(body(&request), json!({"processor_token": PROCESSOR_TOKEN}));
    assert_eq!(
        balance,
        AccountBalance {
            available: Some(Decimal::new(12_050, 2)),
            current: Some(Decimal::new(130, 0)),
            iso_currency_code: Some("USD".into()),
        }
    );
}

#[tokio::test]
async fn a_processor_balance_the_bank_cannot_give_is_plaids_error_asked_once() {
    let (server, client) = plaid().await;
    on(
        "/processor/balance/get",
        ResponseTemplate::new(400).set_body_json(plaid_error(
            "INSTITUTION_ERROR",
            "INSTITUTION_NOT_RESPONDING",
            "this institution is not currently responding to this request",
            "pbal-2",
        )),
    )
    .mount(&server)
    .await;

    let error = client
        .processor_balance(&processor_token())
        .await
        .unwrap_err();

    assert_eq!(error.code, "INSTITUTION_NOT_RESPONDING");
    assert_eq!(error.http_status, Some(400));
    assert_eq!(error.request_id.as_deref(), Some("pbal-2"));
    assert_eq!(error.kind, ProviderErrorKind::InvalidInput);
    assert!(
        !format!("{error:?}").contains(PROCESSOR_TOKEN),
        "the token is never shown: {error:?}"
    );
    assert_eq!(
        received(&server, "/processor/balance/get").await.len(),
        1,
        "a 400 is Plaid's answer, not retried"
    );

    // An institution that gives no available balance: unknown, its current one kept.
    let (server, client) = plaid().await;
    on(
        "/processor/balance/get",
        ok(
            json!({"account": {"account_id": ACCOUNT_ID, "balances": {"available": null,
            "current": 5.25, "iso_currency_code": "USD"}}, "request_id": "pbal-3"}),
        ),
    )
    .mount(&server)
    .await;
    let balance = client.processor_balance(&processor_token()).await.unwrap();
    assert_eq!(balance.available, None);
    assert_eq!(balance.current, Some(Decimal::new(525, 2)));
}

#[tokio::test]
async fn an_answer_without_the_account_is_unreadable() {
    let (server, client) = plaid().await;
    on(
        "/accounts/balance/get",
        ok(json!({"accounts": [], "item": item(), "request_id": "bal-4"})),
    )
    .mount(&server)
    .await;
    let error = client
        .account_balance(&access_token(), &account_id())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Decode);
}

#[tokio::test]
async fn the_owners_names_come_from_identity_get() {
    let (server, client) = plaid().await;
    on(
        "/identity/get",
        ok(json!({
            "accounts": [{"account_id": ACCOUNT_ID, "balances": {"available": 100, "current": 110},
                "owners": [
                    {"names": ["Alberta Bobbeth Charleson"], "emails": [], "addresses": [],
                     "phone_numbers": []},
                    {"names": ["Bob Charleson", "Robert Charleson"]}
                ]}],
            "item": item(),
            "request_id": "id-1"
        })),
    )
    .mount(&server)
    .await;

    let names = client
        .owner_names(&access_token(), &account_id())
        .await
        .unwrap();

    assert_eq!(
        body(&the_request(&server).await),
        json!({"access_token": ACCESS_TOKEN, "options": {"account_ids": [ACCOUNT_ID]}})
    );
    assert_eq!(
        names,
        [
            "Alberta Bobbeth Charleson",
            "Bob Charleson",
            "Robert Charleson"
        ]
    );
}

#[tokio::test]
async fn identity_match_sends_the_legal_name_and_reads_plaids_score() {
    let (server, client) = plaid().await;
    on(
        "/identity/match",
        ok(json!({
            "accounts": [{"account_id": ACCOUNT_ID, "balances": {"available": 100},
                "legal_name": {"score": 90, "is_first_name_or_last_name_match": true,
                               "is_nickname_match": false, "is_business_name_detected": false},
                "phone_number": null, "email_address": null, "address": null}],
            "item": item(),
            "request_id": "match-1"
        })),
    )
    .mount(&server)
    .await;

    let score = client
        .match_owner_name(&access_token(), &account_id(), "Alberta Charleson")
        .await
        .unwrap();

    assert_eq!(
        body(&the_request(&server).await),
        json!({"access_token": ACCESS_TOKEN, "user": {"legal_name": "Alberta Charleson"},
               "options": {"account_ids": [ACCOUNT_ID]}})
    );
    assert_eq!(score, Some(90));

    let (server, client) = plaid().await;
    on(
        "/identity/match",
        ok(
            json!({"accounts": [{"account_id": ACCOUNT_ID, "legal_name": null}],
                  "item": item(), "request_id": "match-2"}),
        ),
    )
    .mount(&server)
    .await;
    assert_eq!(
        client
            .match_owner_name(&access_token(), &account_id(), "x")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn item_get_reads_the_items_error() {
    let (server, client) = plaid().await;
    let mut broken = item();
    broken["error"] = json!({"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED",
        "error_message": "the login details of this item have changed", "display_message": null,
        "request_id": null, "causes": [], "status": null, "documentation_url": null,
        "suggested_action": null});
    on(
        "/item/get",
        ok(json!({"item": broken, "status": null, "request_id": "item-1"})),
    )
    .mount(&server)
    .await;
    let state = client.get_item(&access_token()).await.unwrap();
    assert_eq!(
        body(&the_request(&server).await),
        json!({"access_token": ACCESS_TOKEN})
    );
    assert_eq!(state.error_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));

    let (server, client) = plaid().await;
    on(
        "/item/get",
        ok(json!({"item": item(), "request_id": "item-2"})),
    )
    .mount(&server)
    .await;
    assert_eq!(
        client.get_item(&access_token()).await.unwrap().error_code,
        None
    );
}
