//! Bank transfers on the Plaid processor rail, end to end over gRPC against the emulator: every rule
//! of `/processor/bank_transfer/create` refused at the door, the lifecycle to posted and reversed
//! with its history, exactly once per key (a dropped answer, an outage, 20 concurrent callers),
//! cancels, and webhooks: a genuine one brings the news at once, a forged, re-signed, stale or
//! altered one is refused and changes nothing.

use funding_client::v1::{self, BankTransferStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method};
use funding_tests::{AppOptions, Backend, TestApp, bad_request_fields, error_reason};

const CREATE_PATH: &str = "/processor/bank_transfer/create";
const SYNC_PATH: &str = "/bank_transfer/event/sync";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(AppOptions {
        backend,
        resume: true,
        ..AppOptions::default()
    })
    .await
}

type Breaker = Box<dyn Fn(&mut v1::CreateBankTransferRequest)>;

fn user(request: &mut v1::CreateBankTransferRequest) -> &mut v1::BankTransferUser {
    request.user.get_or_insert_with(Default::default)
}

async fn every_rule_of_the_endpoint_is_refused_at_the_door_and_each_boundary_accepted(
    backend: Backend,
) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    let cases: Vec<(&str, Breaker)> = vec![
        ("description", Box::new(|r| r.description = "a".repeat(11))),
        (
            "ach_class",
            Box::new(|r| {
                r.r#type = v1::BankTransferType::Credit.into();
                r.ach_class = v1::AchClass::Tel.into();
            }),
        ),
        (
            "ach_class",
            Box::new(|r| r.ach_class = v1::AchClass::Unspecified.into()),
        ),
        (
            "metadata",
            Box::new(|r| {
                r.metadata = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
            }),
        ),
        (
            "metadata",
            Box::new(|r| r.metadata = [("note".to_owned(), "café".to_owned())].into()),
        ),
        (
            "metadata",
            Box::new(|r| r.metadata = [("k".repeat(41), "v".to_owned())].into()),
        ),
        (
            "metadata",
            Box::new(|r| r.metadata = [("k".to_owned(), "v".repeat(501))].into()),
        ),
        ("custom_tag", Box::new(|r| r.custom_tag = "t".repeat(101))),
        ("amount", Box::new(|r| r.amount = "10.001".into())),
        (
            "iso_currency_code",
            Box::new(|r| r.iso_currency_code = "EUR".into()),
        ),
        (
            "user.routing_number",
            Box::new(|r| user(r).routing_number = "021000021".into()),
        ),
        (
            "idempotency_key",
            Box::new(|r| r.idempotency_key = "k".repeat(51)),
        ),
        (
            "user.email_address",
            Box::new(|r| user(r).email_address = "not-an-address".into()),
        ),
        (
            "user.legal_name",
            Box::new(|r| user(r).legal_name = String::new()),
        ),
    ];
    for (field, break_it) in &cases {
        let mut request = app.bank_transfer_request(&token, "10.00");
        break_it(&mut request);
        let status = app
            .create_bank_transfer(request)
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{field}: {status:?}"
        );
        let fields = bad_request_fields(&status);
        assert!(
            fields.iter().any(|named| named.starts_with(field)),
            "{field} not named in {fields:?}"
        );
        assert!(!status.message().contains(&token), "no secret in the error");
    }
    assert_eq!(
        app.provider_calls("POST", CREATE_PATH),
        0,
        "nothing reached Plaid"
    );
    assert_eq!(
        app.count_rows("bank_transfers").await,
        0,
        "nothing was written"
    );

    // Every boundary at once is accepted, and reaches Plaid as sent.
    let mut request = app.bank_transfer_request(&token, "10.00");
    request.description = "a".repeat(10);
    request.custom_tag = "t".repeat(100);
    request.idempotency_key = "k".repeat(50);
    request.metadata = (0..50)
        .map(|i| (format!("{i:0>40}"), "v".repeat(500)))
        .collect();
    let accepted = app
        .create_bank_transfer(request)
        .await
        .expect("every boundary value is accepted");
    assert_eq!(accepted.status(), BankTransferStatus::Pending);
    assert_eq!(accepted.metadata.len(), 50);
    assert_eq!(accepted.custom_tag.len(), 100);
    assert!(!accepted.provider_bank_transfer_id.is_empty());
    for (transfer_type, class) in [
        (v1::BankTransferType::Credit, v1::AchClass::Ppd),
        (v1::BankTransferType::Credit, v1::AchClass::Ccd),
        (v1::BankTransferType::Debit, v1::AchClass::Tel),
        (v1::BankTransferType::Debit, v1::AchClass::Ccd),
    ] {
        let mut request = app.bank_transfer_request(&token, "1.00");
        request.r#type = transfer_type.into();
        request.ach_class = class.into();
        app.create_bank_transfer(request)
            .await
            .unwrap_or_else(|status| panic!("{transfer_type:?} {class:?}: {status:?}"));
    }
    assert_eq!(app.bank_transfers_at_plaid().await.len(), 5);
    app.stop().await;
}

async fn a_debit_is_posted_then_reversed_with_r01_and_its_history_holds_every_event_once(
    backend: Backend,
) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    let request = app.bank_transfer_request(&token, "25.00");
    // Ids are stored as UUID values (a blob on SQLite): rows are found through the key.
    let ours = format!(
        "bank_transfer_id IN (SELECT id FROM bank_transfers WHERE idempotency_key = '{}')",
        request.idempotency_key
    );
    let created = app
        .create_bank_transfer(request)
        .await
        .expect("CreateBankTransfer");
    assert_eq!(created.status(), BankTransferStatus::Pending);
    assert!(created.cancellable);
    assert_eq!(created.amount, "25.00");
    assert_eq!(created.r#type(), v1::BankTransferType::Debit);
    assert_eq!(created.ach_class(), v1::AchClass::Web);
    assert_eq!(created.custom_tag, "funding-tests");
    assert_eq!(
        created.metadata.get("purpose").map(String::as_str),
        Some("test")
    );
    assert!(
        !created.user.as_ref().unwrap().routing_number.is_empty(),
        "Plaid's answer is shown"
    );

    app.simulate_bank_transfer(&created.id, "posted", "")
        .await
        .expect("simulate posted");
    let posted = app
        .wait_for_bank_transfer_status(&created.id, BankTransferStatus::Posted)
        .await;
    assert!(
        !posted.cancellable,
        "a posted transfer can no longer be cancelled"
    );
    app.simulate_bank_transfer(&created.id, "reversed", "R01")
        .await
        .expect("simulate reversed");
    let reversed = app
        .wait_for_bank_transfer_status(&created.id, BankTransferStatus::Reversed)
        .await;
    let failure = reversed.failure_reason.expect("a reversal says why");
    assert_eq!(failure.ach_return_code, "R01");
    assert!(
        failure
            .description
            .eq_ignore_ascii_case("Insufficient Funds"),
        "{}",
        failure.description
    );

    let condition = |status: &str| format!("{ours} AND status = '{status}'");
    for status in ["submitting", "pending", "posted", "reversed"] {
        assert_eq!(
            app.count_rows_where("bank_transfer_status_history", &condition(status))
                .await,
            1,
            "{status} is in the history once"
        );
    }
    // A replayed sync from the start changes nothing.
    app.execute(
        "UPDATE stream_cursors SET cursor = '0' WHERE stream = 'plaid:bank_transfer_events'",
    )
    .await;
    app.simulate_bank_transfer(&created.id, "reversed", "R01")
        .await
        .expect_err("reversed twice is off Plaid's lifecycle");
    let syncs = app.provider_calls("POST", SYNC_PATH);
    while app.provider_calls("POST", SYNC_PATH) < syncs + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let history = app
        .count_rows_where("bank_transfer_status_history", &ours)
        .await;
    assert_eq!(history, 4);
    app.stop().await;
}

async fn a_dropped_answer_is_resent_with_its_key_and_plaid_makes_one_transfer(backend: Backend) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Plaid, CREATE_PATH, 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect)
            .times(1),
    );
    let request = app.bank_transfer_request(&token, "30.00");
    let key = request.idempotency_key.clone();
    let created = app
        .create_bank_transfer(request)
        .await
        .expect("the resend answers the first transfer");
    assert_eq!(created.status(), BankTransferStatus::Pending);
    let at_plaid = app.bank_transfers_at_plaid().await;
    assert_eq!(at_plaid.len(), 1, "exactly one bank transfer at Plaid");
    assert_eq!(
        at_plaid[0]["id"],
        created.provider_bank_transfer_id.as_str()
    );
    // Two sends reached Plaid and made one transfer: the second carried the first one's key
    // (the emulator, like Plaid, answers a known key with the transfer it made).
    assert_eq!(
        app.provider_calls("POST", CREATE_PATH),
        2,
        "sent, dropped, sent again"
    );
    let _ = key;
    app.stop().await;
}

async fn a_create_accepted_while_plaid_is_down_is_sent_when_it_returns(backend: Backend) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    app.sandbox.inject_fault(
        Fault::new(Host::Plaid, CREATE_PATH, 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect)
            .times(8),
    );
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "31.00"))
        .await
        .expect("accepted durably although every answer is lost");
    let pending = app
        .wait_for_bank_transfer_status(&created.id, BankTransferStatus::Pending)
        .await;
    assert_eq!(pending.id, created.id);
    assert_eq!(app.bank_transfers_at_plaid().await.len(), 1);
    app.stop().await;
}

async fn twenty_concurrent_creates_with_one_key_make_one(backend: Backend) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    let request = app.bank_transfer_request(&token, "40.00");
    let answers =
        futures::future::join_all((0..20).map(|_| app.create_bank_transfer(request.clone()))).await;
    let ids: std::collections::BTreeSet<_> = answers
        .into_iter()
        .map(|answer| answer.expect("every caller gets the transfer").id)
        .collect();
    assert_eq!(ids.len(), 1, "one transfer for the key");
    assert_eq!(app.bank_transfers_at_plaid().await.len(), 1);
    assert_eq!(app.provider_calls("POST", CREATE_PATH), 1);

    let mut other = request.clone();
    other.amount = "41.00".into();
    let status = app
        .create_bank_transfer(other)
        .await
        .expect_err("another body");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert!(status.message().contains("amount"), "{}", status.message());
    app.stop().await;
}

/// Thirty-two callers create bank transfers at once, each posted by Plaid as soon as it is made, so
/// that events arrive while the others are still being submitted (every submit asks for the inbox
/// to be applied; one applier serves them all). With no periodic sync, only the webhooks and those
/// requests bring the events in: every create succeeds, every transfer is posted, and no event is
/// left pending. (The appliers that raced here deadlocked on PostgreSQL under the bench's load; the
/// store test of batches in opposite orders is the one that fails without the fix.)
async fn thirty_two_concurrent_creates_with_their_events_flowing_are_all_posted(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        plaid_sync_interval_ms: 600_000,
        ..AppOptions::default()
    })
    .await;
    let token = app.processor_token().await;
    let one = |n: usize| {
        let request = app.bank_transfer_request(&token, &format!("{}.00", 10 + n));
        let app = &app;
        async move {
            let created = app.create_bank_transfer(request).await?;
            app.simulate_bank_transfer(&created.id, "posted", "")
                .await?;
            Ok::<_, tonic::Status>(created.id)
        }
    };
    let answers = futures::future::join_all((0..32).map(one)).await;
    let ids: Vec<String> = answers
        .into_iter()
        .map(|answer| answer.expect("every create and its posting succeed"))
        .collect();
    for id in &ids {
        app.wait_for_bank_transfer_status(id, BankTransferStatus::Posted)
            .await;
    }
    assert_eq!(
        app.count_rows_where("bank_transfer_status_history", "status = 'posted'")
            .await,
        32
    );
    // The statuses can be read before the inbox's last events (ones that change nothing, such as
    // a late `pending`) are applied: those are applied asynchronously, within moments.
    let unapplied = "stream = 'plaid:bank_transfer_events' AND state <> 'applied'";
    for _ in 0..100 {
        if app.count_rows_where("inbox_events", unapplied).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count_rows_where("inbox_events", unapplied).await,
        0,
        "every event is applied"
    );
    app.stop().await;
}

async fn a_pending_transfer_is_cancelled_and_a_posted_one_is_not(backend: Backend) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "12.00"))
        .await
        .unwrap();
    let cancelled = app
        .client
        .bank_transfers()
        .cancel_bank_transfer(v1::CancelBankTransferRequest {
            id: created.id.clone(),
        })
        .await
        .expect("cancel")
        .into_inner()
        .bank_transfer
        .unwrap();
    assert_eq!(cancelled.status(), BankTransferStatus::Cancelled);
    assert!(!cancelled.cancellable);
    let at_plaid = app.bank_transfers_at_plaid().await;
    assert_eq!(at_plaid[0]["status"], "cancelled");
    // Again: the same answer, and Plaid is not asked twice.
    app.client
        .bank_transfers()
        .cancel_bank_transfer(v1::CancelBankTransferRequest {
            id: created.id.clone(),
        })
        .await
        .expect("a repeat of a done cancel");
    assert_eq!(app.provider_calls("POST", "/bank_transfer/cancel"), 1);

    let posted = app
        .create_bank_transfer(app.bank_transfer_request(&token, "13.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&posted.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&posted.id, BankTransferStatus::Posted)
        .await;
    let status = app
        .client
        .bank_transfers()
        .cancel_bank_transfer(v1::CancelBankTransferRequest {
            id: posted.id.clone(),
        })
        .await
        .expect_err("too late");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&status), "BANK_TRANSFER_NOT_CANCELLABLE");
    assert!(status.message().contains("posted"), "{}", status.message());
    assert_eq!(
        app.provider_calls("POST", "/bank_transfer/cancel"),
        1,
        "Plaid not asked"
    );
    app.stop().await;
}

async fn list_filters_by_date_origination_account_and_direction_and_pages(backend: Backend) {
    let app = app(backend).await;
    let token = app.processor_token().await;
    let mut ids = Vec::new();
    for amount in ["1.00", "2.00", "3.00"] {
        ids.push(
            app.create_bank_transfer(app.bank_transfer_request(&token, amount))
                .await
                .unwrap()
                .id,
        );
    }
    let list = |request: v1::ListBankTransfersRequest| async {
        app.client
            .bank_transfers()
            .list_bank_transfers(request)
            .await
            .map(|answer| answer.into_inner())
    };
    let first = list(v1::ListBankTransfersRequest {
        page_size: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(first.bank_transfers.len(), 2);
    let second = list(v1::ListBankTransfersRequest {
        page_size: 2,
        page_token: first.next_page_token.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let listed: Vec<_> = first
        .bank_transfers
        .iter()
        .chain(&second.bank_transfers)
        .map(|transfer| transfer.id.clone())
        .collect();
    assert_eq!(listed, ids, "oldest first, every one once");
    assert!(second.next_page_token.is_empty());
    let outbound = list(v1::ListBankTransfersRequest {
        direction: v1::BankTransferDirection::Outbound.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        outbound.bank_transfers.len(),
        3,
        "API-initiated transfers are outbound"
    );
    let inbound = list(v1::ListBankTransfersRequest {
        direction: v1::BankTransferDirection::Inbound.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(inbound.bank_transfers.is_empty());
    let elsewhere = list(v1::ListBankTransfersRequest {
        origination_account_id: "another-account".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(elsewhere.bank_transfers.is_empty());
    let future = list(v1::ListBankTransfersRequest {
        start_date: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + 3600,
            nanos: 0,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(future.bank_transfers.is_empty());
    let bad = list(v1::ListBankTransfersRequest {
        direction: 9,
        page_token: "not-a-token".into(),
        ..Default::default()
    })
    .await
    .expect_err("bad filters");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    app.stop().await;
}

/// A sync that reads more events than it stores in one transaction (ten 25-event pages and more,
/// stored 200 events at a time with the cursor they reach) stores and applies every one: nothing
/// is lost at a batch's edge or in the last, partial one.
async fn a_backlog_longer_than_one_stored_batch_is_stored_and_applied_whole(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        plaid_sync_interval_ms: 600_000,
        ..AppOptions::default()
    })
    .await;
    // No webhook while the backlog builds: one sync will read all of it.
    app.sandbox.set_plaid_webhook_url(None).unwrap();
    let token = app.processor_token().await;
    let mut ids = Vec::new();
    for chunk in 0..4 {
        let made = futures::future::join_all((0..25).map(|n| {
            let request = app.bank_transfer_request(&token, &format!("{}.00", 10 + chunk * 25 + n));
            let app = &app;
            async move {
                let created = app.create_bank_transfer(request).await?;
                app.simulate_bank_transfer(&created.id, "posted", "")
                    .await?;
                app.simulate_bank_transfer(&created.id, "reversed", "R01")
                    .await?;
                Ok::<_, tonic::Status>(created.id)
            }
        }))
        .await;
        ids.extend(
            made.into_iter()
                .map(|made| made.expect("created, posted, reversed")),
        );
    }
    let syncs_before = app.provider_calls("POST", SYNC_PATH);
    // One webhook (for one more transfer's event) starts the sync of the whole backlog.
    app.sandbox
        .set_plaid_webhook_url(Some(&app.webhook_url))
        .unwrap();
    let last = app
        .create_bank_transfer(app.bank_transfer_request(&token, "9.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&last.id, "posted", "")
        .await
        .unwrap();
    ids.push(last.id.clone());
    for id in &ids[..100] {
        app.wait_for_bank_transfer_status(id, BankTransferStatus::Reversed)
            .await;
    }
    app.wait_for_bank_transfer_status(&last.id, BankTransferStatus::Posted)
        .await;
    assert!(
        app.provider_calls("POST", SYNC_PATH) - syncs_before >= 12,
        "the backlog took more than ten pages"
    );
    assert_eq!(
        app.count_rows_where("bank_transfer_status_history", "status = 'reversed'")
            .await,
        100
    );
    assert_eq!(
        app.count_rows_where(
            "inbox_events",
            "stream = 'plaid:bank_transfer_events' AND state <> 'applied'"
        )
        .await,
        0,
        "every event is applied"
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    a_backlog_longer_than_one_stored_batch_is_stored_and_applied_whole,
    every_rule_of_the_endpoint_is_refused_at_the_door_and_each_boundary_accepted,
    a_debit_is_posted_then_reversed_with_r01_and_its_history_holds_every_event_once,
    a_dropped_answer_is_resent_with_its_key_and_plaid_makes_one_transfer,
    a_create_accepted_while_plaid_is_down_is_sent_when_it_returns,
    twenty_concurrent_creates_with_one_key_make_one,
    thirty_two_concurrent_creates_with_their_events_flowing_are_all_posted,
    a_pending_transfer_is_cancelled_and_a_posted_one_is_not,
    list_filters_by_date_origination_account_and_direction_and_pages,
);

// ---- webhooks ---------------------------------------------------------------------------------

/// An app that syncs Plaid's events only when a webhook asks (the periodic sync waits ten minutes).
async fn webhook_app() -> TestApp {
    TestApp::spawn_with(AppOptions {
        plaid_sync_interval_ms: 600_000,
        ..AppOptions::default()
    })
    .await
}

const WEBHOOK_BODY: &str = "{\n  \"webhook_type\": \"BANK_TRANSFERS\",\n  \"webhook_code\": \"BANK_TRANSFERS_EVENTS_UPDATE\",\n  \"environment\": \"sandbox\"\n}";

async fn post_webhook(app: &TestApp, header: Option<&str>, body: &str) -> u16 {
    let mut request = reqwest::Client::new()
        .post(&app.webhook_url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(header) = header {
        request = request.header("Plaid-Verification", header);
    }
    request
        .send()
        .await
        .expect("the listener answers")
        .status()
        .as_u16()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(body: &str, iat: i64) -> serde_json::Value {
    use sha2::Digest as _;
    serde_json::json!({
        "iat": iat,
        "request_body_sha256": hex::encode(sha2::Sha256::digest(body.as_bytes())),
    })
}

/// A JWT signed ES256 by a key of the test's own, under `kid`.
fn forged(kid: &str, body: &str) -> String {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("a key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims(body, now()),
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .expect("signed")
}

/// A JWT "signed" HS256 with a guessable secret, under `kid`.
fn resigned_hs256(kid: &str, body: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims(body, now()),
        &jsonwebtoken::EncodingKey::from_secret(kid.as_bytes()).expect("a secret"),
    )
    .expect("signed")
}

/// A JWT with `alg: none` and no signature.
fn unsigned(kid: &str, body: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"alg": "none", "kid": kid, "typ": "JWT"});
    format!(
        "{}.{}.",
        b64.encode(header.to_string()),
        b64.encode(claims(body, now()).to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_webhook_brings_the_status_without_the_periodic_sync() {
    let app = webhook_app().await;
    let token = app.processor_token().await;
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "50.00"))
        .await
        .unwrap();
    let syncs_before = app.provider_calls("POST", SYNC_PATH);
    app.simulate_bank_transfer(&created.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&created.id, BankTransferStatus::Posted)
        .await;
    assert!(
        app.provider_calls("POST", SYNC_PATH) > syncs_before,
        "a webhook-triggered sync brought it"
    );
    assert_eq!(
        app.provider_calls("POST", "/bank_transfer/get"),
        0,
        "not the reconciler"
    );
    let delivered = app.sandbox.webhook_deliveries();
    assert!(
        delivered
            .iter()
            .any(|delivery| delivery.url == app.webhook_url && delivery.status == Some(200)),
        "{delivered:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_resigned_stale_altered_or_expired_webhook_is_refused_and_changes_nothing() {
    let app = webhook_app().await;
    // Only the test sends webhooks here.
    app.sandbox.set_plaid_webhook_url(None).unwrap();
    let token = app.processor_token().await;
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "60.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&created.id, "posted", "")
        .await
        .unwrap();
    let kid = app.sandbox.webhook_key_id();
    let genuine = |iat: i64| {
        app.sandbox
            .sign_plaid_webhook(WEBHOOK_BODY.as_bytes(), iat)
            .unwrap()
    };
    let altered = WEBHOOK_BODY.replacen("  ", "   ", 1);
    let syncs_before = app.provider_calls("POST", SYNC_PATH);

    assert_eq!(
        post_webhook(&app, None, WEBHOOK_BODY).await,
        401,
        "no header"
    );
    assert_eq!(
        post_webhook(&app, Some("not.a.jwt"), WEBHOOK_BODY).await,
        401,
        "garbage"
    );
    assert_eq!(
        post_webhook(&app, Some(&forged(&kid, WEBHOOK_BODY)), WEBHOOK_BODY).await,
        401,
        "signed by another key under Plaid's kid"
    );
    assert_eq!(
        post_webhook(
            &app,
            Some(&resigned_hs256(&kid, WEBHOOK_BODY)),
            WEBHOOK_BODY
        )
        .await,
        401,
        "re-signed HS256"
    );
    assert_eq!(
        post_webhook(&app, Some(&unsigned(&kid, WEBHOOK_BODY)), WEBHOOK_BODY).await,
        401,
        "alg none"
    );
    assert_eq!(
        post_webhook(&app, Some(&genuine(now() - 6 * 60)), WEBHOOK_BODY).await,
        401,
        "six minutes old"
    );
    assert_eq!(
        post_webhook(&app, Some(&genuine(now())), &altered).await,
        401,
        "one byte of the body altered"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.provider_calls("POST", SYNC_PATH),
        syncs_before,
        "no refused webhook started a sync"
    );
    assert_eq!(
        app.get_bank_transfer(&created.id).await.status(),
        BankTransferStatus::Pending,
        "and nothing moved"
    );

    // The genuine article, signed by the current key, four minutes old: accepted, and it syncs.
    let fresh = app
        .sandbox
        .sign_plaid_webhook(WEBHOOK_BODY.as_bytes(), now() - 4 * 60)
        .unwrap();
    assert_eq!(post_webhook(&app, Some(&fresh), WEBHOOK_BODY).await, 200);
    app.wait_for_bank_transfer_status(&created.id, BankTransferStatus::Posted)
        .await;

    // Plaid rotates its key: once its new key has been seen, the old one (which the verifier had
    // cached as valid) is refused.
    let before_rotation = genuine(now());
    app.sandbox.rotate_webhook_key().unwrap();
    let rotated = app
        .sandbox
        .sign_plaid_webhook(WEBHOOK_BODY.as_bytes(), now())
        .unwrap();
    assert_eq!(post_webhook(&app, Some(&rotated), WEBHOOK_BODY).await, 200);
    assert_eq!(
        post_webhook(&app, Some(&before_rotation), WEBHOOK_BODY).await,
        401,
        "signed by a key Plaid has expired"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_webhook_and_no_sync_the_reconciler_still_brings_the_status() {
    let app = webhook_app().await;
    app.sandbox.set_plaid_webhook_url(None).unwrap();
    let token = app.processor_token().await;
    let created = app
        .create_bank_transfer(app.bank_transfer_request(&token, "70.00"))
        .await
        .unwrap();
    let syncs = app.provider_calls("POST", SYNC_PATH);
    app.simulate_bank_transfer(&created.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&created.id, BankTransferStatus::Posted)
        .await;
    assert_eq!(
        app.provider_calls("POST", SYNC_PATH),
        syncs,
        "no sync brought it"
    );
    assert!(
        app.provider_calls("POST", "/bank_transfer/get") >= 1,
        "the reconciler read it back"
    );
    app.stop().await;
}
