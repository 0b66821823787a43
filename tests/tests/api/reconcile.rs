//! The reconciler rotates through everything in flight (DESIGN §9): with 300 resources in flight of
//! which the 150 oldest never resolve at the provider, and a pass of 100, every one of the other 150
//! (resolved at the provider, their events never delivered) is reconciled within three passes —
//! transfers, bank links and Plaid bank transfers alike. Before, each pass took the 100 oldest and
//! a look that moved nothing left them the oldest, so the same 100 were read every pass and the rest
//! never. The passes run by hand ([`AppOptions::reconcile_by_hand`]), so the test counts passes,
//! never time. The ones that never resolve are counted as stuck (`unchanged`); an Alpaca account's
//! transfers are listed once a pass, not once per transfer, and that list serves every due transfer
//! of the account.

use std::time::Duration;

use funding_client::v1::{
    self, BankLinkStatus, BankTransferStatus, TransferDirection, TransferStatus,
};
use funding_core::ports::Unresolved;
use funding_sandbox::{Fault, Host};
use funding_tests::{AppOptions, Backend, TestApp};
use futures::StreamExt as _;

const IN_FLIGHT: usize = 300;
const NEVER_RESOLVING: usize = 150;
const PASS_SIZE: u32 = 100;
const PASSES: usize = 3;
/// Requests made at once while the resources are created.
const AT_ONCE: usize = 8;

/// The app; `approve_links`: relationships are approved at Alpaca at once (else they stay QUEUED
/// until the test moves them).
async fn app(backend: Backend, approve_links: bool) -> TestApp {
    TestApp::spawn_with(AppOptions {
        backend,
        reconcile_by_hand: true,
        reconcile_pass_size: PASS_SIZE,
        relationship_approval_delay_ms: if approve_links { 100 } else { 86_400_000 },
        // Plaid's events reach nobody (no webhook, no periodic sync).
        plaid_sync_interval_ms: 86_400_000,
        ..AppOptions::default()
    })
    .await
}

/// Alpaca's event stream and Plaid's event sync cut for good: only the reconciler can bring news.
fn cut_the_events(app: &TestApp) {
    app.sandbox
        .inject_fault(Fault::new(Host::Alpaca, "/v2/events", 500).times(1_000_000));
    app.sandbox.disconnect_streams();
    app.sandbox
        .inject_fault(Fault::new(Host::Plaid, "/bank_transfer/event/sync", 500).times(1_000_000));
    app.sandbox.set_plaid_webhook_url(None).unwrap();
}

/// Runs `make` for 0..count, `AT_ONCE` at a time, in order of completion.
async fn many<T, F>(count: usize, make: impl Fn(usize) -> F) -> Vec<T>
where
    F: Future<Output = T>,
{
    futures::stream::iter((0..count).map(make))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await
}

async fn transfers_that_never_resolve_starve_none_of_the_others(backend: Backend) {
    let app = app(backend, true).await;
    const ACCOUNTS: usize = 10;
    let links = many(ACCOUNTS, |_| app.approved_link()).await;
    cut_the_events(&app);
    // Every transfer stays QUEUED at Alpaca until the test moves it.
    app.sandbox
        .set_transfer_step_delay(Duration::from_secs(86_400));
    // The ones that never resolve first, so they are the oldest, on half of the accounts (an
    // account's list serves all of its due transfers, so healthy ones on the same accounts would
    // come with them); each account's creates one after another (one Alpaca create per account at
    // a time).
    let create = |count: usize, accounts: &'static [usize]| {
        let app = &app;
        let links = &links;
        async move {
            let per_account = count / accounts.len();
            let made: Vec<Vec<v1::Transfer>> = many(accounts.len(), |a| async move {
                let (account, link) = &links[accounts[a]];
                let mut made = Vec::new();
                for _ in 0..per_account {
                    let request =
                        app.transfer_request(account, link, "10.00", TransferDirection::Deposit);
                    let transfer = app.create_transfer(request).await.expect("CreateTransfer");
                    assert_eq!(transfer.status(), TransferStatus::Queued);
                    made.push(transfer);
                }
                made
            })
            .await;
            made.into_iter().flatten().collect::<Vec<_>>()
        }
    };
    let stuck = create(NEVER_RESOLVING, &[0, 1, 2, 3, 4]).await;
    let healthy = create(IN_FLIGHT - NEVER_RESOLVING, &[5, 6, 7, 8, 9]).await;
    // At Alpaca the healthy ones complete; their events never arrive.
    for transfer in &healthy {
        app.sandbox
            .set_transfer_status(
                transfer.provider_transfer_id.parse().unwrap(),
                "COMPLETE",
                None,
            )
            .unwrap();
    }

    let complete = || {
        app.count_rows_where(
            "transfers",
            "status = 'COMPLETE' AND id IN (SELECT transfer_id FROM transfer_status_history \
             WHERE source = 'reconciler' AND to_status = 'COMPLETE')",
        )
    };
    let mut last = None;
    for pass in 1..=PASSES {
        let report = app.reconcile_pass().await;
        let transfers = report.transfers.expect("the transfers' pass");
        assert!(
            transfers.lookups <= ACCOUNTS,
            "pass {pass}: each account listed once for all its due transfers, not once per \
             transfer: {transfers:?}"
        );
        eprintln!("pass {pass}: {transfers:?}; complete {}", complete().await);
        last = Some(transfers);
    }
    assert_eq!(
        complete().await,
        (IN_FLIGHT - NEVER_RESOLVING) as i64,
        "every healthy transfer reconciled within {PASSES} passes of {PASS_SIZE}"
    );
    for transfer in healthy.iter().step_by(15) {
        assert_eq!(
            app.get_transfer(&transfer.id).await.status(),
            TransferStatus::Complete
        );
    }
    for transfer in stuck.iter().step_by(15) {
        assert_eq!(
            app.get_transfer(&transfer.id).await.status(),
            TransferStatus::Queued
        );
    }
    let last = last.unwrap();
    assert_eq!(
        last.unresolved(Unresolved::Unchanged),
        NEVER_RESOLVING as u64,
        "the ones that never resolve are counted as stuck: {last:?}"
    );
    assert_eq!(last.unresolved(Unresolved::Missing), 0);
    assert_eq!(last.unresolved(Unresolved::LookupFailed), 0);
    app.stop().await;
}

async fn links_that_never_resolve_starve_none_of_the_others(backend: Backend) {
    let app = app(backend, false).await;
    cut_the_events(&app);
    let create = |count: usize| {
        let app = &app;
        async move {
            many(count, |_| async move {
                let link = app
                    .create_link(app.create_request().await)
                    .await
                    .expect("CreateBankLink");
                app.wait_for_link_status(&link.id, BankLinkStatus::Queued)
                    .await
            })
            .await
        }
    };
    let stuck = create(NEVER_RESOLVING).await;
    let healthy = create(IN_FLIGHT - NEVER_RESOLVING).await;
    for link in &healthy {
        app.sandbox
            .set_relationship_status(link.ach_relationship_id.parse().unwrap(), "APPROVED", None)
            .unwrap();
    }

    let approved = || {
        app.count_rows_where(
            "bank_links",
            "status = 'APPROVED' AND id IN (SELECT link_id FROM bank_link_status_history \
             WHERE source = 'reconciler' AND to_status = 'APPROVED')",
        )
    };
    let mut last = None;
    for pass in 1..=PASSES {
        let report = app.reconcile_pass().await;
        let links = report.links.expect("the links' pass");
        eprintln!("pass {pass}: {links:?}; approved {}", approved().await);
        last = Some(links);
    }
    assert_eq!(
        approved().await,
        (IN_FLIGHT - NEVER_RESOLVING) as i64,
        "every healthy link reconciled within {PASSES} passes of {PASS_SIZE}"
    );
    for link in stuck.iter().step_by(15) {
        assert_eq!(
            app.get_link(&link.id).await.status(),
            BankLinkStatus::Queued
        );
    }
    assert_eq!(
        last.unwrap().unresolved(Unresolved::Unchanged),
        NEVER_RESOLVING as u64
    );
    app.stop().await;
}

async fn bank_transfers_that_never_resolve_starve_none_of_the_others(backend: Backend) {
    let app = app(backend, false).await;
    cut_the_events(&app);
    let token = app.processor_token().await;
    let create = |count: usize| {
        let app = &app;
        let token = &token;
        async move {
            many(count, |_| async move {
                let transfer = app
                    .create_bank_transfer(app.bank_transfer_request(token, "10.00"))
                    .await
                    .expect("CreateBankTransfer");
                assert_eq!(transfer.status(), BankTransferStatus::Pending);
                transfer
            })
            .await
        }
    };
    let stuck = create(NEVER_RESOLVING).await;
    let healthy = create(IN_FLIGHT - NEVER_RESOLVING).await;
    let plaid_ids: Vec<String> = healthy
        .iter()
        .map(|transfer| transfer.provider_bank_transfer_id.clone())
        .collect();
    assert_eq!(
        app.sandbox
            .simulate_bank_transfers(&plaid_ids, "posted", None),
        plaid_ids.len()
    );

    let posted = || app.count_rows_where("bank_transfers", "status = 'posted'");
    let mut last = None;
    for pass in 1..=PASSES {
        let report = app.reconcile_pass().await;
        let bank_transfers = report.bank_transfers.expect("the bank transfers' pass");
        eprintln!("pass {pass}: {bank_transfers:?}; posted {}", posted().await);
        last = Some(bank_transfers);
    }
    assert_eq!(
        posted().await,
        (IN_FLIGHT - NEVER_RESOLVING) as i64,
        "every healthy bank transfer reconciled within {PASSES} passes of {PASS_SIZE}"
    );
    for transfer in stuck.iter().step_by(15) {
        assert_eq!(
            app.get_bank_transfer(&transfer.id).await.status(),
            BankTransferStatus::Pending
        );
    }
    assert_eq!(
        last.unwrap().unresolved(Unresolved::Unchanged),
        NEVER_RESOLVING as u64
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    transfers_that_never_resolve_starve_none_of_the_others,
    links_that_never_resolve_starve_none_of_the_others,
    bank_transfers_that_never_resolve_starve_none_of_the_others,
);
