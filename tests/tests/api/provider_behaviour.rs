//! The service against the providers as they legally behave, not as it assumes (DESIGN §4.2, §4.7,
//! §7): a create that gets no answer is settled before anything is concluded from an empty lookup,
//! and what lands at Alpaca that nothing of ours holds is reported, never silent.

use std::time::Duration;

use funding_client::v1::{self, TransferDirection, TransferStatus};
use funding_sandbox::{AlpacaSettings, CashWithdrawable, Fault, FaultMode, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp, error_reason};
use rust_decimal::Decimal;

async fn app(backend: Backend, settle_ms: u64) -> TestApp {
    TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        unknown_outcome_settle_ms: settle_ms,
        ..AppOptions::default()
    })
    .await
}

fn transfers_path(account_id: &str) -> String {
    format!("/v1/accounts/{account_id}/transfers")
}

/// Alpaca transfers of the account, as the emulator's event log shows them.
fn transfers_at_alpaca(app: &TestApp, account_id: &str) -> std::collections::BTreeSet<String> {
    app.sandbox
        .funding_events()
        .into_iter()
        .filter(|event| event["entity_type"] == "Transfer" && event["account_id"] == account_id)
        .filter_map(|event| event["entity_id"].as_str().map(str::to_owned))
        .collect()
}

/// Polls GetTransfer until `check` holds (bounded); the transfer that satisfied it.
async fn wait_until(
    app: &TestApp,
    id: &str,
    what: &str,
    check: impl Fn(&v1::Transfer) -> bool,
) -> v1::Transfer {
    let mut last = None;
    for _ in 0..400 {
        let transfer = app.get_transfer(id).await;
        if check(&transfer) {
            return transfer;
        }
        last = Some(transfer);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened; last seen: {last:?}");
}

async fn a_create_that_got_no_answer_waits_out_the_settle_window_before_it_is_sent_again(
    backend: Backend,
) {
    // Long enough for every check below to run inside it.
    let app = app(backend, 6_000).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .inject_fault(Fault::new(Host::Alpaca, transfers_path(&account), 504).method(Method::POST));
    let created = app
        .create_transfer(app.transfer_request(&account, &link, "70.00", TransferDirection::Deposit))
        .await
        .expect("accepted durably");
    assert_eq!(created.status(), TransferStatus::Submitting);

    let waiting = wait_until(&app, &created.id, "a settling reason", |t| {
        t.status_reason.starts_with("settling an unknown outcome")
    })
    .await;
    assert_eq!(
        waiting.status(),
        TransferStatus::Submitting,
        "neither FAILED nor CANCELED"
    );
    assert_eq!(
        app.provider_calls("POST", &transfers_path(&account)),
        1,
        "an empty lookup inside the window sends nothing again"
    );
    let refused = app
        .client
        .transfers()
        .cancel_transfer(v1::CancelTransferRequest {
            id: created.id.clone(),
        })
        .await
        .expect_err("a cancel cannot conclude from an empty lookup yet");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&refused), "TRANSFER_OUTCOME_SETTLING");
    assert!(
        refused.message().contains("settling an unknown outcome"),
        "{}",
        refused.message()
    );
    assert_eq!(
        app.get_transfer(&created.id).await.status(),
        TransferStatus::Submitting
    );

    // After the window, one more lookup, then the create is sent again, once.
    let done = app
        .wait_for_transfer_status(&created.id, TransferStatus::Complete)
        .await;
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 2);
    let at_alpaca = transfers_at_alpaca(&app, &account);
    assert_eq!(at_alpaca.len(), 1, "one Alpaca transfer: {at_alpaca:?}");
    assert!(at_alpaca.contains(&done.provider_transfer_id));
    app.stop().await;
}

/// `ListProviderOrphans`, every page.
async fn orphans(app: &TestApp, account_id: &str) -> Vec<v1::ProviderOrphan> {
    app.client
        .transfers()
        .list_provider_orphans(v1::ListProviderOrphansRequest {
            account_id: account_id.into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("ListProviderOrphans")
        .into_inner()
        .orphans
}

async fn a_transfer_made_at_alpaca_by_no_request_of_ours_is_reported_as_an_orphan(
    backend: Backend,
) {
    let app = app(backend, 2_000).await;
    let (account, link) = app.approved_link().await;
    // One of ours, which must never be reported.
    let ours = app
        .create_transfer(app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit))
        .await
        .unwrap();
    // One made at Alpaca directly, over our link's relationship.
    let answer = reqwest::Client::new()
        .post(format!("{}{}", app.alpaca_url, transfers_path(&account)))
        .basic_auth("someone-else", Some("their-secret"))
        .json(&serde_json::json!({
            "transfer_type": "ach",
            "relationship_id": link.ach_relationship_id,
            "amount": "33.00",
            "direction": "INCOMING",
        }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let theirs: serde_json::Value = answer.json().await.unwrap();
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();

    let mut found = Vec::new();
    for _ in 0..200 {
        found = orphans(&app, &account).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        found.len(),
        1,
        "only the transfer nothing of ours holds: {found:?}"
    );
    let orphan = &found[0];
    assert_eq!(orphan.kind(), v1::ProviderOrphanKind::Transfer);
    assert_eq!(orphan.provider_id, theirs_id);
    assert_eq!(orphan.account_id, account);
    assert_eq!(orphan.relationship_id, link.ach_relationship_id);
    assert_eq!(orphan.amount, "33.00");
    assert_eq!(orphan.direction(), TransferDirection::Deposit);
    assert!(orphan.first_seen_at.is_some());
    let ours = app.get_transfer(&ours.id).await;
    assert_ne!(ours.provider_transfer_id, theirs_id);
    // Every account's list has it too; another account's has nothing.
    assert_eq!(orphans(&app, "").await.len(), 1);
    assert!(
        orphans(&app, &uuid::Uuid::new_v4().to_string())
            .await
            .is_empty()
    );
    let bad = app
        .client
        .transfers()
        .list_provider_orphans(v1::ListProviderOrphansRequest {
            account_id: "not-an-account".into(),
            page_size: 501,
            page_token: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let fields = funding_tests::bad_request_fields(&bad);
    for field in ["account_id", "page_size", "page_token"] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    app.stop().await;
}

async fn a_deposit_whose_create_lands_after_a_504_is_adopted_not_sent_again(backend: Backend) {
    let app = app(backend, 8_000).await;
    let (account, link) = app.approved_link().await;
    // Alpaca's load balancer answers 504 at once; its backend commits the create 2.5 s later,
    // long after the service's first lookup.
    app.sandbox.inject_fault(
        Fault::late_effect(
            Host::Alpaca,
            transfers_path(&account),
            504,
            Duration::from_millis(2_500),
        )
        .method(Method::POST),
    );
    let created = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "120.00",
            TransferDirection::Deposit,
        ))
        .await
        .expect("accepted durably");
    let done = app
        .wait_for_transfer_status(&created.id, TransferStatus::Complete)
        .await;
    let at_alpaca = transfers_at_alpaca(&app, &account);
    assert_eq!(at_alpaca.len(), 1, "one Alpaca transfer: {at_alpaca:?}");
    assert!(
        at_alpaca.contains(&done.provider_transfer_id),
        "ours points at it"
    );
    assert_eq!(
        app.provider_calls("POST", &transfers_path(&account)),
        1,
        "the create was never sent again"
    );
    app.stop().await;
}

/// CreateBankLink, repeated with the same key while it answers UNAVAILABLE (the provider's error
/// on the fast path; the link is stored and its work goes on), until it answers the link.
async fn create_link_patiently(app: &TestApp, request: v1::CreateBankLinkRequest) -> v1::BankLink {
    for _ in 0..50 {
        match app.create_link(request.clone()).await {
            Ok(link) => return link,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("CreateBankLink: {status:?}"),
        }
    }
    panic!("CreateBankLink kept answering UNAVAILABLE");
}

async fn a_relationship_create_that_lands_after_a_504_is_adopted_not_sent_again(backend: Backend) {
    let app = app(backend, 8_000).await;
    let request = app.create_request().await;
    let path = format!("/v1/accounts/{}/ach_relationships", request.account_id);
    app.sandbox.inject_fault(
        Fault::late_effect(
            Host::Alpaca,
            path.clone(),
            504,
            Duration::from_millis(2_500),
        )
        .method(Method::POST),
    );
    let link = create_link_patiently(&app, request.clone()).await;
    let link = app
        .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
        .await;
    let made = funding_tests::relationships_at_alpaca(&app.sandbox, &request.account_id);
    assert_eq!(made.len(), 1, "one relationship: {made:?}");
    assert!(made.contains(&link.ach_relationship_id));
    assert_eq!(app.provider_calls("POST", &path), 1);
    app.stop().await;
}

async fn a_link_whose_last_attempt_reached_alpaca_is_adopted_not_failed(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        unknown_outcome_settle_ms: 8_000,
        // The first attempt is the last: its give-up must look before it ends the link.
        link_max_attempts: 1,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    let path = format!("/v1/accounts/{}/ach_relationships", request.account_id);
    app.sandbox.inject_fault(
        Fault::late_effect(
            Host::Alpaca,
            path.clone(),
            500,
            Duration::from_millis(2_000),
        )
        .method(Method::POST),
    );
    let link = create_link_patiently(&app, request.clone()).await;
    let link = app
        .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
        .await;
    let made = funding_tests::relationships_at_alpaca(&app.sandbox, &request.account_id);
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made.contains(&link.ach_relationship_id), "adopted");
    assert_eq!(app.provider_calls("POST", &path), 1);
    assert_eq!(
        app.provider_calls("POST", "/item/remove"),
        0,
        "its Plaid Item is kept"
    );
    app.stop().await;
}

async fn with_a_fee_a_dropped_answer_is_matched_on_the_requested_amount(backend: Backend) {
    let app = app(backend, 8_000).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_alpaca_settings(AlpacaSettings {
            ach_fee: Decimal::new(200, 2),
            ..app.sandbox.alpaca_settings()
        })
        .unwrap();
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, transfers_path(&account), 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect),
    );
    let created = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "500.00",
            TransferDirection::Deposit,
        ))
        .await
        .expect("accepted durably");
    let done = app
        .wait_for_transfer_status(&created.id, TransferStatus::Complete)
        .await;
    assert_eq!(done.amount, "500.00", "ours keeps what was asked");
    let at_alpaca = transfers_at_alpaca(&app, &account);
    assert_eq!(at_alpaca.len(), 1, "one Alpaca transfer: {at_alpaca:?}");
    assert!(at_alpaca.contains(&done.provider_transfer_id));
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 1);
    app.stop().await;
}

async fn with_gross_withdrawable_cash_a_second_withdrawal_that_would_overdraw_is_refused(
    backend: Backend,
) {
    let app = app(backend, 8_000).await;
    app.sandbox
        .set_alpaca_settings(AlpacaSettings {
            cash_withdrawable: CashWithdrawable::Gross,
            ..app.sandbox.alpaca_settings()
        })
        .unwrap();
    // Slow steps: the first withdrawal stays in flight while the second is checked.
    app.sandbox.set_transfer_step_delay(Duration::from_secs(30));

    // One after the other.
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_account_cash(account.parse().unwrap(), Decimal::new(10_000, 2));
    let first = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "60.00",
            TransferDirection::Withdrawal,
        ))
        .await
        .expect("the first fits");
    assert_eq!(first.status(), TransferStatus::Queued);
    let second = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "60.00",
            TransferDirection::Withdrawal,
        ))
        .await
        .expect_err("the second would overdraw");
    assert_eq!(second.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&second), "INSUFFICIENT_WITHDRAWABLE_CASH");
    assert!(
        second.message().contains("at most 40.00"),
        "names what fits: {}",
        second.message()
    );
    assert_eq!(
        transfers_at_alpaca(&app, &account).len(),
        1,
        "Alpaca holds one"
    );

    // At once, on another account.
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_account_cash(account.parse().unwrap(), Decimal::new(10_000, 2));
    let (a, b) = tokio::join!(
        app.create_transfer(app.transfer_request(
            &account,
            &link,
            "60.00",
            TransferDirection::Withdrawal
        )),
        app.create_transfer(app.transfer_request(
            &account,
            &link,
            "60.00",
            TransferDirection::Withdrawal
        )),
    );
    let (sent, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!((sent.len(), refused.len()), (1, 1), "one sent, one refused");
    let refused = refused.into_iter().next().unwrap().unwrap_err();
    assert_eq!(error_reason(&refused), "INSUFFICIENT_WITHDRAWABLE_CASH");
    assert_eq!(
        transfers_at_alpaca(&app, &account).len(),
        1,
        "Alpaca holds one"
    );
    app.stop().await;
}

async fn with_pages_capped_at_two_a_lookup_still_finds_the_sixth_transfer(backend: Backend) {
    let app = app(backend, 8_000).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_alpaca_settings(AlpacaSettings {
            list_page_cap: Some(2),
            ..app.sandbox.alpaca_settings()
        })
        .unwrap();
    for _ in 0..5 {
        app.create_transfer(app.transfer_request(
            &account,
            &link,
            "10.00",
            TransferDirection::Deposit,
        ))
        .await
        .unwrap();
    }
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, transfers_path(&account), 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect),
    );
    let sixth = app
        .create_transfer(app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit))
        .await
        .expect("accepted durably");
    let sixth = wait_until(&app, &sixth.id, "the sixth adopted", |t| {
        !t.provider_transfer_id.is_empty()
    })
    .await;
    let at_alpaca = transfers_at_alpaca(&app, &account);
    assert_eq!(
        at_alpaca.len(),
        6,
        "exactly one for the sixth: {at_alpaca:?}"
    );
    assert!(at_alpaca.contains(&sixth.provider_transfer_id));
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 6);
    let held: std::collections::BTreeSet<_> = app
        .client
        .transfers()
        .list_transfers(v1::ListTransfersRequest {
            account_id: account.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transfers
        .into_iter()
        .map(|t| t.provider_transfer_id)
        .collect();
    assert_eq!(held, at_alpaca, "each Alpaca transfer is one of ours");
    app.stop().await;
}

async fn plaids_planned_maintenance_on_the_exchange_is_retried_and_the_link_approved(
    backend: Backend,
) {
    let app = app(backend, 2_000).await;
    let maintenance = serde_json::json!({
        "error_type": "API_ERROR",
        "error_code": "PLANNED_MAINTENANCE",
        "error_message": "this product is currently undergoing planned maintenance",
        "display_message": null,
    });
    for (times, what) in [(2, "within the adapter's retries"), (6, "beyond them")] {
        let request = app.create_request().await;
        let before = app.provider_calls("POST", "/item/public_token/exchange");
        let issued = app.sandbox.issued_tokens().access_tokens.len();
        app.sandbox.inject_fault(
            Fault::new(Host::Plaid, "/item/public_token/exchange", 503)
                .body(maintenance.clone())
                .times(times),
        );
        let link = create_link_patiently(&app, request).await;
        let link = app
            .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
            .await;
        assert!(
            link.status_reason.is_empty(),
            "{what}: {}",
            link.status_reason
        );
        assert_eq!(
            app.provider_calls("POST", "/item/public_token/exchange") - before,
            times as usize + 1,
            "{what}: each maintenance answer, then one exchange that succeeded"
        );
        assert_eq!(
            app.sandbox.issued_tokens().access_tokens.len() - issued,
            1,
            "{what}: Plaid exchanged the public token once"
        );
    }
    app.stop().await;
}

funding_tests::on_both_backends!(
    plaids_planned_maintenance_on_the_exchange_is_retried_and_the_link_approved,
    a_deposit_whose_create_lands_after_a_504_is_adopted_not_sent_again,
    a_relationship_create_that_lands_after_a_504_is_adopted_not_sent_again,
    a_link_whose_last_attempt_reached_alpaca_is_adopted_not_failed,
    with_a_fee_a_dropped_answer_is_matched_on_the_requested_amount,
    with_gross_withdrawable_cash_a_second_withdrawal_that_would_overdraw_is_refused,
    with_pages_capped_at_two_a_lookup_still_finds_the_sixth_transfer,
    a_create_that_got_no_answer_waits_out_the_settle_window_before_it_is_sent_again,
    a_transfer_made_at_alpaca_by_no_request_of_ours_is_reported_as_an_orphan,
);
