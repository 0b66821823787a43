//! What an ACH return does to the link and the account (DESIGN §12), end to end against the
//! emulator: R03 makes the link UNUSABLE and cancels it at Alpaca (its Item removed); R10 freezes
//! the account, holds what it had not yet sent, and an operator's unfreeze releases it; a return
//! delivered twice applies once; insufficient-funds returns send the link's next deposit to
//! review.

use std::time::Duration;

use funding_client::v1::{self, BankLinkStatus, TransferDirection, TransferStatus};
use funding_sandbox::{EventFault, Fault, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp, error_reason};

async fn complete_deposit(
    app: &TestApp,
    account_id: &str,
    link: &v1::BankLink,
    amount: &str,
) -> v1::Transfer {
    let transfer = app
        .create_transfer(app.transfer_request(account_id, link, amount, TransferDirection::Deposit))
        .await
        .expect("a deposit");
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await
}

async fn return_it(app: &TestApp, transfer: &v1::Transfer, code: &str) -> v1::Transfer {
    app.client
        .sandbox()
        .simulate_transfer(v1::SimulateTransferRequest {
            target: Some(v1::simulate_transfer_request::Target::TransferId(
                transfer.id.clone(),
            )),
            status: "RETURNED".into(),
            reason: String::new(),
            ach_return_code: code.into(),
        })
        .await
        .expect("SimulateTransfer");
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Returned)
        .await
}

async fn audit(app: &TestApp, account_id: &str) -> Vec<v1::AuditEvent> {
    app.client
        .risk()
        .list_audit_events(v1::ListAuditEventsRequest {
            account_id: account_id.into(),
            ..v1::ListAuditEventsRequest::default()
        })
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .events
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

async fn an_r03_return_makes_the_link_unusable_and_cancels_it(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, link) = app.approved_link().await;
    let deposit = complete_deposit(&app, &account_id, &link, "40.00").await;
    // The return is reported twice; it applies once.
    app.sandbox.inject_event_fault(EventFault::duplicate());
    return_it(&app, &deposit, "R03").await;

    eventually("the link is UNUSABLE", || async {
        app.get_link(&link.id).await.health() == v1::BankLinkHealth::Unusable
    })
    .await;
    let unusable = app.get_link(&link.id).await;
    assert!(unusable.health_reason.contains("R03"), "{unusable:?}");
    app.wait_for_link_status(&link.id, BankLinkStatus::Canceled)
        .await;
    eventually("its Item is removed", || async {
        app.provider_calls("POST", "/item/remove") == 1
    })
    .await;
    let refused = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "5.00",
            TransferDirection::Deposit,
        ))
        .await
        .unwrap_err();
    assert!(
        ["BANK_LINK_UNUSABLE", "BANK_LINK_NOT_APPROVED"].contains(&error_reason(&refused).as_str()),
        "{refused:?}"
    );
    let events = audit(&app, &account_id).await;
    let unusable_events: Vec<_> = events
        .iter()
        .filter(|e| e.action == "bank_link.unusable")
        .collect();
    assert_eq!(unusable_events.len(), 1, "applied once: {events:?}");
    assert_eq!(unusable_events[0].actor, "service");
    assert!(unusable_events[0].reason.contains("R03"));
    let deletes = app.provider_calls(
        "DELETE",
        &format!("/v1/accounts/{account_id}/ach_relationships/"),
    );
    assert_eq!(deletes, 1, "the relationship is cancelled once");
    app.stop().await;
}

async fn an_r10_return_freezes_the_account_holds_what_is_unsent_and_an_unfreeze_releases_it(
    backend: Backend,
) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, link) = app.approved_link().await;
    let first = complete_deposit(&app, &account_id, &link, "30.00").await;
    // A second deposit Alpaca cannot take for now: accepted, not yet sent.
    let transfers_path = format!("/v1/accounts/{account_id}/transfers");
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, transfers_path.clone(), 503)
            .method(Method::POST)
            .times(3),
    );
    let unsent = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "20.00",
            TransferDirection::Deposit,
        ))
        .await
        .expect("accepted");
    app.sandbox.inject_event_fault(EventFault::duplicate());
    return_it(&app, &first, "R10").await;

    let risk = || app.client.risk();
    eventually("the account is frozen", || async {
        risk()
            .get_account_funding(v1::GetAccountFundingRequest {
                account_id: account_id.clone(),
            })
            .await
            .is_ok_and(|funding| funding.into_inner().frozen)
    })
    .await;
    for direction in [TransferDirection::Deposit, TransferDirection::Withdrawal] {
        let refused = app
            .create_transfer(app.transfer_request(&account_id, &link, "1.00", direction))
            .await
            .unwrap_err();
        assert_eq!(error_reason(&refused), "ACCOUNT_FROZEN", "{direction:?}");
        assert!(refused.message().contains("R10"), "{}", refused.message());
    }
    eventually("the unsent deposit is held", || async {
        let now = app.get_transfer(&unsent.id).await;
        now.status() == TransferStatus::Submitting && now.status_reason.starts_with("held")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = app.get_transfer(&unsent.id).await;
    assert_eq!(held.status(), TransferStatus::Submitting, "{held:?}");
    assert!(
        held.provider_transfer_id.is_empty(),
        "nothing sent while frozen"
    );

    let unfrozen = risk()
        .unfreeze_account(v1::UnfreezeAccountRequest {
            account_id: account_id.clone(),
            reason: "the customer confirmed the debit in writing".into(),
        })
        .await
        .expect("UnfreezeAccount")
        .into_inner();
    assert!(unfrozen.changed && !unfrozen.frozen);
    app.wait_for_transfer_status(&unsent.id, TransferStatus::Complete)
        .await;

    let events = audit(&app, &account_id).await;
    let trail: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.action.clone(), e.actor.clone()))
        .collect();
    assert_eq!(
        trail,
        [
            ("account.frozen".to_owned(), "service".to_owned()),
            ("account.unfrozen".to_owned(), "anonymous".to_owned()),
        ],
        "the return froze it once, however often it was reported: {events:?}"
    );
    assert!(events[0].reason.contains("R10"), "{:?}", events[0]);
    assert!(events[0].details_json.contains(&first.id));
    assert_eq!(
        events[1].reason,
        "the customer confirmed the debit in writing"
    );
    app.stop().await;
}

async fn insufficient_funds_returns_send_the_links_next_deposit_to_review(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (account_id, link) = app.approved_link().await;
    for round in 0..3 {
        let deposit = complete_deposit(&app, &account_id, &link, "15.00").await;
        return_it(&app, &deposit, if round == 1 { "R09" } else { "R01" }).await;
        if round < 2 {
            let next = app
                .create_transfer(app.transfer_request(
                    &account_id,
                    &link,
                    "1.00",
                    TransferDirection::Deposit,
                ))
                .await
                .unwrap();
            assert_ne!(
                next.status(),
                TransferStatus::PendingReview,
                "{} returns are not yet {}",
                round + 1,
                3
            );
            app.wait_for_transfer_status(&next.id, TransferStatus::Complete)
                .await;
        }
    }
    let held = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "15.00",
            TransferDirection::Deposit,
        ))
        .await
        .unwrap();
    assert_eq!(held.status(), TransferStatus::PendingReview, "{held:?}");
    let risk = held.risk.unwrap();
    assert_eq!(risk.rule, "return_history");
    assert_eq!(risk.reason, "INSUFFICIENT_FUNDS_RETURNS");
    // A withdrawal is not a debit of the bank: it is not held.
    let withdrawal = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "1.00",
            TransferDirection::Withdrawal,
        ))
        .await;
    if let Ok(withdrawal) = withdrawal {
        assert_ne!(withdrawal.status(), TransferStatus::PendingReview);
    }
    app.stop().await;
}

funding_tests::on_both_backends!(
    an_r03_return_makes_the_link_unusable_and_cancels_it,
    an_r10_return_freezes_the_account_holds_what_is_unsent_and_an_unfreeze_releases_it,
    insufficient_funds_returns_send_the_links_next_deposit_to_review,
);
