//! Bank transfers on the Plaid processor rail: created once per idempotency key with their submit
//! work and first history entry; every request and Plaid field read back as it went in, the
//! processor token sealed; fenced writes of the submit work; Plaid's id held by one transfer only;
//! status moves conditional, recorded, and idempotent per Plaid event; reads page in creation order
//! with Plaid's list filters; the reconciler's query; and the inbox of Plaid's events with its
//! sync cursor.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use funding_core::model::BankTransfer;
use funding_core::ports::{
    BankTransferChange, BankTransferFailure, BankTransferFilter, BankTransferStore as _, Begin,
    Claim, IdempotencyClaim, InboxMark, InboxState, InboxStore as _, NewBankTransfer, NewWork,
    PLAID_BANK_TRANSFER_STREAM, PlaidAnswerSaved, PlaidBankTransfer, PlaidBankTransferEvent,
    StoreError, SyncedPlaidEvent, Unresolved, WorkKind, WorkQueue as _,
};
use funding_domain::PlaidBankTransferStatus::{
    self, Cancelled, Failed, Pending, Posted, Refused, Reversed, Submitting,
};
use funding_domain::{
    AchReturnCode, Amount, BankTransferDraft, BankTransferId, BankTransferRequest,
    BankTransferUserDraft, FundingBankTransferId,
};
use funding_store::{BANK_TRANSFER_STATUSES, Cipher, Store};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use uuid::Uuid;

use crate::support::{Backend, LEASE, ManualClock, TestDb, count, seconds, t0};

const CALLER: &str = "portfolio-service";
const OPERATION: &str = "CreateBankTransfer";
const PROCESSOR: &str = "processor-sandbox-0asd1-a92nc-5f3e4d9b1a7c";

/// Every field of the request given, or only the required ones.
fn draft(key: &str, amount: &str, origination: Option<&str>) -> BankTransferDraft {
    BankTransferDraft {
        idempotency_key: key.to_owned(),
        processor_token: PROCESSOR.to_owned(),
        transfer_type: "debit".to_owned(),
        network: "same-day-ach".to_owned(),
        amount: amount.to_owned(),
        iso_currency_code: "USD".to_owned(),
        description: "Deposit".to_owned(),
        ach_class: Some("web".to_owned()),
        user: BankTransferUserDraft {
            legal_name: "Jane Q. Doe-Smith".to_owned(),
            email_address: Some("jane@example.com".to_owned()),
            routing_number: None,
        },
        custom_tag: Some("tag \"quoted\" ünïcode".to_owned()),
        metadata: vec![
            ("order".to_owned(), "A-1".to_owned()),
            ("note".to_owned(), "line\nbreak, {json}".to_owned()),
        ],
        origination_account_id: origination.map(str::to_owned),
    }
}

fn bare_draft(key: &str) -> BankTransferDraft {
    BankTransferDraft {
        idempotency_key: key.to_owned(),
        processor_token: PROCESSOR.to_owned(),
        transfer_type: "credit".to_owned(),
        network: "wire".to_owned(),
        amount: "0.01".to_owned(),
        iso_currency_code: "USD".to_owned(),
        description: "Payout".to_owned(),
        ach_class: None,
        user: BankTransferUserDraft {
            legal_name: "John Smith".to_owned(),
            email_address: None,
            routing_number: None,
        },
        custom_tag: None,
        metadata: Vec::new(),
        origination_account_id: None,
    }
}

/// A new SUBMITTING bank transfer of `caller` for `draft`, created at `at`, with its claim; the
/// fingerprint names the amount, so that another payload under the same key has another one.
fn new_from(
    caller: &str,
    draft: &BankTransferDraft,
    at: DateTime<Utc>,
) -> (IdempotencyClaim, NewBankTransfer) {
    let request = BankTransferRequest::parse(draft).unwrap();
    let transfer = BankTransfer {
        id: FundingBankTransferId::generate(),
        caller: caller.to_owned(),
        request,
        status: Submitting,
        plaid: None,
        status_reason: None,
        failure_code: None,
        submit_requested_at: None,
        plaid_idempotency_key: None,
        created_at: at,
        updated_at: at,
    };
    let claim = IdempotencyClaim {
        caller: caller.to_owned(),
        operation: OPERATION,
        key: draft.idempotency_key.clone(),
        fingerprint: format!("{}:{}", draft.idempotency_key, draft.amount),
    };
    let work = NewWork {
        kind: WorkKind::BankTransferSubmit,
        subject_id: transfer.id.as_uuid(),
        ordering_key: None,
        max_attempts: 5,
    };
    (claim, NewBankTransfer { transfer, work })
}

async fn begin(store: &Store, claim: IdempotencyClaim, new: NewBankTransfer) -> BankTransfer {
    match store.begin_bank_transfer(claim, new).await.unwrap() {
        Begin::Created(transfer) => transfer,
        Begin::Existing { .. } => panic!("the key was used before"),
    }
}

async fn created(store: &Store, key: &str) -> BankTransfer {
    let (claim, new) = new_from(CALLER, &draft(key, "12.34", None), t0());
    begin(store, claim, new).await
}

/// Claims the `bank_transfer_submit` work `begin_bank_transfer` wrote: the fence of its writes.
async fn claim_submit(store: &Store, id: FundingBankTransferId) -> Claim {
    store
        .claim(WorkKind::BankTransferSubmit, id.as_uuid(), "owner", LEASE)
        .await
        .unwrap()
        .expect("the bank transfer's work is claimable")
        .claim
}

fn stale(claim: &Claim) -> Claim {
    Claim {
        generation: claim.generation + 1,
        ..claim.clone()
    }
}

fn change(
    from: PlaidBankTransferStatus,
    to: PlaidBankTransferStatus,
    event: Option<&str>,
    at: DateTime<Utc>,
) -> BankTransferChange {
    BankTransferChange {
        from,
        to,
        cancellable: false,
        failure: None,
        reason: None,
        failure_code: None,
        source: "plaid:event".to_owned(),
        event_id: event.map(str::to_owned),
        at,
    }
}

/// Plaid's answer to the create: PENDING and cancellable.
fn answered(at: DateTime<Utc>) -> BankTransferChange {
    BankTransferChange {
        cancellable: true,
        source: "plaid:create".to_owned(),
        ..change(Submitting, Pending, None, at)
    }
}

fn plaid_id() -> BankTransferId {
    BankTransferId::parse(&Uuid::new_v4().to_string()).unwrap()
}

/// Plaid's object with every field set.
fn plaid(
    id: &BankTransferId,
    origination: Option<&str>,
    direction: Option<&str>,
) -> PlaidBankTransfer {
    PlaidBankTransfer {
        id: id.clone(),
        ach_class: Some("web".to_owned()),
        account_id: "3MqrrrP5pWUGgmnvaQlPu19R6DvwPRHwNbLr9".to_owned(),
        transfer_type: "debit".to_owned(),
        user_legal_name: "Jane Q. Doe-Smith".to_owned(),
        user_email_address: Some("jane@example.com".to_owned()),
        user_routing_number: Some("011401533".to_owned()),
        amount: Amount::parse("12.34").unwrap().as_decimal(),
        iso_currency_code: "USD".to_owned(),
        description: "Deposit".to_owned(),
        created: t0() + seconds(1),
        status: Pending,
        network: "same-day-ach".to_owned(),
        cancellable: true,
        failure_reason: None,
        custom_tag: Some("tag \"quoted\" ünïcode".to_owned()),
        metadata: BTreeMap::from([
            ("note".to_owned(), "line\nbreak, {json}".to_owned()),
            ("order".to_owned(), "A-1".to_owned()),
        ]),
        origination_account_id: origination.map(str::to_owned),
        direction: direction.map(str::to_owned),
    }
}

/// Plaid's object with every optional field absent.
fn bare_plaid(id: &BankTransferId) -> PlaidBankTransfer {
    PlaidBankTransfer {
        ach_class: None,
        user_email_address: None,
        user_routing_number: None,
        custom_tag: None,
        metadata: BTreeMap::new(),
        origination_account_id: None,
        direction: None,
        ..plaid(id, None, None)
    }
}

/// Creates a bank transfer and stores Plaid's answer for it (PENDING at `at`).
async fn pending(store: &Store, key: &str, at: DateTime<Utc>) -> (BankTransfer, BankTransferId) {
    let transfer = created(store, key).await;
    let fence = claim_submit(store, transfer.id).await;
    let id = plaid_id();
    assert_eq!(
        store
            .save_plaid_answer(&fence, transfer.id, plaid(&id, None, None), answered(at))
            .await
            .unwrap(),
        PlaidAnswerSaved::Saved
    );
    (stored(store, transfer.id).await, id)
}

async fn stored(store: &Store, id: FundingBankTransferId) -> BankTransfer {
    store
        .get_bank_transfer(id)
        .await
        .unwrap()
        .expect("the bank transfer")
}

async fn history_count(db: &DatabaseConnection, id: FundingBankTransferId) -> i64 {
    count(
        db,
        "bank_transfer_status_history",
        Expr::col("bank_transfer_id").eq(id.as_uuid()),
    )
    .await
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn plaid_event(id: u64, transfer: &BankTransferId) -> SyncedPlaidEvent {
    let event = PlaidBankTransferEvent {
        event_id: id,
        timestamp: t0() + seconds(2),
        event_type: Posted,
        account_id: "3MqrrrP5pWUGgmnvaQlPu19R6DvwPRHwNbLr9".to_owned(),
        bank_transfer_id: transfer.clone(),
        origination_account_id: None,
        bank_transfer_type: "debit".to_owned(),
        bank_transfer_amount: Amount::parse("12.34").unwrap().as_decimal(),
        bank_transfer_iso_currency_code: "USD".to_owned(),
        failure_reason: None,
        direction: Some("inbound".to_owned()),
    };
    SyncedPlaidEvent::read(event)
}

/// Stores the events (the cursor at the largest) and parks them for lack of their subject.
async fn park(store: &Store, events: Vec<SyncedPlaidEvent>) {
    let ids: Vec<u64> = events.iter().filter_map(|event| event.event_id).collect();
    let after = ids.iter().copied().max().unwrap_or(0);
    store.store_plaid_events(events, after).await.unwrap();
    for id in ids {
        store
            .mark_event(
                PLAID_BANK_TRANSFER_STREAM,
                &id.to_string(),
                InboxState::ParkedNoSubject,
                None,
            )
            .await
            .unwrap();
    }
}

async fn pending_event_ids(store: &Store) -> Vec<u64> {
    store
        .pending_plaid_events(100)
        .await
        .unwrap()
        .into_iter()
        .map(|pending| pending.event.event_id)
        .collect()
}

#[test]
fn the_status_check_admits_exactly_the_domain_statuses() {
    let domain: Vec<&str> = PlaidBankTransferStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        BANK_TRANSFER_STATUSES.to_vec(),
        domain,
        "a new status needs a migration that widens the CHECK"
    );
    assert!(
        BANK_TRANSFER_STATUSES.contains(&"submitting")
            && BANK_TRANSFER_STATUSES.contains(&"refused")
    );
}

async fn a_new_key_creates_the_bank_transfer_as_given(db: &TestDb) {
    let store = db.store().await;
    let (claim, new) = new_from(CALLER, &draft("k", "12.34", None), t0());
    let given = new.transfer.clone();
    let transfer = begin(&store, claim, new).await;
    assert_eq!(micros(transfer.created_at), micros(t0()));
    assert_eq!(
        transfer,
        BankTransfer {
            created_at: transfer.created_at,
            updated_at: transfer.updated_at,
            ..given
        }
    );
    assert_eq!(stored(&store, transfer.id).await, transfer);
    assert_eq!(
        store
            .bank_transfer_history(transfer.id)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| (entry.status, entry.source, entry.event_id, micros(entry.at)))
            .collect::<Vec<_>>(),
        vec![(Submitting, "api:create".to_owned(), None, micros(t0()))],
        "its first history entry"
    );
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind")
                .eq(WorkKind::BankTransferSubmit.as_str())
                .and(Expr::col("subject_id").eq(transfer.id.as_uuid()))
        )
        .await,
        1,
        "its submit work is written with it"
    );
    assert_eq!(
        count(
            &raw,
            "idempotency_records",
            Expr::col("operation").eq(OPERATION)
        )
        .await,
        1
    );
}

async fn every_request_and_plaid_field_round_trips(db: &TestDb) {
    let store = db.store().await;
    let raw = db.raw().await;
    // Every field given, amounts at both ends; then only the required ones.
    let mut drafts = Vec::new();
    for (key, amount) in [("a", "12.34"), ("b", "0.01"), ("c", "10000000.00")] {
        drafts.push(draft(key, amount, Some("orig_1-A")));
    }
    drafts.push(bare_draft("bare"));
    for given in drafts {
        let (claim, new) = new_from(CALLER, &given, t0());
        let expected = new.transfer.request.clone();
        let transfer = begin(&store, claim, new).await;
        let back = stored(&store, transfer.id).await.request;
        assert_eq!(back, expected);
        assert_eq!(back.to_draft(), expected.to_draft());
        assert_eq!(
            back.amount().to_string(),
            given.amount,
            "the amount is exact"
        );
        assert_eq!(back.processor_token().expose_secret(), PROCESSOR);
        let query = Query::select()
            .column("request")
            .from("bank_transfers")
            .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
            .to_owned();
        let row = raw.query_one(&query).await.unwrap().unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&row.try_get::<String>("", "request").unwrap()).unwrap();
        assert_eq!(
            json["amount"],
            given.amount.as_str(),
            "kept as the decimal string"
        );
        assert!(json.get("processor_token").is_none());
    }
    let bare = BankTransferRequest::parse(&bare_draft("x")).unwrap();
    assert!(bare.metadata().is_none() && bare.custom_tag().is_none());

    // Plaid's object, every field, and with every optional field absent.
    for (key, answer) in [
        (
            "p1",
            plaid(&plaid_id(), Some("orig_plaid"), Some("inbound")),
        ),
        ("p2", bare_plaid(&plaid_id())),
    ] {
        let transfer = created(&store, key).await;
        let fence = claim_submit(&store, transfer.id).await;
        let at = t0() + seconds(5);
        let moved = BankTransferChange {
            cancellable: false,
            ..answered(at)
        };
        assert_eq!(
            store
                .save_plaid_answer(&fence, transfer.id, answer.clone(), moved)
                .await
                .unwrap(),
            PlaidAnswerSaved::Saved
        );
        let back = stored(&store, transfer.id).await;
        assert_eq!(back.status, Pending);
        assert_eq!(micros(back.updated_at), micros(at));
        let plaid = back.plaid.clone().expect("Plaid's object");
        assert_eq!(
            plaid,
            PlaidBankTransfer {
                cancellable: false,
                ..answer.clone()
            },
            "as saved, `cancellable` from the move"
        );
        assert_eq!(plaid.amount.to_string(), "12.34");
        assert_eq!(back.provider_id(), Some(&answer.id));
        assert!(!back.cancellable());
        assert_eq!(
            store
                .find_bank_transfer_by_plaid_id(&answer.id)
                .await
                .unwrap(),
            Some(back)
        );
    }
}

async fn the_processor_token_is_not_stored_in_plaintext(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let raw = db.raw().await;
    let query = Query::select()
        .columns(["processor_token", "request"])
        .from("bank_transfers")
        .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
        .to_owned();
    let row = raw.query_one(&query).await.unwrap().unwrap();
    let sealed: Vec<u8> = row.try_get("", "processor_token").unwrap();
    let request: String = row.try_get("", "request").unwrap();
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    };
    assert!(
        !contains(&sealed, PROCESSOR.as_bytes()),
        "the column is plaintext"
    );
    assert!(!contains(&sealed, b"0asd1"));
    assert_eq!(
        sealed.len(),
        2 + 8 + 24 + PROCESSOR.len() + 16,
        "version, key id length, key id, nonce, text, tag"
    );
    assert!(
        !request.contains("0asd1"),
        "the request's JSON holds the token"
    );
    assert!(request.contains("Jane Q. Doe-Smith"));

    match db.backend {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for file in db.sqlite_files() {
                if let Ok(content) = std::fs::read(&file) {
                    bytes.extend(content);
                }
            }
            assert!(
                contains(&bytes, b"Jane Q. Doe-Smith"),
                "the search does see what is stored in clear"
            );
            assert!(!contains(&bytes, b"0asd1"), "the token is in the file");
        }
        Backend::Postgres => {
            for sql in [
                "SELECT COUNT(*) FROM bank_transfers WHERE position(convert_to($1, 'UTF8') in processor_token) > 0",
                "SELECT COUNT(*) FROM bank_transfers WHERE position($1 in request) > 0",
                "SELECT COUNT(*) FROM bank_transfer_status_history WHERE position($1 in source) > 0",
            ] {
                let row = raw
                    .query_one_raw(sea_orm::Statement::from_sql_and_values(
                        sea_orm::DatabaseBackend::Postgres,
                        sql,
                        ["0asd1".into()],
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0, "{sql}");
            }
        }
    }

    // Another key cannot open it: the row reads as corrupt, without the token in the error.
    let stranger = db.store_with(Cipher::generate()).await;
    match stranger.get_bank_transfer(transfer.id).await {
        Err(StoreError::Corrupt(message)) => assert!(!message.contains("0asd1")),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

async fn a_row_the_domain_would_refuse_is_corrupt(db: &TestDb) {
    let store = db.store().await;
    let raw = db.raw().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    let original = {
        let query = Query::select()
            .column("request")
            .from("bank_transfers")
            .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
            .to_owned();
        let row = raw.query_one(&query).await.unwrap().unwrap();
        row.try_get::<String>("", "request").unwrap()
    };
    let set = |column: &'static str, value: String| {
        Query::update()
            .table("bank_transfers")
            .value(column, value)
            .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
            .to_owned()
    };
    for (column, value) in [
        ("request", original.replace("\"12.34\"", "\"12.345\"")),
        (
            "request",
            original.replace("\"idempotency_key\":\"k\"", "\"idempotency_key\":\"other\""),
        ),
        ("request", "not json".to_owned()),
        ("plaid", "{\"id\":\"x\"}".to_owned()),
    ] {
        raw.execute(&set(column, value)).await.unwrap();
        assert!(
            matches!(
                store.get_bank_transfer(transfer.id).await,
                Err(StoreError::Corrupt(_))
            ),
            "{column}"
        );
        raw.execute(&set("request", original.clone()))
            .await
            .unwrap();
    }
}

async fn twenty_concurrent_begins_with_one_key_create_exactly_one_bank_transfer(db: &TestDb) {
    let store = db.store().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let (claim, new) = new_from(CALLER, &draft("race-key", "12.34", None), t0());
            tokio::spawn(async move { store.begin_bank_transfer(claim, new).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for outcome in futures::future::join_all(tasks).await {
        match outcome
            .expect("task")
            .expect("no task fails, none sees SQLITE_BUSY")
        {
            Begin::Created(transfer) => created.push(transfer),
            Begin::Existing {
                fingerprint,
                resource,
            } => {
                assert_eq!(fingerprint, "race-key:12.34");
                existing.push(resource);
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one Created");
    assert_eq!(existing.len(), 19);
    assert!(existing.iter().all(|transfer| *transfer == created[0]));
    let raw = db.raw().await;
    assert_eq!(count(&raw, "bank_transfers", Expr::value(true)).await, 1);
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind").eq(WorkKind::BankTransferSubmit.as_str())
        )
        .await,
        1,
        "one work item"
    );
    assert_eq!(
        count(&raw, "bank_transfer_status_history", Expr::value(true)).await,
        1
    );

    // Another payload under the key: the first request's fingerprint and transfer come back, and
    // nothing is written.
    let (claim, new) = new_from(CALLER, &draft("race-key", "5.00", None), t0());
    match store.begin_bank_transfer(claim, new).await.unwrap() {
        Begin::Existing {
            fingerprint,
            resource,
        } => {
            assert_eq!(fingerprint, "race-key:12.34");
            assert_eq!(resource, created[0]);
        }
        Begin::Created(_) => panic!("the key was used"),
    }
    assert_eq!(count(&raw, "bank_transfers", Expr::value(true)).await, 1);
    assert_eq!(
        count(&raw, "bank_transfer_status_history", Expr::value(true)).await,
        1
    );
    // The same key of another caller is another transfer.
    let (claim, new) = new_from("other-service", &draft("race-key", "12.34", None), t0());
    begin(&store, claim, new).await;
    assert_eq!(count(&raw, "bank_transfers", Expr::value(true)).await, 2);
}

async fn fenced_writes_are_refused_with_a_stale_claim(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let stale = stale(&fence);
    assert!(matches!(
        store
            .mark_bank_transfer_submit_requested(&stale, transfer.id, t0() + seconds(1))
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store
            .save_plaid_answer(
                &stale,
                transfer.id,
                plaid(&plaid_id(), None, None),
                answered(t0())
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    let mut refusing = change(Submitting, Refused, None, t0() + seconds(1));
    refusing.reason = Some("limit exceeded".to_owned());
    assert!(matches!(
        store
            .refuse_bank_transfer(&stale, transfer.id, refusing)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(
        stored(&store, transfer.id).await,
        transfer,
        "nothing changed"
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // A claim whose lease ran out is stale too, even with the right generation.
    let expired = store
        .claim(
            WorkKind::BankTransferSubmit,
            created(&store, "k2").await.id.as_uuid(),
            "owner",
            std::time::Duration::from_millis(1),
        )
        .await
        .unwrap()
        .expect("claimable");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let id = FundingBankTransferId::from_uuid(expired.subject_id);
    assert!(matches!(
        store
            .mark_bank_transfer_submit_requested(&expired.claim, id, t0())
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, id).await.submit_requested_at, None);
}

async fn the_first_submit_request_is_kept_and_only_while_submitting(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let first = t0() + seconds(2);
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, first)
            .await
            .unwrap()
    );
    let marked = stored(&store, transfer.id).await;
    assert_eq!(marked.submit_requested_at.map(micros), Some(micros(first)));
    assert_eq!(micros(marked.updated_at), micros(first));
    // A resend after an unknown outcome: the first time stays.
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, t0() + seconds(9))
            .await
            .unwrap()
    );
    assert_eq!(
        stored(&store, transfer.id)
            .await
            .submit_requested_at
            .map(micros),
        Some(micros(first))
    );

    // No longer SUBMITTING: nothing may be sent, and nothing changes.
    let mut refusing = change(Submitting, Refused, None, t0() + seconds(10));
    refusing.source = "plaid:create".to_owned();
    assert!(
        store
            .refuse_bank_transfer(&fence, transfer.id, refusing)
            .await
            .unwrap()
    );
    let before = stored(&store, transfer.id).await;
    assert!(
        !store
            .mark_bank_transfer_submit_requested(&fence, transfer.id, t0() + seconds(11))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, before);
}

async fn saving_plaids_answer_moves_the_transfer_and_unparks_its_events(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let ours = plaid_id();
    let stranger = plaid_id();
    // Events that arrived before the create's answer was stored, and one of another Plaid
    // transfer, which stays parked.
    park(
        &store,
        vec![
            plaid_event(7, &ours),
            plaid_event(8, &stranger),
            plaid_event(12, &ours),
        ],
    )
    .await;
    assert!(pending_event_ids(&store).await.is_empty());
    let fence = claim_submit(&store, transfer.id).await;

    let at = t0() + seconds(5);
    let answer = plaid(&ours, Some("orig_plaid"), Some("inbound"));
    assert_eq!(
        store
            .save_plaid_answer(&fence, transfer.id, answer.clone(), answered(at))
            .await
            .unwrap(),
        PlaidAnswerSaved::Saved
    );
    let saved = stored(&store, transfer.id).await;
    assert_eq!(saved.status, Pending);
    assert!(saved.cancellable());
    assert_eq!(saved.plaid, Some(answer));
    assert_eq!(micros(saved.updated_at), micros(at));
    assert_eq!(
        store.find_bank_transfer_by_plaid_id(&ours).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        store
            .find_bank_transfer_by_plaid_id(&stranger)
            .await
            .unwrap(),
        None
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);
    assert_eq!(
        pending_event_ids(&store).await,
        vec![7, 12],
        "only the events parked for that Plaid transfer"
    );
    // Plaid's origination account and direction, for listing, since the request named none.
    let (listed, _) = store
        .list_bank_transfers(
            CALLER,
            BankTransferFilter {
                origination_account_id: Some("orig_plaid".to_owned()),
                direction: Some("inbound".to_owned()),
                ..BankTransferFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed, vec![saved.clone()]);

    // No longer SUBMITTING: another answer is refused, and nothing changes.
    assert_eq!(
        store
            .save_plaid_answer(
                &fence,
                transfer.id,
                plaid(&plaid_id(), None, None),
                answered(at)
            )
            .await
            .unwrap(),
        PlaidAnswerSaved::NotSubmitting
    );
    assert_eq!(stored(&store, transfer.id).await, saved);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    // The request's origination account is kept when Plaid names another.
    let (claim, new) = new_from(CALLER, &draft("named", "1.00", Some("orig_request")), t0());
    let named = begin(&store, claim, new).await;
    let fence = claim_submit(&store, named.id).await;
    store
        .save_plaid_answer(
            &fence,
            named.id,
            plaid(&plaid_id(), Some("orig_plaid"), Some("outbound")),
            answered(at),
        )
        .await
        .unwrap();
    let by_origination = |origination: &str| BankTransferFilter {
        origination_account_id: Some(origination.to_owned()),
        ..BankTransferFilter::default()
    };
    let (listed, _) = store
        .list_bank_transfers(CALLER, by_origination("orig_request"), 10, None)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![named.id]
    );
    let (listed, _) = store
        .list_bank_transfers(CALLER, by_origination("orig_plaid"), 10, None)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![transfer.id]
    );
}

async fn plaids_id_held_by_another_transfer_is_refused(db: &TestDb) {
    let store = db.store().await;
    let (first, ours) = pending(&store, "first", t0()).await;
    let second = created(&store, "second").await;
    let fence = claim_submit(&store, second.id).await;
    assert_eq!(
        store
            .save_plaid_answer(&fence, second.id, plaid(&ours, None, None), answered(t0()))
            .await
            .unwrap(),
        PlaidAnswerSaved::HeldByAnother
    );
    assert_eq!(stored(&store, second.id).await, second, "nothing written");
    assert_eq!(history_count(&db.raw().await, second.id).await, 1);
    assert_eq!(
        store
            .find_bank_transfer_by_plaid_id(&ours)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(first.id)
    );
}

async fn eight_concurrent_saves_of_one_plaid_id_save_exactly_one(db: &TestDb) {
    let store = db.store().await;
    let mut claimed = Vec::new();
    for i in 0..8 {
        let transfer = created(&store, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        claimed.push((transfer.id, fence));
    }
    let ours = plaid_id();
    let tasks: Vec<_> = claimed
        .into_iter()
        .map(|(id, fence)| {
            let store = store.clone();
            let answer = plaid(&ours, None, None);
            tokio::spawn(async move {
                store
                    .save_plaid_answer(&fence, id, answer, answered(t0()))
                    .await
            })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no save fails"))
        .collect();
    let saved = |what: PlaidAnswerSaved| outcomes.iter().filter(|o| **o == what).count();
    assert_eq!(saved(PlaidAnswerSaved::Saved), 1, "{outcomes:?}");
    assert_eq!(saved(PlaidAnswerSaved::HeldByAnother), 7, "{outcomes:?}");
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "bank_transfers",
            Expr::col("plaid_bank_transfer_id").eq(ours.as_str())
        )
        .await,
        1
    );
    assert_eq!(
        count(&raw, "bank_transfers", Expr::col("status").eq("submitting")).await,
        7
    );
    assert_eq!(
        count(&raw, "bank_transfer_status_history", Expr::value(true)).await,
        8 + 1
    );
}

async fn a_refused_transfer_ends_refused_once(db: &TestDb) {
    let store = db.store().await;
    let transfer = created(&store, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let refusing = BankTransferChange {
        reason: Some("the transfer exceeds the limit".to_owned()),
        failure_code: Some("plaid/invalid_input/BANK_TRANSFER_LIMIT_EXCEEDED".to_owned()),
        source: "plaid:create".to_owned(),
        ..change(Submitting, Refused, None, t0() + seconds(5))
    };
    assert!(
        store
            .refuse_bank_transfer(&fence, transfer.id, refusing.clone())
            .await
            .unwrap()
    );
    let refused = stored(&store, transfer.id).await;
    assert_eq!(refused.status, Refused);
    assert_eq!(
        refused.status_reason.as_deref(),
        Some("the transfer exceeds the limit")
    );
    assert_eq!(
        refused.failure_code.as_deref(),
        Some("plaid/invalid_input/BANK_TRANSFER_LIMIT_EXCEEDED")
    );
    assert_eq!(refused.plaid, None);
    let history = store.bank_transfer_history(transfer.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].status, Refused);
    assert_eq!(
        history[1].description.as_deref(),
        Some("the transfer exceeds the limit")
    );

    // Already ended: nothing moves.
    assert!(
        !store
            .refuse_bank_transfer(&fence, transfer.id, refusing)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, refused);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    // Only REFUSED, and only from SUBMITTING.
    let other = created(&store, "k2").await;
    let fence = claim_submit(&store, other.id).await;
    assert!(
        store
            .refuse_bank_transfer(&fence, other.id, change(Submitting, Failed, None, t0()))
            .await
            .is_err()
    );
    assert!(
        store
            .refuse_bank_transfer(&fence, other.id, change(Pending, Refused, None, t0()))
            .await
            .is_err()
    );
    assert_eq!(stored(&store, other.id).await.status, Submitting);
}

fn local_cancel(at: DateTime<Utc>) -> BankTransferChange {
    BankTransferChange {
        source: "api:cancel".to_owned(),
        ..change(Submitting, Cancelled, None, at)
    }
}

async fn an_unsent_bank_transfer_is_cancelled_and_a_sent_one_is_not(db: &TestDb) {
    let store = db.store().await;
    let unsent = created(&store, "unsent").await;
    assert!(
        store
            .cancel_unsent_bank_transfer(unsent.id, local_cancel(t0() + seconds(1)))
            .await
            .unwrap()
    );
    let cancelled = stored(&store, unsent.id).await;
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(history_count(&db.raw().await, unsent.id).await, 2);
    assert!(
        !store
            .cancel_unsent_bank_transfer(unsent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, unsent.id).await, cancelled);

    let sent = created(&store, "sent").await;
    let fence = claim_submit(&store, sent.id).await;
    assert!(
        store
            .mark_bank_transfer_submit_requested(&fence, sent.id, t0() + seconds(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_unsent_bank_transfer(sent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap(),
        "its create may have reached Plaid"
    );
    assert_eq!(stored(&store, sent.id).await.status, Submitting);
    assert_eq!(history_count(&db.raw().await, sent.id).await, 1);
    // Only to CANCELLED.
    assert!(
        store
            .cancel_unsent_bank_transfer(
                created(&store, "third").await.id,
                change(Submitting, Failed, None, t0())
            )
            .await
            .is_err()
    );
}

async fn a_cancel_racing_the_submit_request_lets_exactly_one_win(db: &TestDb) {
    let store = db.store().await;
    for i in 0..8 {
        let transfer = created(&store, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        let (marking, cancelling) = (store.clone(), store.clone());
        let id = transfer.id;
        let marked = tokio::spawn(async move {
            marking
                .mark_bank_transfer_submit_requested(&fence, id, t0() + seconds(1))
                .await
        });
        let cancelled = tokio::spawn(async move {
            cancelling
                .cancel_unsent_bank_transfer(id, local_cancel(t0()))
                .await
        });
        let marked = marked.await.unwrap().unwrap();
        let cancelled = cancelled.await.unwrap().unwrap();
        assert!(
            marked != cancelled,
            "exactly one of them: {marked} {cancelled}"
        );
        let after = stored(&store, id).await;
        if marked {
            assert_eq!(after.status, Submitting);
            assert!(after.submit_requested_at.is_some());
        } else {
            assert_eq!(after.status, Cancelled);
            assert_eq!(after.submit_requested_at, None);
        }
    }
}

/// A batch of Plaid event moves and their inbox marks commits as one: when one move finds its
/// transfer elsewhere, nothing of the batch is written (the applier then applies the events one by
/// one); otherwise every move, history row and mark is there.
async fn a_batch_of_plaid_event_moves_is_written_whole_or_not_at_all(db: &TestDb) {
    let store = db.store().await;
    let (a, plaid_a) = pending(&store, "a", t0()).await;
    let (b, plaid_b) = pending(&store, "b", t0()).await;
    store
        .store_plaid_events(
            vec![
                plaid_event(201, &plaid_a),
                plaid_event(202, &plaid_a),
                plaid_event(203, &plaid_b),
            ],
            203,
        )
        .await
        .unwrap();
    let marks = || {
        [201, 202, 203]
            .map(|id| InboxMark {
                stream: PLAID_BANK_TRANSFER_STREAM.to_owned(),
                event_id: id.to_string(),
                state: InboxState::Applied,
                error: None,
            })
            .to_vec()
    };
    let raw = db.raw().await;

    // B is not posted: the whole batch is refused, A's two good moves included.
    let refused = vec![
        (
            a.id,
            change(Pending, Posted, Some("201"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Posted, Reversed, Some("202"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Posted, Reversed, Some("203"), t0() + seconds(3)),
        ),
    ];
    assert!(
        !store
            .apply_bank_transfer_events(refused, marks())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, Pending);
    assert_eq!(history_count(&raw, a.id).await, 2);
    assert_eq!(pending_event_ids(&store).await, [201, 202, 203]);

    let applied = vec![
        (
            a.id,
            change(Pending, Posted, Some("201"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Posted, Reversed, Some("202"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Pending, Posted, Some("203"), t0() + seconds(3)),
        ),
    ];
    assert!(
        store
            .apply_bank_transfer_events(applied, marks())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, Reversed);
    assert_eq!(stored(&store, b.id).await.status, Posted);
    assert_eq!(history_count(&raw, a.id).await, 4);
    assert_eq!(history_count(&raw, b.id).await, 3);
    assert!(
        pending_event_ids(&store).await.is_empty(),
        "every mark is stored"
    );
}

/// A batch writes each transfer's row exactly as its moves one by one would: the last move's status,
/// `cancellable`, failure, reason and time, and the last failure code any move carried.
async fn a_batch_leaves_each_transfer_as_its_moves_one_by_one_would(db: &TestDb) {
    let store = db.store().await;
    let (one_by_one, _) = pending(&store, "one-by-one", t0()).await;
    let (batched, _) = pending(&store, "batched", t0()).await;
    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".to_owned()),
    };
    let moves = |tag: &str| {
        vec![
            BankTransferChange {
                cancellable: true,
                reason: Some("posted".to_owned()),
                failure_code: Some("first".to_owned()),
                ..change(Pending, Posted, Some(&format!("{tag}1")), t0() + seconds(1))
            },
            BankTransferChange {
                failure: Some(failure.clone()),
                reason: Some("returned".to_owned()),
                ..change(
                    Posted,
                    Reversed,
                    Some(&format!("{tag}2")),
                    t0() + seconds(2),
                )
            },
        ]
    };
    for change in moves("a") {
        assert!(
            store
                .change_bank_transfer_status(one_by_one.id, change)
                .await
                .unwrap()
        );
    }
    let batch = moves("b").into_iter().map(|c| (batched.id, c)).collect();
    assert!(
        store
            .apply_bank_transfer_events(batch, Vec::new())
            .await
            .unwrap()
    );
    let (expected, got) = (
        stored(&store, one_by_one.id).await,
        stored(&store, batched.id).await,
    );
    assert_eq!(got.status, Reversed);
    assert_eq!(got.status, expected.status);
    assert_eq!(got.cancellable(), expected.cancellable());
    assert_eq!(
        got.plaid
            .as_ref()
            .map(|p| (p.cancellable, p.failure_reason.clone())),
        expected
            .plaid
            .as_ref()
            .map(|p| (p.cancellable, p.failure_reason.clone()))
    );
    assert_eq!(got.status_reason.as_deref(), Some("returned"));
    assert_eq!(got.status_reason, expected.status_reason);
    assert_eq!(got.failure_code.as_deref(), Some("first"));
    assert_eq!(got.failure_code, expected.failure_code);
    assert_eq!(got.updated_at, expected.updated_at);
    let raw = db.raw().await;
    assert_eq!(
        history_count(&raw, batched.id).await,
        history_count(&raw, one_by_one.id).await
    );
}

/// Two appliers' batches over the same transfers, written at once in opposite orders (two
/// replicas applying overlapping pages of Plaid's events): one moves them all and the other is
/// refused whole. Neither fails: on PostgreSQL, without the batch lock each would hold rows the
/// other waits for, and one would be chosen as a deadlock victim ("the database is unavailable").
async fn batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock(db: &TestDb) {
    let store = db.store().await;
    for round in 0..3 {
        let mut ids = Vec::new();
        for n in 0..30 {
            let (transfer, _) = pending(&store, &format!("r{round}-{n}"), t0()).await;
            ids.push(transfer.id);
        }
        let batch = |order: Vec<FundingBankTransferId>, tag: &str| {
            order
                .into_iter()
                .enumerate()
                .map(|(n, id)| {
                    let event = format!("{tag}{round}{n:03}");
                    (id, change(Pending, Posted, Some(&event), t0() + seconds(1)))
                })
                .collect::<Vec<_>>()
        };
        let forward = batch(ids.clone(), "1");
        let backward = batch(ids.iter().rev().copied().collect(), "2");
        let (first, second) = tokio::join!(
            store.apply_bank_transfer_events(forward, Vec::new()),
            store.apply_bank_transfer_events(backward, Vec::new()),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first != second,
            "round {round}: exactly one batch is written"
        );
        for id in &ids {
            assert_eq!(stored(&store, *id).await.status, Posted);
        }
    }
}

async fn a_replayed_event_moves_once_and_a_reversal_keeps_its_failure(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    assert!(transfer.cancellable());
    let posting = change(Pending, Posted, Some("101"), t0() + seconds(1));
    assert!(
        store
            .change_bank_transfer_status(transfer.id, posting.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_bank_transfer_status(transfer.id, posting)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(Posted, Reversed, Some("101"), t0() + seconds(2));
    assert!(
        !store
            .change_bank_transfer_status(transfer.id, replay)
            .await
            .unwrap()
    );
    let posted = stored(&store, transfer.id).await;
    assert_eq!(posted.status, Posted);
    assert!(!posted.cancellable(), "cancellable from the move");
    assert_eq!(
        posted.plaid.as_ref().map(|p| p.status.clone()),
        Some(Posted)
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 3);

    let failure = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R01")),
        description: Some("Insufficient funds".to_owned()),
    };
    let reversing = BankTransferChange {
        failure: Some(failure.clone()),
        ..change(Posted, Reversed, Some("102"), t0() + seconds(3))
    };
    assert!(
        store
            .change_bank_transfer_status(transfer.id, reversing)
            .await
            .unwrap()
    );
    let reversed = stored(&store, transfer.id).await;
    assert_eq!(reversed.status, Reversed);
    let plaid = reversed.plaid.expect("Plaid's object");
    assert_eq!(plaid.status, Reversed);
    assert_eq!(plaid.failure_reason, Some(failure));
    assert_eq!(micros(reversed.updated_at), micros(t0() + seconds(3)));

    // An unknown return code is kept as given.
    let (other, _) = pending(&store, "k2", t0()).await;
    let odd = BankTransferFailure {
        ach_return_code: Some(AchReturnCode::parse("R99")),
        description: None,
    };
    store
        .change_bank_transfer_status(
            other.id,
            BankTransferChange {
                failure: Some(odd.clone()),
                ..change(Pending, Failed, Some("103"), t0() + seconds(4))
            },
        )
        .await
        .unwrap();
    assert_eq!(
        stored(&store, other.id)
            .await
            .plaid
            .and_then(|p| p.failure_reason),
        Some(odd)
    );

    let history = store.bank_transfer_history(transfer.id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|entry| (entry.status.clone(), entry.event_id.clone()))
            .collect::<Vec<_>>(),
        vec![
            (Submitting, None),
            (Pending, None),
            (Posted, Some("101".to_owned())),
            (Reversed, Some("102".to_owned())),
        ],
        "oldest first"
    );
    assert_eq!(history[1].source, "plaid:create");
    assert_eq!(history[3].ach_return_code.as_deref(), Some("R01"));
    assert_eq!(
        history[3].description.as_deref(),
        Some("Insufficient funds")
    );
    assert_eq!(micros(history[3].at), micros(t0() + seconds(3)));
}

async fn eight_concurrent_applications_of_one_event_move_once(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = transfer.id;
            tokio::spawn(async move {
                store
                    .change_bank_transfer_status(
                        id,
                        change(Pending, Posted, Some("555"), t0() + seconds(1)),
                    )
                    .await
            })
        })
        .collect();
    let moved: Vec<bool> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no application fails"))
        .collect();
    assert_eq!(moved.iter().filter(|m| **m).count(), 1, "{moved:?}");
    assert_eq!(stored(&store, transfer.id).await.status, Posted);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "bank_transfer_status_history",
            Expr::col("event_id").eq("555")
        )
        .await,
        1
    );
    assert_eq!(history_count(&raw, transfer.id).await, 3);
}

async fn cancellable_is_refreshed_without_a_move(db: &TestDb) {
    let store = db.store().await;
    let (transfer, _) = pending(&store, "k", t0()).await;
    assert!(transfer.cancellable());
    assert!(
        store
            .set_bank_transfer_cancellable(transfer.id, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_bank_transfer_cancellable(transfer.id, false)
            .await
            .unwrap(),
        "unchanged"
    );
    let after = stored(&store, transfer.id).await;
    assert!(!after.cancellable());
    assert_eq!(after.status, Pending);
    assert_eq!(after.plaid.as_ref().map(|p| p.cancellable), Some(false));
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);
    assert!(
        !store
            .set_bank_transfer_cancellable(FundingBankTransferId::generate(), true)
            .await
            .unwrap()
    );
}

async fn list_filters_and_pages_in_creation_order(db: &TestDb) {
    let store = db.store().await;
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    let mut unanswered = Vec::new();
    for i in 0..4i64 {
        for (list, direction, origination) in [
            (&mut inbound, "inbound", "orig_a"),
            (&mut outbound, "outbound", "orig_b"),
        ] {
            let (claim, new) = new_from(
                CALLER,
                &draft(&format!("{direction}{i}"), "1.00", None),
                t0() + seconds(10 * i),
            );
            let transfer = begin(&store, claim, new).await;
            let fence = claim_submit(&store, transfer.id).await;
            store
                .save_plaid_answer(
                    &fence,
                    transfer.id,
                    plaid(&plaid_id(), Some(origination), Some(direction)),
                    answered(t0()),
                )
                .await
                .unwrap();
            list.push(transfer.id);
        }
        let (claim, new) = new_from(
            CALLER,
            &draft(&format!("u{i}"), "1.00", None),
            t0() + seconds(10 * i),
        );
        unanswered.push(begin(&store, claim, new).await.id);
    }
    // Another caller's transfer is never listed.
    let (claim, new) = new_from("other-service", &draft("o", "1.00", None), t0());
    begin(&store, claim, new).await;

    let ids = |page: &[BankTransfer]| page.iter().map(|t| t.id).collect::<Vec<_>>();
    let mut all: Vec<_> = inbound
        .iter()
        .chain(&outbound)
        .chain(&unanswered)
        .copied()
        .collect();
    all.sort_unstable_by_key(|id| id.as_uuid());
    let every = BankTransferFilter::default;

    let (page, next) = store
        .list_bank_transfers(CALLER, every(), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all);
    assert_eq!(next, None);

    // Page by page, five at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store
            .list_bank_transfers(CALLER, every(), 5, after)
            .await
            .unwrap();
        assert!(page.len() <= 5);
        seen.extend(ids(&page));
        match next {
            Some(next) => {
                assert_eq!(Some(next), page.last().map(|t| t.id));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    // Exactly a page's worth: no next page announced.
    let (page, next) = store
        .list_bank_transfers(CALLER, every(), 12, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 12);
    assert_eq!(next, None);
    // A size of 0 is one.
    let (page, next) = store
        .list_bank_transfers(CALLER, every(), 0, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all[..1].to_vec());
    assert_eq!(next, Some(all[0]));

    let list = |filter: BankTransferFilter| {
        let store = store.clone();
        async move {
            ids(&store
                .list_bank_transfers(CALLER, filter, 500, None)
                .await
                .unwrap()
                .0)
        }
    };
    assert_eq!(
        list(BankTransferFilter {
            direction: Some("inbound".to_owned()),
            ..every()
        })
        .await,
        inbound
    );
    assert_eq!(
        list(BankTransferFilter {
            origination_account_id: Some("orig_b".to_owned()),
            ..every()
        })
        .await,
        outbound
    );
    assert!(
        list(BankTransferFilter {
            origination_account_id: Some("orig_b".to_owned()),
            direction: Some("inbound".to_owned()),
            ..every()
        })
        .await
        .is_empty()
    );
    // Created at or after `start`, before `end`: the second and third rounds.
    let window = BankTransferFilter {
        start: Some(t0() + seconds(10)),
        end: Some(t0() + seconds(30)),
        ..every()
    };
    let mut expected = vec![inbound[1], outbound[1], unanswered[1]];
    expected.extend([inbound[2], outbound[2], unanswered[2]]);
    expected.sort_unstable_by_key(|id| id.as_uuid());
    assert_eq!(list(window.clone()).await, expected);
    assert_eq!(
        list(BankTransferFilter {
            direction: Some("outbound".to_owned()),
            ..window
        })
        .await,
        vec![outbound[1], outbound[2]]
    );
    assert_eq!(
        list(BankTransferFilter {
            start: Some(t0() + seconds(30)),
            ..every()
        })
        .await,
        {
            let mut last = vec![inbound[3], outbound[3], unanswered[3]];
            last.sort_unstable_by_key(|id| id.as_uuid());
            last
        }
    );
    let (page, next) = store
        .list_bank_transfers("nobody", every(), 500, None)
        .await
        .unwrap();
    assert!(page.is_empty() && next.is_none());
}

async fn the_reconciler_sees_pending_transfers_plaid_has_that_have_not_moved_since_the_cutoff(
    db: &TestDb,
) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    // Still SUBMITTING (Plaid may not know it): never reconciled here.
    created(&store, "submitting").await;
    let (late, _) = pending(&store, "late", t0() + seconds(30)).await;
    let (old, _) = pending(&store, "old", t0() + seconds(10)).await;
    let (older, _) = pending(&store, "older", t0() + seconds(5)).await;
    // Posted: no longer pending, never reconciled.
    let (done, _) = pending(&store, "done", t0()).await;
    store
        .change_bank_transfer_status(
            done.id,
            change(Pending, Posted, Some("1"), t0() + seconds(1)),
        )
        .await
        .unwrap();

    let ids = |found: Vec<BankTransfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert!(
        store
            .bank_transfers_to_reconcile(t0() + seconds(4), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![older.id],
        "updated before the cutoff"
    );
    let cutoff = t0() + seconds(10) + chrono::TimeDelta::microseconds(1);
    clock.set(t0() + seconds(101));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(cutoff, 100)
            .await
            .unwrap()),
        vec![old.id, older.id],
        "never looked at first, then by the last look"
    );
    clock.set(t0() + seconds(102));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(60), 2)
            .await
            .unwrap()),
        vec![late.id, older.id]
    );
    clock.set(t0() + seconds(103));
    assert_eq!(
        ids(store
            .bank_transfers_to_reconcile(t0() + seconds(60), 100)
            .await
            .unwrap()),
        vec![old.id, older.id, late.id],
        "by the last look, then oldest change first"
    );
    // What the looks found, counted while it holds.
    store
        .record_bank_transfer_checks(&[
            (older.id, Some(Unresolved::Missing)),
            (late.id, Some(Unresolved::Unchanged)),
            (old.id, None),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_bank_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1), (Unresolved::Missing, 1)]
    );
    store
        .change_bank_transfer_status(
            late.id,
            change(Pending, Posted, Some("2"), t0() + seconds(104)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_bank_transfers().await.unwrap(),
        vec![(Unresolved::Missing, 1)]
    );
}

/// An event of a sync page that could not be read is kept raw, `unreadable`, with why, under its
/// `event_id` (or a digest of its bytes when not even that was readable); it is never pending, and
/// the cursor moves past it with the page.
async fn an_unreadable_plaid_event_is_kept_raw_under_its_event_id_and_the_cursor_moves_past_it(
    db: &TestDb,
) {
    let store = db.store().await;
    let subject = plaid_id();
    let with_id = SyncedPlaidEvent {
        event_id: Some(2),
        raw: r#"{"event_id":2,"bank_transfer_amount":{}}"#.to_owned(),
        event: Err("a BankTransferEvent that cannot be read: unexpected value".to_owned()),
    };
    let without_id = SyncedPlaidEvent {
        event_id: None,
        raw: r#"{"event_id":"three"}"#.to_owned(),
        event: Err("a BankTransferEvent that cannot be read: unexpected value".to_owned()),
    };
    let page = vec![
        plaid_event(1, &subject),
        with_id.clone(),
        without_id.clone(),
        plaid_event(4, &subject),
    ];
    assert_eq!(store.store_plaid_events(page.clone(), 4).await.unwrap(), 4);
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 4);
    assert_eq!(
        store.store_plaid_events(page, 4).await.unwrap(),
        0,
        "each kept once, the one without an id too"
    );
    let pending: Vec<u64> = store
        .pending_plaid_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|waiting| waiting.event.event_id)
        .collect();
    assert_eq!(pending, vec![1, 4], "the unreadable ones are never pending");
    let raw = db.raw().await;
    let unreadable = |event_id: &str, payload: &str| {
        Expr::col("stream")
            .eq(PLAID_BANK_TRANSFER_STREAM)
            .and(Expr::col("event_id").eq(event_id))
            .and(Expr::col("state").eq("unreadable"))
            .and(Expr::col("payload").eq(payload))
            .and(Expr::col("error").like("a BankTransferEvent that cannot be read%"))
            .and(Expr::col("event").is_null())
            .and(Expr::col("entity_id").is_null())
    };
    assert_eq!(
        count(&raw, "inbox_events", unreadable("2", &with_id.raw)).await,
        1,
        "under its event_id"
    );
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("event_id")
                .like("unreadable:%")
                .and(Expr::col("payload").eq(without_id.raw.as_str()))
        )
        .await,
        1,
        "under a digest of its bytes"
    );
}

async fn plaid_events_stored_twice_are_stored_once_with_their_cursor(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 0, "0 at first");
    let subject = plaid_id();
    let batch = vec![plaid_event(1, &subject), plaid_event(2, &subject)];
    assert_eq!(store.store_plaid_events(batch.clone(), 2).await.unwrap(), 2);
    assert_eq!(store.plaid_sync_cursor().await.unwrap(), 2);
    assert_eq!(
        store
            .store_plaid_events(vec![batch[1].clone(), plaid_event(3, &subject)], 3)
            .await
            .unwrap(),
        1,
        "only the new one"
    );
    assert_eq!(store.store_plaid_events(Vec::new(), 3).await.unwrap(), 0);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("stream").eq(PLAID_BANK_TRANSFER_STREAM)
        )
        .await,
        3
    );
    let query = Query::select()
        .columns(["entity_type", "entity_id", "payload", "state", "attempts"])
        .from("inbox_events")
        .and_where(Expr::col("event_id").eq("2"))
        .to_owned();
    let row = raw.query_one(&query).await.unwrap().unwrap();
    assert_eq!(
        row.try_get::<String>("", "entity_type").unwrap(),
        "BankTransfer"
    );
    assert_eq!(
        row.try_get::<String>("", "entity_id").unwrap(),
        subject.as_str()
    );
    assert_eq!(
        row.try_get::<String>("", "payload").unwrap(),
        batch[1].raw,
        "kept raw"
    );
    assert_eq!(row.try_get::<String>("", "state").unwrap(), "pending");
    let pending = store.pending_plaid_events(10).await.unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[1].event, batch[1].event.clone().unwrap(), "as read");
    assert_eq!(pending[1].attempts, 0);
}

async fn the_plaid_cursor_never_moves_back(db: &TestDb) {
    let store = db.store().await;
    let subject = plaid_id();
    for (after, expected) in [
        (9u64, 9u64),
        (10, 10),
        (9, 10),
        (0, 10),
        (99, 99),
        (100, 100),
        (99, 100),
        (u64::MAX, u64::MAX),
        (1_000, u64::MAX),
    ] {
        store
            .store_plaid_events(vec![plaid_event(std::cmp::max(after, 1), &subject)], after)
            .await
            .unwrap();
        assert_eq!(
            store.plaid_sync_cursor().await.unwrap(),
            expected,
            "after {after}"
        );
    }
}

async fn pending_plaid_events_come_in_numeric_order(db: &TestDb) {
    let store = db.store().await;
    let subject = plaid_id();
    store
        .store_plaid_events(
            [10, 9, 100, 2, 11]
                .map(|id| plaid_event(id, &subject))
                .to_vec(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(pending_event_ids(&store).await, vec![2, 9, 10, 11, 100]);
    let first_two: Vec<u64> = store
        .pending_plaid_events(2)
        .await
        .unwrap()
        .into_iter()
        .map(|pending| pending.event.event_id)
        .collect();
    assert_eq!(first_two, vec![2, 9]);

    // Marking works on Plaid's stream: applied ones leave, a retried one counts its attempts.
    store
        .mark_event(PLAID_BANK_TRANSFER_STREAM, "9", InboxState::Applied, None)
        .await
        .unwrap();
    store
        .mark_event(
            PLAID_BANK_TRANSFER_STREAM,
            "10",
            InboxState::ParkedError,
            Some("boom"),
        )
        .await
        .unwrap();
    store
        .mark_event(PLAID_BANK_TRANSFER_STREAM, "11", InboxState::Pending, None)
        .await
        .unwrap();
    let pending = store.pending_plaid_events(100).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.event.event_id, p.attempts))
            .collect::<Vec<_>>(),
        vec![(2, 0), (11, 1), (100, 0)]
    );
    // Another stream's events are never Plaid's.
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("stream")
                .eq(PLAID_BANK_TRANSFER_STREAM)
                .and(Expr::col("state").eq("parked_error"))
        )
        .await,
        1
    );
}

async fn the_sweep_unparks_plaid_events_parked_after_the_answer_was_stored(db: &TestDb) {
    let store = db.store().await;
    let (_, ours) = pending(&store, "k", t0()).await;
    // The applier looked before the answer was stored and parks the events after; a Plaid
    // transfer of somebody else stays parked.
    park(
        &store,
        vec![
            plaid_event(5, &ours),
            plaid_event(6, &ours),
            plaid_event(7, &plaid_id()),
        ],
    )
    .await;
    assert!(pending_event_ids(&store).await.is_empty());
    let by_state = || async {
        let mut stats: Vec<_> = store
            .inbox_stats()
            .await
            .unwrap()
            .by_state
            .into_iter()
            .map(|(state, n)| (state.as_str(), n))
            .collect();
        stats.sort_unstable();
        stats
    };
    assert_eq!(by_state().await, vec![("parked_no_subject", 3)]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 2);
    assert_eq!(pending_event_ids(&store).await, vec![5, 6]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
    assert_eq!(
        by_state().await,
        vec![("parked_no_subject", 1), ("pending", 2)],
        "the inbox stats count Plaid's events"
    );
}

async fn the_database_refuses_an_unknown_status_and_a_second_holder_of_plaids_id(db: &TestDb) {
    let store = db.store().await;
    let (first, ours) = pending(&store, "first", t0()).await;
    let second = created(&store, "second").await;
    let raw = db.raw().await;
    let set = |id: FundingBankTransferId, column: &'static str, value: &str| {
        Query::update()
            .table("bank_transfers")
            .value(column, value)
            .and_where(Expr::col("id").eq(id.as_uuid()))
            .to_owned()
    };
    for status in ["settled", "PENDING"] {
        raw.execute(&set(first.id, "status", status))
            .await
            .expect_err("an unknown status is refused");
    }
    raw.execute(&set(first.id, "status", "posted"))
        .await
        .expect("a known one is accepted");
    raw.execute(&set(second.id, "plaid_bank_transfer_id", ours.as_str()))
        .await
        .expect_err("UNIQUE(plaid_bank_transfer_id)");
}

on_both_backends!(
    a_batch_of_plaid_event_moves_is_written_whole_or_not_at_all,
    batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock,
    a_batch_leaves_each_transfer_as_its_moves_one_by_one_would,
    a_new_key_creates_the_bank_transfer_as_given,
    every_request_and_plaid_field_round_trips,
    the_processor_token_is_not_stored_in_plaintext,
    a_row_the_domain_would_refuse_is_corrupt,
    twenty_concurrent_begins_with_one_key_create_exactly_one_bank_transfer,
    fenced_writes_are_refused_with_a_stale_claim,
    the_first_submit_request_is_kept_and_only_while_submitting,
    saving_plaids_answer_moves_the_transfer_and_unparks_its_events,
    plaids_id_held_by_another_transfer_is_refused,
    eight_concurrent_saves_of_one_plaid_id_save_exactly_one,
    a_refused_transfer_ends_refused_once,
    an_unsent_bank_transfer_is_cancelled_and_a_sent_one_is_not,
    a_cancel_racing_the_submit_request_lets_exactly_one_win,
    a_replayed_event_moves_once_and_a_reversal_keeps_its_failure,
    eight_concurrent_applications_of_one_event_move_once,
    cancellable_is_refreshed_without_a_move,
    list_filters_and_pages_in_creation_order,
    the_reconciler_sees_pending_transfers_plaid_has_that_have_not_moved_since_the_cutoff,
    plaid_events_stored_twice_are_stored_once_with_their_cursor,
    an_unreadable_plaid_event_is_kept_raw_under_its_event_id_and_the_cursor_moves_past_it,
    the_plaid_cursor_never_moves_back,
    pending_plaid_events_come_in_numeric_order,
    the_sweep_unparks_plaid_events_parked_after_the_answer_was_stored,
    the_database_refuses_an_unknown_status_and_a_second_holder_of_plaids_id,
);
