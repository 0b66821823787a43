//! Every JSON response of the main endpoints is checked against the official OpenAPI response
//! schema: required keys, JSON types, nullability, enums and `minLength`, following `$ref` and
//! `allOf`. The schemas are verbatim excerpts of the specs kept in `tests/fixtures/` (checked
//! against the full specs when those are present). Deviations that the reference notes document
//! as the live API's behaviour are listed in `schema_checker::DEVIATIONS`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use funding_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestSandbox, eventually, spawn_with};
use crate::schema_checker::{Schemas, fixtures};

/// `StatusFundingEvent` required keys (2026 docs, reference §5; not in the 2022 spec).
const FUNDING_EVENT_REQUIRED: &[&str] = &[
    "event_id",
    "at",
    "account_id",
    "correspondent",
    "entity_id",
    "entity_type",
    "status_to",
];

async fn sandbox() -> TestSandbox {
    spawn_with(SandboxConfig {
        transfer_step_delay: Duration::from_secs(3600),
        ..SandboxConfig::ephemeral()
    })
    .await
}

#[tokio::test]
async fn plaid_responses_match_the_official_schemas() {
    let plaid = Schemas::load("plaid-schemas.yaml");
    let sandbox = sandbox().await;
    let created = sandbox
        .plaid_ok(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["auth"]}),
        )
        .await;
    plaid.assert_valid(&created, "SandboxPublicTokenCreateResponse");
    let exchanged = sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({"public_token": created["public_token"]}),
        )
        .await;
    plaid.assert_valid(&exchanged, "ItemPublicTokenExchangeResponse");
    let access = json!({"access_token": exchanged["access_token"]});
    let accounts = sandbox.plaid_ok("/accounts/get", access.clone()).await;
    plaid.assert_valid(&accounts, "AccountsGetResponse");
    plaid.assert_valid(
        &sandbox.plaid_ok("/item/get", access.clone()).await,
        "ItemGetResponse",
    );

    let token = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({
                "access_token": exchanged["access_token"],
                "account_id": accounts["accounts"][0]["account_id"],
                "processor": "alpaca",
            }),
        )
        .await;
    plaid.assert_valid(&token, "ProcessorTokenCreateResponse");
    let processor = json!({"processor_token": token["processor_token"]});
    for (path, schema) in [
        ("/processor/auth/get", "ProcessorAuthGetResponse"),
        ("/processor/identity/get", "ProcessorIdentityGetResponse"),
        ("/processor/balance/get", "ProcessorBalanceGetResponse"),
        ("/processor/account/get", "ProcessorAccountGetResponse"),
    ] {
        plaid.assert_valid(&sandbox.plaid_ok(path, processor.clone()).await, schema);
    }
    let sandbox_token = sandbox
        .plaid_ok(
            "/sandbox/processor_token/create",
            json!({"institution_id": "ins_109508"}),
        )
        .await;
    plaid.assert_valid(&sandbox_token, "SandboxProcessorTokenCreateResponse");
    plaid.assert_valid(
        &sandbox.plaid_ok("/item/remove", access).await,
        "ItemRemoveResponse",
    );

    let (_, error) = sandbox
        .plaid("/item/public_token/exchange", json!({}))
        .await;
    plaid.assert_valid(&error, "PlaidError");
}

#[tokio::test]
async fn plaid_bank_transfer_and_webhook_responses_match_the_official_schemas() {
    let plaid = Schemas::load("plaid-schemas.yaml");
    let sandbox = sandbox().await;
    let token = sandbox.processor_token().await;
    let create = |key: &str, network: &str| {
        let mut body = json!({
            "idempotency_key": key, "processor_token": token, "type": "debit",
            "network": network, "amount": "10.00", "iso_currency_code": "USD",
            "description": "deposit", "ach_class": "web",
            "user": {"legal_name": "Ada Lovelace"}, "custom_tag": "tag",
            "metadata": {"order": "1"},
        });
        if network == "wire" {
            body.as_object_mut().unwrap().remove("ach_class");
        }
        body
    };
    let created = sandbox
        .plaid_ok("/processor/bank_transfer/create", create("a", "ach"))
        .await;
    plaid.assert_valid(&created, "ProcessorBankTransferCreateResponse");
    let wire = sandbox
        .plaid_ok("/processor/bank_transfer/create", create("w", "wire"))
        .await;
    plaid.assert_valid(&wire, "ProcessorBankTransferCreateResponse");
    let id = created["bank_transfer"]["id"].clone();
    let by_id = json!({"bank_transfer_id": id});
    for (event_type, failure) in [
        ("posted", Value::Null),
        (
            "reversed",
            json!({"ach_return_code": "R01", "description": "Insufficient funds"}),
        ),
    ] {
        let mut body = json!({"bank_transfer_id": id, "event_type": event_type});
        if !failure.is_null() {
            body["failure_reason"] = failure;
        }
        plaid.assert_valid(
            &sandbox
                .plaid_ok("/sandbox/bank_transfer/simulate", body)
                .await,
            "SandboxBankTransferSimulateResponse",
        );
    }
    plaid.assert_valid(
        &sandbox.plaid_ok("/bank_transfer/get", by_id).await,
        "BankTransferGetResponse",
    );
    plaid.assert_valid(
        &sandbox
            .plaid_ok(
                "/bank_transfer/cancel",
                json!({"bank_transfer_id": wire["bank_transfer"]["id"]}),
            )
            .await,
        "BankTransferCancelResponse",
    );
    for (path, schema) in [
        ("/bank_transfer/list", "BankTransferListResponse"),
        ("/bank_transfer/event/list", "BankTransferEventListResponse"),
        (
            "/bank_transfer/balance/get",
            "BankTransferBalanceGetResponse",
        ),
    ] {
        plaid.assert_valid(&sandbox.plaid_ok(path, json!({})).await, schema);
    }
    plaid.assert_valid(
        &sandbox
            .plaid_ok("/bank_transfer/event/sync", json!({"after_id": 0}))
            .await,
        "BankTransferEventSyncResponse",
    );
    plaid.assert_valid(
        &sandbox
            .plaid_ok(
                "/webhook_verification_key/get",
                json!({"key_id": sandbox.control.webhook_key_id()}),
            )
            .await,
        "WebhookVerificationKeyGetResponse",
    );
    plaid.assert_valid(
        &sandbox
            .plaid_ok(
                "/sandbox/bank_transfer/fire_webhook",
                json!({"webhook": "http://127.0.0.1:9/hooks"}),
            )
            .await,
        "SandboxBankTransferFireWebhookResponse",
    );
    let body = r#"{
  "webhook_type": "BANK_TRANSFERS",
  "webhook_code": "BANK_TRANSFERS_EVENTS_UPDATE",
  "environment": "sandbox"
}"#;
    plaid.assert_valid(
        &serde_json::from_str(body).unwrap(),
        "BankTransfersEventsUpdateWebhook",
    );
    let (_, error) = sandbox
        .plaid("/webhook_verification_key/get", json!({"key_id": "x"}))
        .await;
    plaid.assert_valid(&error, "PlaidError");
}

#[tokio::test]
async fn alpaca_responses_match_the_official_schemas() {
    let alpaca = Schemas::load("alpaca-schemas.yaml");
    let sandbox = sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.relationship(account).await;
    alpaca.assert_valid(&relationship, "ACHRelationship");
    let id = relationship["id"].as_str().unwrap().to_owned();
    eventually("approval", || async {
        (sandbox.relationship_status(account, &id).await == "APPROVED").then_some(())
    })
    .await;
    let (_, manual) = sandbox
        .alpaca_json(
            Method::POST,
            &format!("/v1/accounts/{}/ach_relationships", Uuid::new_v4()),
            Some(json!({
                "account_owner_name": "John Doe", "bank_account_type": "SAVINGS",
                "bank_account_number": "123456789abc", "bank_routing_number": "121000358",
            })),
        )
        .await;
    alpaca.assert_valid(&manual, "ACHRelationship");
    let (_, list) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/ach_relationships"),
            None,
        )
        .await;
    for item in list.as_array().unwrap() {
        alpaca.assert_valid(item, "ACHRelationship");
    }

    let (_, transfer) = sandbox.transfer(account, &id, "100.00", "INCOMING").await;
    alpaca.assert_valid(&transfer, "Transfer");
    let (_, transfers) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/accounts/{account}/transfers"),
            None,
        )
        .await;
    for item in transfers.as_array().unwrap() {
        alpaca.assert_valid(item, "Transfer");
    }
    let (_, trading) = sandbox
        .alpaca_json(
            Method::GET,
            &format!("/v1/trading/accounts/{account}/account"),
            None,
        )
        .await;
    alpaca.assert_valid(&trading, "TradeAccount");

    let (_, conflict) = sandbox
        .alpaca_json(
            Method::POST,
            &format!("/v1/accounts/{account}/ach_relationships"),
            Some(json!({"processor_token": "processor-sandbox-x"})),
        )
        .await;
    alpaca.assert_valid(&conflict, "Error");

    for event in sandbox.control.funding_events() {
        for key in FUNDING_EVENT_REQUIRED {
            assert!(event.get(*key).is_some(), "event lacks {key}: {event}");
        }
        assert!(event.get("status_from").is_none_or(Value::is_string));
        assert!(event["correspondent"].as_str().unwrap().len() <= 4);
    }
}

/// `    Name:` blocks of `components.schemas` (or of a fixture's `schemas:`), trailing blank
/// lines trimmed.
fn schema_blocks(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut lines = text.lines().skip_while(|line| *line != section).skip(1);
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in lines.by_ref() {
        if !line.is_empty() && !line.starts_with("   ") {
            break;
        }
        let is_name = line.starts_with("    ")
            && !line.starts_with("     ")
            && line.trim_end().ends_with(':');
        if is_name {
            if let Some((name, body)) = current.take() {
                blocks.insert(name, body.join("\n").trim_end().to_owned());
            }
            let name = line.trim().trim_end_matches(':').to_owned();
            current = Some((name, vec![line]));
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        }
    }
    if let Some((name, body)) = current {
        blocks.insert(name, body.join("\n").trim_end().to_owned());
    }
    blocks
}

#[test]
fn the_fixtures_are_verbatim_excerpts_of_the_specs_when_the_specs_are_present() {
    let specs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs");
    for (fixture, spec) in [
        ("plaid-schemas.yaml", "plaid/2020-09-14.yml"),
        ("alpaca-schemas.yaml", "alpaca/openapi.yaml"),
    ] {
        let Ok(spec_text) = std::fs::read_to_string(specs.join(spec)) else {
            eprintln!("{spec} not found next to the workspace; fixture check skipped");
            continue;
        };
        let official = schema_blocks(&spec_text, "  schemas:");
        let copied = schema_blocks(
            &std::fs::read_to_string(fixtures().join(fixture)).unwrap(),
            "schemas:",
        );
        assert!(!copied.is_empty());
        for (name, block) in copied {
            assert_eq!(
                official.get(&name),
                Some(&block),
                "{fixture}: {name} differs"
            );
        }
    }
}

#[test]
fn the_schema_checker_catches_missing_mistyped_and_unlisted_values() {
    let alpaca = Schemas::load("alpaca-schemas.yaml");
    let schema = &alpaca.by_name["ACHRelationship"];
    let mut errors = Vec::new();
    let broken = json!({
        "created_at": "2021-04-08T23:01:53.35743328Z",
        "updated_at": 5,
        "account_id": "9d587d7a-7b2c-494f-8ad8-5796bfca0866",
        "status": "TELEPORTED",
        "account_owner_name": "",
    });
    alpaca.check(
        &broken,
        schema,
        "ACHRelationship",
        "ACHRelationship",
        &mut errors,
    );
    let text = errors.join("\n");
    assert!(text.contains("missing required id"), "{text}");
    assert!(text.contains("updated_at: expected string"), "{text}");
    assert!(text.contains("not in enum"), "{text}");
    assert!(
        text.contains("account_owner_name: shorter than 1"),
        "{text}"
    );

    let plaid = Schemas::load("plaid-schemas.yaml");
    let mut errors = Vec::new();
    let null_balance = json!({"available": null, "current": null, "limit": null,
        "iso_currency_code": null, "unofficial_currency_code": null});
    plaid.check(
        &null_balance,
        &plaid.by_name["AccountBalance"],
        "AccountBalance",
        "b",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    plaid.check(
        &json!({"available": "1"}),
        &plaid.by_name["AccountBalance"],
        "AccountBalance",
        "b",
        &mut errors,
    );
    assert!(errors.len() >= 2, "{errors:?}");
}
