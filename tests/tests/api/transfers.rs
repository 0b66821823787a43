//! Deposits and withdrawals on the Alpaca rail, end to end: the flows to COMPLETE and RETURNED,
//! exactly once per key, look-before-create after dropped answers, no overdraw, durable acceptance
//! through an outage, the reconciler behind a cut stream, cancels, and refusals that reach nobody.

use std::time::Duration;

use funding_client::v1::{self, TransferDirection, TransferStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp, bad_request_fields, error_reason};
use rust_decimal::Decimal;

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
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

fn account_uuid(account_id: &str) -> uuid::Uuid {
    account_id.parse().unwrap()
}

async fn a_deposit_reaches_complete(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let transfer = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "100.00",
            TransferDirection::Deposit,
        ))
        .await
        .expect("CreateTransfer");
    assert_eq!(transfer.amount, "100.00");
    assert_eq!(transfer.direction(), TransferDirection::Deposit);
    assert!(
        !transfer.provider_transfer_id.is_empty(),
        "submitted on the fast path"
    );
    let done = app
        .wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    assert_eq!(done.provider_transfer_id, transfer.provider_transfer_id);
    assert_eq!(transfers_at_alpaca(&app, &account).len(), 1);
    app.stop().await;
}

async fn a_withdrawal_reaches_complete(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_account_cash(account_uuid(&account), Decimal::new(50_000, 2));
    let transfer = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "120.00",
            TransferDirection::Withdrawal,
        ))
        .await
        .expect("CreateTransfer");
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    assert_eq!(
        app.sandbox.account(account_uuid(&account)).cash,
        Decimal::new(38_000, 2)
    );
    app.stop().await;
}

async fn a_forced_return_ends_returned_with_r01_and_its_description(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "25.00", TransferDirection::Deposit))
        .await
        .unwrap();
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    // Through SandboxService, as a caller in any language would.
    app.client
        .sandbox()
        .simulate_transfer(v1::SimulateTransferRequest {
            target: Some(v1::simulate_transfer_request::Target::TransferId(
                transfer.id.clone(),
            )),
            status: "RETURNED".into(),
            reason: String::new(),
            ach_return_code: "R01".into(),
        })
        .await
        .expect("SimulateTransfer");
    let returned = app
        .wait_for_transfer_status(&transfer.id, TransferStatus::Returned)
        .await;
    assert_eq!(returned.ach_return_code, "R01");
    assert_eq!(returned.ach_return_description, "Insufficient funds");
    assert!(returned.status_reason.contains("R01"));
    app.stop().await;
}

async fn twenty_concurrent_creates_with_one_key_make_one_transfer(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let request = app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit);
    let answers =
        futures::future::join_all((0..20).map(|_| app.create_transfer(request.clone()))).await;
    let answers: Vec<v1::Transfer> = answers
        .into_iter()
        .map(|answer| answer.expect("every caller gets the transfer"))
        .collect();
    let ids: std::collections::BTreeSet<String> = answers.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), 1, "one transfer for one key");
    // The same transfer, submitted once: each answer is it as it stood then (its status may have
    // moved on between two answers, nothing else).
    for answer in &answers {
        assert_eq!(answer.provider_transfer_id, answers[0].provider_transfer_id);
        assert!(!answer.provider_transfer_id.is_empty());
        assert_eq!(
            (answer.amount.as_str(), answer.direction()),
            ("10.00", TransferDirection::Deposit)
        );
        assert_eq!(answer.created_at, answers[0].created_at);
    }
    let id = ids.into_iter().next().unwrap();
    app.wait_for_transfer_status(&id, TransferStatus::Complete)
        .await;
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 1);
    assert_eq!(transfers_at_alpaca(&app, &account).len(), 1);
    app.stop().await;
}

/// A repeat is answered with the transfer its key made, even after the link was deleted: the key
/// is looked up before the link is checked, so a caller that retries after an ambiguous answer
/// learns its transfer exists instead of being told the link is gone; a new key over that link is
/// refused, and the same key with another amount is refused naming it.
async fn a_repeat_after_the_link_is_deleted_answers_the_transfer_its_key_made(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let request = app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit);
    let first = app.create_transfer(request.clone()).await.unwrap();
    app.client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap();
    app.wait_for_link_status(&link.id, v1::BankLinkStatus::Canceled)
        .await;

    let repeat = app.create_transfer(request.clone()).await.unwrap();
    assert_eq!(repeat.id, first.id);
    assert_eq!(repeat.provider_transfer_id, first.provider_transfer_id);
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 1);

    let fresh = app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit);
    let refused = app.create_transfer(fresh).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&refused), "BANK_LINK_NOT_APPROVED");

    let mut other = request;
    other.amount = "11.00".to_owned();
    let reused = app.create_transfer(other).await.unwrap_err();
    assert_eq!(reused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 1);
    app.stop().await;
}

async fn two_identical_deposits_both_dropped_after_the_effect_get_one_alpaca_transfer_each(
    backend: Backend,
) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, transfers_path(&account), 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect)
            .times(2),
    );
    let first = app.transfer_request(&account, &link, "40.00", TransferDirection::Deposit);
    let second = app.transfer_request(&account, &link, "40.00", TransferDirection::Deposit);
    let (a, b) = tokio::join!(app.create_transfer(first), app.create_transfer(second));
    let (a, b) = (a.expect("accepted durably"), b.expect("accepted durably"));
    assert_ne!(a.id, b.id);
    let a = app
        .wait_for_transfer_status(&a.id, TransferStatus::Complete)
        .await;
    let b = app
        .wait_for_transfer_status(&b.id, TransferStatus::Complete)
        .await;
    assert_ne!(
        a.provider_transfer_id, b.provider_transfer_id,
        "each matched to its own"
    );
    let made = transfers_at_alpaca(&app, &account);
    assert_eq!(made.len(), 2, "exactly two Alpaca transfers");
    assert!(made.contains(&a.provider_transfer_id) && made.contains(&b.provider_transfer_id));
    assert_eq!(
        app.provider_calls("POST", &transfers_path(&account)),
        2,
        "none sent blindly again"
    );
    app.stop().await;
}

async fn two_concurrent_withdrawals_never_overdraw(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .set_account_cash(account_uuid(&account), Decimal::new(10_000, 2));
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
    let (accepted, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!(accepted.len(), 1, "{accepted:?} {refused:?}");
    let status = refused.into_iter().next().unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(error_reason(&status), "INSUFFICIENT_WITHDRAWABLE_CASH");
    assert!(status.message().contains("40.00"), "{}", status.message());
    assert_eq!(app.provider_calls("POST", &transfers_path(&account)), 1);
    app.stop().await;
}

async fn requests_accepted_while_alpaca_is_down_are_submitted_when_it_returns(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Alpaca, transfers_path(&account), 503)
            .method(Method::POST)
            .times(3),
    );
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "15.00", TransferDirection::Deposit))
        .await
        .expect("accepted durably although Alpaca is down");
    assert_eq!(transfer.status(), TransferStatus::Submitting);
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    let made = app
        .sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == transfers_path(&account) && c.status == 200)
        .count();
    assert_eq!(made, 1, "submitted once it was back, nothing doubled");
    app.stop().await;
}

async fn with_the_event_stream_cut_the_reconciler_still_completes_a_transfer(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox
        .inject_fault(Fault::new(Host::Alpaca, "/v2/events", 500).times(100_000));
    app.sandbox.disconnect_streams();
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "30.00", TransferDirection::Deposit))
        .await
        .unwrap();
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    assert!(
        app.count_rows_where(
            "transfer_status_history",
            "source = 'reconciler' AND to_status = 'COMPLETE'"
        )
        .await
            >= 1
    );
    app.stop().await;
}

/// Found by the chaos run (seed 20261202, two replicas): a RETURNED event the stream never
/// delivered (held back behind newer ones, then the connection cut) left a transfer COMPLETE here
/// and RETURNED at Alpaca for good, because the reconciler only looked at transfers in flight.
async fn with_the_event_stream_cut_a_return_after_complete_still_arrives_through_the_reconciler(
    backend: Backend,
) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "35.00", TransferDirection::Deposit))
        .await
        .unwrap();
    let complete = app
        .wait_for_transfer_status(&transfer.id, TransferStatus::Complete)
        .await;
    app.sandbox
        .inject_fault(Fault::new(Host::Alpaca, "/v2/events", 500).times(100_000));
    app.sandbox.disconnect_streams();
    app.sandbox
        .set_transfer_status(
            complete.provider_transfer_id.parse().unwrap(),
            "RETURNED",
            Some("R01 insufficient funds".into()),
        )
        .unwrap();
    let returned = app
        .wait_for_transfer_status(&transfer.id, TransferStatus::Returned)
        .await;
    assert_eq!(returned.ach_return_code, "R01");
    assert!(
        app.count_rows_where(
            "transfer_status_history",
            "source = 'reconciler' AND from_status = 'COMPLETE' AND to_status = 'RETURNED'"
        )
        .await
            == 1
    );
    app.stop().await;
}

async fn a_queued_transfer_is_cancelled_through_alpaca_and_a_completed_one_cannot_be(
    backend: Backend,
) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    app.sandbox.set_transfer_step_delay(Duration::from_secs(30));
    let transfer = app
        .create_transfer(app.transfer_request(&account, &link, "20.00", TransferDirection::Deposit))
        .await
        .unwrap();
    assert_eq!(transfer.status(), TransferStatus::Queued);
    let asked = app
        .client
        .transfers()
        .cancel_transfer(v1::CancelTransferRequest {
            id: transfer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    assert_eq!(asked.status(), TransferStatus::Queued, "a DELETE only asks");
    app.wait_for_transfer_status(&transfer.id, TransferStatus::Canceled)
        .await;

    app.sandbox
        .set_transfer_step_delay(Duration::from_millis(50));
    let done = app
        .create_transfer(app.transfer_request(&account, &link, "21.00", TransferDirection::Deposit))
        .await
        .unwrap();
    app.wait_for_transfer_status(&done.id, TransferStatus::Complete)
        .await;
    let refused = app
        .client
        .transfers()
        .cancel_transfer(v1::CancelTransferRequest {
            id: done.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("COMPLETE"),
        "{}",
        refused.message()
    );
    app.stop().await;
}

async fn refused_requests_name_their_fault_and_reach_nobody(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let (other_account, other_link) = app.approved_link().await;

    let mut bad = app.transfer_request(&account, &link, "10.001", TransferDirection::Unspecified);
    bad.account_id = "nope".into();
    let status = app.create_transfer(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let fields = bad_request_fields(&status);
    for field in ["account_id", "amount", "direction"] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }

    let mut unknown = app.transfer_request(&account, &link, "10.00", TransferDirection::Deposit);
    unknown.bank_link_id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        app.create_transfer(unknown).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    let theirs = app.transfer_request(&account, &other_link, "10.00", TransferDirection::Deposit);
    assert_eq!(
        app.create_transfer(theirs).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    app.sandbox
        .set_relationship_approval_delay(Duration::from_secs(600));
    let request = app.create_request().await;
    let queued = app.create_link(request.clone()).await.unwrap();
    let not_approved = app.transfer_request(
        &request.account_id,
        &queued,
        "10.00",
        TransferDirection::Deposit,
    );
    let status = app.create_transfer(not_approved).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&status), "BANK_LINK_NOT_APPROVED");

    for account_id in [&account, &other_account, &request.account_id] {
        assert_eq!(app.provider_calls("POST", &transfers_path(account_id)), 0);
    }
    assert_eq!(app.count_rows("transfers").await, 0, "nothing was written");
    app.stop().await;
}

/// Reads the watch until the transfer `id` reaches `last` (bounded): the events, in order.
async fn watch_until(
    stream: &mut tonic::Streaming<v1::WatchTransfersResponse>,
    id: &str,
    last: TransferStatus,
) -> Vec<(String, TransferStatus)> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("an event in time")
            .expect("the watch goes on")
            .expect("the watch is open");
        let transfer = event.transfer.unwrap();
        if transfer.id != id {
            continue;
        }
        seen.push((event.event_id, transfer.status()));
        if transfer.status() == last {
            return seen;
        }
    }
}

async fn a_watcher_sees_every_status_in_order_and_a_resumed_one_exactly_the_rest(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    let mut watch = app
        .client
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account.clone(),
            after_event_id: String::new(),
            transfer_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let transfer = app
        .create_transfer(app.transfer_request(
            &account,
            &link,
            "100.00",
            TransferDirection::Deposit,
        ))
        .await
        .unwrap();
    let seen = watch_until(&mut watch, &transfer.id, TransferStatus::Complete).await;
    let statuses: Vec<TransferStatus> = seen.iter().map(|(_, status)| *status).collect();
    assert_eq!(
        statuses,
        vec![
            TransferStatus::Submitting,
            TransferStatus::Queued,
            TransferStatus::SentToClearing,
            TransferStatus::Complete
        ],
        "every status, in order"
    );
    let ids: Vec<i64> = seen.iter().map(|(id, _)| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    // Resumed after the second event: exactly the rest, from the beginning of the log this time.
    let mut resumed = app
        .client
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account.clone(),
            after_event_id: seen[1].0.clone(),
            transfer_id: transfer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let rest = watch_until(&mut resumed, &transfer.id, TransferStatus::Complete).await;
    assert_eq!(rest, seen[2..].to_vec());

    let bad = app
        .client
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account.clone(),
            after_event_id: "not-an-event".into(),
            transfer_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(bad_request_fields(&bad), vec!["after_event_id".to_owned()]);
    app.stop().await;
}

async fn a_watcher_too_slow_to_keep_up_is_ended_with_where_to_resume(backend: Backend) {
    let app = app(backend).await;
    let (account, link) = app.approved_link().await;
    // A client that reads nothing, with tiny HTTP/2 windows: the server's buffer (16 events in the
    // tests) fills instead of the transport's.
    let channel = tonic::transport::Endpoint::from_shared(app.address.clone())
        .unwrap()
        .initial_stream_window_size(Some(256))
        .initial_connection_window_size(Some(256))
        .connect()
        .await
        .unwrap();
    let mut slow = v1::transfer_service_client::TransferServiceClient::new(channel)
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account.clone(),
            after_event_id: "0".into(),
            transfer_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // 50 transfers, 200 changes: more than the server buffers for a watcher and than the
    // transport's own encoder buffers before it waits for the reader.
    let mut last = None;
    for _ in 0..50 {
        let transfer = app
            .create_transfer(app.transfer_request(
                &account,
                &link,
                "1.00",
                TransferDirection::Deposit,
            ))
            .await
            .unwrap();
        last = Some(transfer.id);
    }
    app.wait_for_transfer_status(&last.unwrap(), TransferStatus::Complete)
        .await;
    // Now read: the events it had room for, then the end, naming where to resume.
    let mut received = 0;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(20), slow.message())
            .await
            .expect("the stream answers")
        {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(error_reason(&status), "WATCHER_TOO_SLOW");
    let resume = funding_tests::error_metadata(&status, "resume_after_event_id").unwrap();
    // What it got before the end is the server's buffer plus what the transport had taken, which
    // varies with how the changes were committed (events now commit many at a time); a watcher
    // buffered without limit would get all 200.
    assert!(
        received < 100,
        "ended rather than buffered without limit ({received} events)"
    );
    // Resumed from there, it sees the rest, starting right after what it had.
    let mut again = app
        .client
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account.clone(),
            after_event_id: resume.clone(),
            transfer_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = tokio::time::timeout(Duration::from_secs(20), again.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        next.event_id.parse::<i64>().unwrap(),
        resume.parse::<i64>().unwrap() + 1,
        "no gap"
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_watcher_too_slow_to_keep_up_is_ended_with_where_to_resume,
    a_watcher_sees_every_status_in_order_and_a_resumed_one_exactly_the_rest,
    a_deposit_reaches_complete,
    a_withdrawal_reaches_complete,
    a_forced_return_ends_returned_with_r01_and_its_description,
    twenty_concurrent_creates_with_one_key_make_one_transfer,
    a_repeat_after_the_link_is_deleted_answers_the_transfer_its_key_made,
    two_identical_deposits_both_dropped_after_the_effect_get_one_alpaca_transfer_each,
    two_concurrent_withdrawals_never_overdraw,
    requests_accepted_while_alpaca_is_down_are_submitted_when_it_returns,
    with_the_event_stream_cut_the_reconciler_still_completes_a_transfer,
    with_the_event_stream_cut_a_return_after_complete_still_arrives_through_the_reconciler,
    a_queued_transfer_is_cancelled_through_alpaca_and_a_completed_one_cannot_be,
    refused_requests_name_their_fault_and_reach_nobody,
);
