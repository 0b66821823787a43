//! Changing banks (`replace_bank_link_id`), end to end against the emulator's Alpaca, which keeps
//! one active ACH relationship per account: the old relationship is cancelled first, the new one
//! created once Alpaca shows the old CANCELED, the old link's Item removed once the new link is
//! approved; a replacement that Alpaca refuses leaves the account with neither link, and says so; a
//! lost answer to the cancel is sent again safely.

use std::collections::BTreeMap;
use std::time::Duration;

use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method, SandboxControl};
use funding_tests::{AppOptions, Backend, TestApp, bad_request_fields, error_reason};

/// The relationships Alpaca holds for the account that are not CANCELED or REJECTED, from the
/// emulator's own event log (the last status of each).
fn active_relationships(sandbox: &SandboxControl, account_id: &str) -> Vec<String> {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for event in sandbox.funding_events() {
        if event["entity_type"] == "BankRelationship"
            && event["account_id"] == account_id
            && let (Some(id), Some(status)) =
                (event["entity_id"].as_str(), event["status_to"].as_str())
        {
            last.insert(id.to_owned(), status.to_owned());
        }
    }
    last.into_iter()
        .filter(|(_, status)| status != "CANCELED" && status != "REJECTED")
        .map(|(id, _)| id)
        .collect()
}

/// A request for a new bank (a fresh sandbox Item) on `account_id`, replacing `old`.
async fn replacing(app: &TestApp, account_id: &str, old: &str) -> v1::CreateBankLinkRequest {
    let (public_token, plaid_account_id) = app.public_token().await;
    v1::CreateBankLinkRequest {
        account_id: account_id.to_owned(),
        public_token,
        plaid_account_id,
        nickname: "New bank".into(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        replace_bank_link_id: old.to_owned(),
    }
}

async fn wait_for_item_removals(app: &TestApp, count: usize) {
    for _ in 0..200 {
        if app.provider_calls("POST", "/item/remove") >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} Item removals, saw {}",
        app.provider_calls("POST", "/item/remove")
    );
}

async fn changing_banks_cancels_the_old_relationship_then_creates_the_new(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, old) = app.approved_link().await;
    assert_eq!(active_relationships(&app.sandbox, &account_id).len(), 1);

    let request = replacing(&app, &account_id, &old.id).await;
    let new = app
        .create_link(request.clone())
        .await
        .expect("CreateBankLink");
    assert_eq!(new.replaces_bank_link_id, old.id);
    let new = app
        .wait_for_link_status(&new.id, BankLinkStatus::Approved)
        .await;
    let old_now = app.get_link(&old.id).await;
    assert_eq!(old_now.status(), BankLinkStatus::Canceled, "{old_now:?}");
    let active = active_relationships(&app.sandbox, &account_id);
    assert_eq!(
        active,
        vec![new.ach_relationship_id.clone()],
        "Alpaca holds exactly the new relationship"
    );
    assert_ne!(new.ach_relationship_id, old.ach_relationship_id);

    // Both histories tell the story: the old link cancelled for the new one; the new one waited.
    assert_eq!(
        app.count_rows_where(
            "bank_link_status_history",
            "source = 'api:replace' AND to_status = 'CANCEL_REQUESTED'"
        )
        .await,
        1
    );
    // The old link's Item is removed once the new link is approved (the new one's stays).
    wait_for_item_removals(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.provider_calls("POST", "/item/remove"), 1);

    // A repeat answers the same link; another replacement of the old one is refused; so is
    // replacing a link of another account.
    let again = app.create_link(request).await.expect("the repeat");
    assert_eq!(again.id, new.id);
    let refused = app
        .create_link(replacing(&app, &account_id, &old.id).await)
        .await
        .expect_err("the old link is replaced already");
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert_eq!(error_reason(&refused), "BANK_LINK_ALREADY_REPLACED");
    let foreign = app
        .create_link(replacing(&app, &uuid::Uuid::new_v4().to_string(), &new.id).await)
        .await
        .expect_err("another account's link");
    assert_eq!(foreign.code(), tonic::Code::InvalidArgument);
    assert_eq!(bad_request_fields(&foreign), vec!["replace_bank_link_id"]);
    assert_eq!(active_relationships(&app.sandbox, &account_id).len(), 1);
    app.stop().await;
}

async fn a_replacement_alpaca_refuses_leaves_the_account_with_neither_and_says_so(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, old) = app.approved_link().await;
    app.sandbox.inject_fault(
        Fault::new(
            Host::Alpaca,
            format!("/v1/accounts/{account_id}/ach_relationships"),
            422,
        )
        .method(Method::POST),
    );
    let new = app
        .create_link(replacing(&app, &account_id, &old.id).await)
        .await
        .expect("accepted: the refusal comes after the old relationship is cancelled");
    let failed = app
        .wait_for_link_status(&new.id, BankLinkStatus::Failed)
        .await;
    assert!(
        failed.status_reason.contains("no active bank link"),
        "{}",
        failed.status_reason
    );
    assert_eq!(
        app.get_link(&old.id).await.status(),
        BankLinkStatus::Canceled
    );
    assert!(active_relationships(&app.sandbox, &account_id).is_empty());
    // Both Items are removed: the new link's with its failure, the old one's with it.
    wait_for_item_removals(&app, 2).await;
    app.stop().await;
}

async fn a_lost_answer_to_the_cancel_is_sent_again_safely(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, old) = app.approved_link().await;
    // Alpaca cancels, but its answer never reaches the service.
    app.sandbox.inject_fault(
        Fault::late_effect(
            Host::Alpaca,
            format!("/v1/accounts/{account_id}/ach_relationships/"),
            Fault::NO_ANSWER,
            Duration::from_millis(50),
        )
        .method(Method::DELETE)
        .mode(FaultMode::LateEffect),
    );
    let new = app
        .create_link(replacing(&app, &account_id, &old.id).await)
        .await
        .map(|link| link.id)
        .inspect_err(|status| {
            // The fast path may answer the provider error it met; the link goes on.
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        });
    let links = app.list_links(&account_id).await;
    let new_id = match new {
        Ok(id) => id,
        Err(_) => links
            .iter()
            .find(|link| link.id != old.id)
            .expect("the new link")
            .id
            .clone(),
    };
    let new = app
        .wait_for_link_status(&new_id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.get_link(&old.id).await.status(),
        BankLinkStatus::Canceled
    );
    assert_eq!(
        active_relationships(&app.sandbox, &account_id),
        vec![new.ach_relationship_id]
    );
    assert!(
        app.provider_calls(
            "DELETE",
            &format!("/v1/accounts/{account_id}/ach_relationships/")
        ) >= 2,
        "the cancel whose answer was lost was sent again"
    );
    app.stop().await;
}

/// Alpaca may refuse a repeated cancel of a relationship it is cancelling already (its documents
/// allow a 422 for a relationship that is not active); the emulator's default answers 204, so the
/// refusal is driven by a fault: the first DELETE lands but its answer is lost, the second is
/// refused. The new link must not fail: Alpaca's list shows the cancel under way.
async fn a_refused_repeat_of_a_landed_cancel_does_not_fail_the_new_link(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, old) = app.approved_link().await;
    // Alpaca takes a while to cancel, so the refused repeat meets CANCEL_REQUESTED.
    app.sandbox
        .set_relationship_approval_delay(Duration::from_millis(1_500));
    let path = format!("/v1/accounts/{account_id}/ach_relationships/");
    app.sandbox.inject_fault(
        Fault::late_effect(Host::Alpaca, path.clone(), Fault::NO_ANSWER, Duration::ZERO)
            .method(Method::DELETE)
            .mode(FaultMode::LateEffect),
    );
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, path.clone(), 422)
            .method(Method::DELETE)
            .body(serde_json::json!({"code": 42210000, "message": "relationship is not active"})),
    );
    let request = replacing(&app, &account_id, &old.id).await;
    let _ = app.create_link(request.clone()).await;
    let new_id = app
        .list_links(&account_id)
        .await
        .into_iter()
        .find(|link| link.id != old.id)
        .expect("the new link")
        .id;
    let new = app
        .wait_for_link_status(&new_id, BankLinkStatus::Approved)
        .await;
    assert_eq!(
        app.get_link(&old.id).await.status(),
        BankLinkStatus::Canceled
    );
    assert_eq!(
        active_relationships(&app.sandbox, &account_id),
        vec![new.ach_relationship_id]
    );
    assert!(
        app.provider_calls("DELETE", &path) >= 2,
        "the refused repeat was sent"
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_refused_repeat_of_a_landed_cancel_does_not_fail_the_new_link,
    changing_banks_cancels_the_old_relationship_then_creates_the_new,
    a_replacement_alpaca_refuses_leaves_the_account_with_neither_and_says_so,
    a_lost_answer_to_the_cancel_is_sent_again_safely,
);
