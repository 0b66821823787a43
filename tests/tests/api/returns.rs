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
    assert_eq!(error_reason(&refused), "BANK_LINK_UNUSABLE", "{refused:?}");
    let events = audit(&app, &account_id).await;
    let unusable_events: Vec<_> = events
        .iter()
        .filter(|e| e.action == "bank_link.unusable")
        .collect();
    assert_eq!(unusable_events.len(), 1, "applied once: {events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "transfer.returned")
            .count(),
        1,
        "the return is recorded once: {events:?}"
    );
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
            ("transfer.returned".to_owned(), "service".to_owned()),
            ("account.frozen".to_owned(), "service".to_owned()),
            ("account.unfrozen".to_owned(), "anonymous".to_owned()),
        ],
        "the return, then the freeze it caused, once however often it was reported: {events:?}"
    );
    assert_eq!(events[0].resource, format!("transfers/{}", first.id));
    assert!(events[0].details_json.contains("R10"), "{:?}", events[0]);
    assert!(events[1].reason.contains("R10"), "{:?}", events[1]);
    assert!(events[1].details_json.contains(&first.id));
    assert_eq!(
        events[2].reason,
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
        return_it(&app, &deposit, "R01").await;
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

/// One seeded deposit: how old, its status, its return code.
struct Seeded {
    days_ago: i64,
    status: &'static str,
    code: Option<&'static str>,
}

/// A few hundred deposits of two accounts over 90 days: some never reached the network, some older
/// than the window, the rest complete or returned with codes of every category.
fn history() -> Vec<(usize, Seeded)> {
    let codes = [
        "R01", "R10", "R03", "R02", "R09", "R05", "R16", "R04", "R29", "R20", "R07", "R11",
    ];
    (0..360)
        .map(|i| {
            let account = i % 2;
            let days_ago = (i % 90) as i64;
            let (status, code) = match i % 9 {
                0 => ("RETURNED", Some(codes[(i / 9) % codes.len()])),
                1 => ("FAILED", None),
                2 => ("QUEUED", None),
                3 => ("SENT_TO_CLEARING", None),
                4 if i % 4 == 0 => ("RETURNED", Some("R10")),
                _ => ("COMPLETE", None),
            };
            (
                account,
                Seeded {
                    days_ago,
                    status,
                    code,
                },
            )
        })
        .collect()
}

/// The hand computation: (debits, returned, unauthorized, administrative) of the deposits the
/// filter keeps, over 60 days, by NACHA's categories written out here.
fn by_hand<'a>(seeded: impl Iterator<Item = &'a Seeded>) -> (i64, i64, i64, i64) {
    let unauthorized = ["R05", "R07", "R10", "R11", "R29", "R51"];
    let administrative = ["R02", "R03", "R04"];
    let mut counts = (0, 0, 0, 0);
    for deposit in seeded {
        let originated =
            ["SENT_TO_CLEARING", "APPROVED", "COMPLETE", "RETURNED"].contains(&deposit.status);
        if deposit.days_ago >= 60 || !originated {
            continue;
        }
        counts.0 += 1;
        if let Some(code) = deposit.code {
            counts.1 += 1;
            counts.2 += i64::from(unauthorized.contains(&code));
            counts.3 += i64::from(administrative.contains(&code));
        }
    }
    counts
}

async fn the_60_day_return_rates_match_a_hand_computation(backend: Backend) {
    use sea_orm::{ConnectionTrait as _, Database, Statement};
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (first_account, link) = app.approved_link().await;
    let accounts = [first_account.clone(), uuid::Uuid::new_v4().to_string()];
    let seeded = history();
    let db = Database::connect(&app.database_url).await.unwrap();
    let backend_kind = db.get_database_backend();
    let now = chrono::Utc::now();
    for (n, (account, deposit)) in seeded.iter().enumerate() {
        let at = now - chrono::Duration::days(deposit.days_ago) - chrono::Duration::minutes(5);
        let mut sql =
            "INSERT INTO transfers (id, caller, idempotency_key, account_id, bank_link_id, \
             relationship_id, amount, direction, status, status_reason, ach_return_code, \
             failure_code, provider_transfer_id, submit_requested_at, created_at, updated_at) \
             VALUES ($1, 'seed', $2, $3, $4, $5, '10.00', 'deposit', $6, NULL, $7, NULL, NULL, \
             NULL, $8, $8)"
                .to_owned();
        if backend_kind != sea_orm::DatabaseBackend::Postgres {
            sql = sql.replace('$', "?");
        }
        db.execute_raw(Statement::from_sql_and_values(
            backend_kind,
            sql,
            [
                uuid::Uuid::now_v7().into(),
                format!("seed-{n}").into(),
                uuid::Uuid::parse_str(&accounts[*account]).unwrap().into(),
                uuid::Uuid::parse_str(&link.id).unwrap().into(),
                uuid::Uuid::parse_str(&link.ach_relationship_id)
                    .unwrap()
                    .into(),
                deposit.status.into(),
                deposit.code.map(str::to_owned).into(),
                at.into(),
            ],
        ))
        .await
        .unwrap();
    }
    let _ = db.close().await;

    let rates = app
        .client
        .risk()
        .get_return_rates(v1::GetReturnRatesRequest {})
        .await
        .expect("GetReturnRates")
        .into_inner();
    let alpaca = rates.rails[0].rates.clone().unwrap();
    let (debits, returned, unauthorized, administrative) = by_hand(seeded.iter().map(|(_, d)| d));
    assert_eq!(
        (
            alpaca.debits,
            alpaca.returned,
            alpaca.unauthorized,
            alpaca.administrative
        ),
        (debits, returned, unauthorized, administrative)
    );
    assert!(debits > 100, "a few hundred seeded, {debits} in the window");
    assert_eq!(
        i64::from(alpaca.unauthorized_basis_points),
        unauthorized * 10_000 / debits
    );
    assert_eq!(
        i64::from(alpaca.overall_basis_points),
        returned * 10_000 / debits
    );
    let mut expected_over = Vec::new();
    if unauthorized * 10_000 / debits > 50 {
        expected_over.push("unauthorized");
    }
    if administrative * 10_000 / debits > 300 {
        expected_over.push("administrative");
    }
    if returned * 10_000 / debits > 1_500 {
        expected_over.push("overall");
    }
    assert_eq!(alpaca.ceilings_passed, expected_over);

    // One account's own, and what of it a return may still take back.
    let funding = app
        .client
        .risk()
        .get_account_funding(v1::GetAccountFundingRequest {
            account_id: accounts[1].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let own = funding.returns_60_days.unwrap();
    let (debits, returned, unauthorized, administrative) = by_hand(
        seeded
            .iter()
            .filter(|(account, _)| *account == 1)
            .map(|(_, d)| d),
    );
    assert_eq!(
        (
            own.debits,
            own.returned,
            own.unauthorized,
            own.administrative
        ),
        (debits, returned, unauthorized, administrative)
    );
    let complete_in_window = seeded
        .iter()
        .filter(|(account, d)| *account == 1 && d.status == "COMPLETE" && d.days_ago < 60)
        .count();
    assert_eq!(
        funding.in_return_window,
        format!("{}.00", complete_in_window * 10)
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    the_60_day_return_rates_match_a_hand_computation,
    an_r03_return_makes_the_link_unusable_and_cancels_it,
    an_r10_return_freezes_the_account_holds_what_is_unsent_and_an_unfreeze_releases_it,
    insufficient_funds_returns_send_the_links_next_deposit_to_review,
);
