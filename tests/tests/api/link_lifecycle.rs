//! The Plaid Link lifecycle, end to end: a link token from `CreateLinkToken` opens the emulator's
//! Link, its public token makes an APPROVED link, and the Item's health follows Plaid's verified
//! `ITEM` webhooks (a reset login, a repaired login, revoked access); a REVOKED link refuses new
//! transfers; a redelivered webhook changes nothing; a forged one is refused.

use std::time::Duration;

use funding_client::v1::{self, BankLinkHealth, TransferDirection};
use funding_sandbox::{ItemWebhookCode, LinkSuccess, WebhookFault};
use funding_tests::{AppOptions, Backend, TestApp, error_reason};

async fn link_token(
    app: &TestApp,
    account_id: &str,
    bank_link_id: &str,
) -> v1::CreateLinkTokenResponse {
    app.client
        .bank_links()
        .create_link_token(v1::CreateLinkTokenRequest {
            account_id: account_id.into(),
            bank_link_id: bank_link_id.into(),
            ..Default::default()
        })
        .await
        .expect("CreateLinkToken")
        .into_inner()
}

/// Link (the emulator's, clicked through as `user_good` picking checking) opened with
/// `link_token`, then `CreateBankLink` with its answer, waited to APPROVED.
async fn approved_through_link(
    app: &TestApp,
    account_id: &str,
    link_token: &str,
) -> (LinkSuccess, v1::BankLink) {
    let success = app
        .sandbox
        .complete_link(link_token, "ins_109508")
        .expect("Link succeeds for user_good");
    let checking = success
        .accounts
        .iter()
        .find(|account| account.subtype == "checking")
        .expect("the checking account was picked");
    let link = app
        .create_link(v1::CreateBankLinkRequest {
            account_id: account_id.to_owned(),
            public_token: success.public_token.clone(),
            plaid_account_id: checking.account_id.clone(),
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        })
        .await
        .expect("CreateBankLink");
    let link = app
        .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
        .await;
    (success, link)
}

/// Polls GetBankLink until its health is `health` (bounded).
async fn wait_for_health(app: &TestApp, id: &str, health: BankLinkHealth) -> v1::BankLink {
    let mut last = None;
    for _ in 0..200 {
        let link = app.get_link(id).await;
        if link.health() == health {
            return link;
        }
        last = Some(link);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("link {id} never became {health:?}; last seen {last:?}");
}

/// The history entries Item webhooks made (the test has one link).
const ITEM_WEBHOOK_ENTRIES: &str = "source = 'plaid:item_webhook'";

async fn a_link_through_link_and_its_item_health(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let account_id = uuid::Uuid::new_v4().to_string();

    // A link token, Link (the emulator's, as a front end would click through it), a link.
    let token = link_token(&app, &account_id, "").await;
    assert!(
        token.link_token.starts_with("link-sandbox-"),
        "{}",
        token.link_token
    );
    assert!(token.expiration.is_some());
    let issued = app
        .sandbox
        .link_token(&token.link_token)
        .expect("the emulator issued it");
    assert!(!issued.is_update_mode());
    let (success, link) = approved_through_link(&app, &account_id, &token.link_token).await;
    assert_eq!(link.health(), BankLinkHealth::Healthy);
    let item = app.sandbox.item(&success.item_id).expect("the Item");
    assert_eq!(
        item.webhook.as_deref(),
        Some(app.webhook_url.as_str()),
        "the link token gave Plaid this service's webhook URL"
    );

    // Plaid resets the login: the ERROR webhook makes the link NEEDS_REAUTH within seconds.
    app.sandbox.reset_login(&success.item_id).unwrap();
    let needs = wait_for_health(&app, &link.id, BankLinkHealth::NeedsReauth).await;
    assert!(
        needs.health_reason.contains("ITEM_LOGIN_REQUIRED"),
        "{}",
        needs.health_reason
    );
    // By default a NEEDS_REAUTH link still moves money on the Alpaca rail.
    app.create_transfer(app.transfer_request(
        &account_id,
        &link,
        "10.00",
        TransferDirection::Deposit,
    ))
    .await
    .expect("allowed by default");

    // Update mode: a link token for the link's Item; Link repairs the login.
    let update = link_token(&app, &account_id, &link.id).await;
    assert!(
        app.sandbox
            .link_token(&update.link_token)
            .unwrap()
            .is_update_mode()
    );
    app.sandbox
        .complete_link(&update.link_token, "ins_109508")
        .expect("update mode succeeds");
    assert_eq!(app.sandbox.item(&success.item_id).unwrap().error_code, None);
    app.sandbox
        .fire_item_webhook(&success.item_id, ItemWebhookCode::LoginRepaired)
        .unwrap();
    wait_for_health(&app, &link.id, BankLinkHealth::Healthy).await;

    // The user revokes access: REVOKED, for good, and a deposit is refused before Alpaca.
    app.sandbox
        .fire_item_webhook(&success.item_id, ItemWebhookCode::UserPermissionRevoked)
        .unwrap();
    let revoked = wait_for_health(&app, &link.id, BankLinkHealth::Revoked).await;
    assert!(revoked.health_reason.contains("USER_PERMISSION_REVOKED"));
    let posts = app.provider_calls("POST", &format!("/v1/accounts/{account_id}/transfers"));
    let refused = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "10.00",
            TransferDirection::Deposit,
        ))
        .await
        .expect_err("a revoked link moves no money");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&refused), "BANK_LINK_REVOKED");
    assert_eq!(
        app.provider_calls("POST", &format!("/v1/accounts/{account_id}/transfers")),
        posts,
        "nothing sent"
    );
    app.sandbox
        .fire_item_webhook(&success.item_id, ItemWebhookCode::LoginRepaired)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.get_link(&link.id).await.health(),
        BankLinkHealth::Revoked,
        "REVOKED is final"
    );
    app.stop().await;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn post_webhook(app: &TestApp, body: &str, verification: &str) -> u16 {
    reqwest::Client::new()
        .post(&app.webhook_url)
        .header("Plaid-Verification", verification)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_redelivered_item_webhook_changes_nothing_and_a_forged_one_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        // The webhooks here are the test's own: the emulator's Item stays healthy, so a periodic
        // Item check (`/item/get`) between the webhook and the read would rightly heal the link.
        // (That race failed CI once.)
        reconcile_by_hand: true,
        ..AppOptions::default()
    })
    .await;
    let sandbox_link = app.sandbox.create_public_token("ins_109508").unwrap();
    let checking = sandbox_link
        .accounts
        .iter()
        .find(|account| account.subtype == "checking")
        .unwrap();
    let link = app
        .create_link(v1::CreateBankLinkRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            public_token: sandbox_link.public_token.clone(),
            plaid_account_id: checking.account_id.clone(),
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        })
        .await
        .unwrap();
    let link = app
        .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
        .await;
    let item_id = sandbox_link.item_id.clone();
    let body = serde_json::json!({
        "webhook_type": "ITEM",
        "webhook_code": "ERROR",
        "item_id": item_id,
        "error": {
            "error_type": "ITEM_ERROR",
            "error_code": "ITEM_LOGIN_REQUIRED",
            "error_message": "the login details of this item have changed",
            "display_message": null,
        },
        "environment": "sandbox",
    })
    .to_string();

    // Forged: no valid signature, nothing changes.
    assert_eq!(post_webhook(&app, &body, "not-a-jwt").await, 401);
    let forged = app
        .sandbox
        .sign_plaid_webhook(b"{\"another\":\"body\"}", now())
        .unwrap();
    assert_eq!(
        post_webhook(&app, &body, &forged).await,
        401,
        "signed for another body"
    );
    assert_eq!(
        app.get_link(&link.id).await.health(),
        BankLinkHealth::Healthy
    );

    // Delivered twice: one health change, one history entry.
    for _ in 0..2 {
        let signed = app
            .sandbox
            .sign_plaid_webhook(body.as_bytes(), now())
            .unwrap();
        assert_eq!(post_webhook(&app, &body, &signed).await, 200);
    }
    wait_for_health(&app, &link.id, BankLinkHealth::NeedsReauth).await;
    assert_eq!(
        app.count_rows_where("bank_link_status_history", ITEM_WEBHOOK_ENTRIES)
            .await,
        1,
        "the redelivery was a no-op"
    );
    app.stop().await;
}

/// Webhooks get lost: the reconciler's Item check (`/item/get`) finds a reset login within one
/// pass, and, after the user went through update mode (no webhook says so), the Item working again.
async fn the_item_check_finds_a_broken_login_without_its_webhook(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        reconcile_by_hand: true,
        ..AppOptions::default()
    })
    .await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let token = link_token(&app, &account_id, "").await;
    let (success, link) = approved_through_link(&app, &account_id, &token.link_token).await;
    let healthy = app.reconcile_pass().await.items.expect("the Item check");
    assert_eq!((healthy.lookups, healthy.moved), (1, 0), "{healthy:?}");

    // The ERROR webhook is held back for an hour: only the Item check can tell.
    app.sandbox
        .inject_webhook_fault(WebhookFault::delayed(Duration::from_secs(3_600)));
    app.sandbox.reset_login(&success.item_id).unwrap();
    assert_eq!(
        app.get_link(&link.id).await.health(),
        BankLinkHealth::Healthy
    );
    let pass = app.reconcile_pass().await.items.expect("the Item check");
    assert_eq!(pass.moved, 1, "{pass:?}");
    let needs = app.get_link(&link.id).await;
    assert_eq!(needs.health(), BankLinkHealth::NeedsReauth);
    assert!(
        needs.health_reason.contains("ITEM_LOGIN_REQUIRED"),
        "{}",
        needs.health_reason
    );

    // Update mode repairs the login; the next pass sees the Item working.
    let update = link_token(&app, &account_id, &link.id).await;
    app.sandbox
        .complete_link(&update.link_token, "ins_109508")
        .expect("update mode succeeds");
    let pass = app.reconcile_pass().await.items.expect("the Item check");
    assert_eq!(pass.moved, 1, "{pass:?}");
    assert_eq!(
        app.get_link(&link.id).await.health(),
        BankLinkHealth::Healthy
    );
    assert_eq!(
        app.count_rows_where("bank_link_status_history", "source = 'reconciler:item_get'")
            .await,
        2
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_link_through_link_and_its_item_health,
    a_redelivered_item_webhook_changes_nothing_and_a_forged_one_is_refused,
    the_item_check_finds_a_broken_login_without_its_webhook,
);
