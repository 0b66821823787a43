//! Transfers: created once per idempotency key with their submit work; fenced writes of the submit
//! work; Alpaca's id held by one transfer only; status moves conditional, recorded, and idempotent
//! per provider event; reads page in creation order; the reconciler's query.

use chrono::{DateTime, Utc};
use funding_core::model::Transfer;
use funding_core::ports::{
    Begin, Claim, FundingEntity, FundingEvent, IdempotencyClaim, InboxMark, InboxState,
    InboxStore as _, IncomingEvent, NewTransfer, NewWork, StoreError, TransferChange,
    TransferDirection, TransferFilter, TransferSaved, TransferStore as _, Unresolved, WorkKind,
    WorkQueue as _,
};
use funding_domain::AlpacaTransferStatus::{
    self, Approved, Canceled, Complete, Failed, Pending, Queued, Rejected, Returned,
    SentToClearing, Submitting,
};
use funding_domain::{
    AccountId, AchRelationshipId, Amount, BankLinkId, IdempotencyKey, ProviderTransferId,
    TransferId,
};
use funding_store::{Store, TRANSFER_STATUSES};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use uuid::Uuid;

use crate::support::{LEASE, ManualClock, TestDb, account, count, created_link, seconds, t0};

const CALLER: &str = "portfolio-service";
const OPERATION: &str = "CreateTransfer";
const STREAM: &str = "alpaca:funding";

/// A new SUBMITTING transfer over `link` under `key`, with its claim; the fingerprint names the
/// amount, so that another payload under the same key has another fingerprint.
fn new_transfer(
    link: BankLinkId,
    account: AccountId,
    key: &str,
    amount: &str,
    direction: TransferDirection,
) -> (IdempotencyClaim, NewTransfer) {
    let transfer = Transfer {
        id: TransferId::generate(),
        caller: CALLER.to_owned(),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        account_id: account,
        bank_link_id: link,
        relationship_id: AchRelationshipId::from_uuid(Uuid::new_v4()),
        amount: Amount::parse(amount).unwrap(),
        direction,
        status: Submitting,
        status_reason: None,
        ach_return_code: None,
        failure_code: None,
        provider_transfer_id: None,
        submit_requested_at: None,
        created_at: t0(),
        updated_at: t0(),
    };
    let claim = IdempotencyClaim {
        caller: CALLER.to_owned(),
        operation: OPERATION,
        key: key.to_owned(),
        fingerprint: format!("{key}:{amount}"),
    };
    let work = NewWork {
        kind: WorkKind::TransferSubmit,
        subject_id: transfer.id.as_uuid(),
        ordering_key: None,
        max_attempts: 5,
    };
    (claim, NewTransfer { transfer, work })
}

/// The link every transfer of a test moves money over, and its account.
async fn link(store: &Store) -> (BankLinkId, AccountId) {
    let account = account();
    (created_link(store, account, "link-key").await.id, account)
}

async fn created(
    store: &Store,
    link: BankLinkId,
    account: AccountId,
    key: &str,
    amount: &str,
    direction: TransferDirection,
) -> Transfer {
    let (claim, new) = new_transfer(link, account, key, amount, direction);
    match store.begin_transfer(claim, new).await.unwrap() {
        Begin::Created(transfer) => transfer,
        Begin::Existing { .. } => panic!("{key} was used before"),
    }
}

async fn deposit(store: &Store, link: BankLinkId, account: AccountId, key: &str) -> Transfer {
    created(
        store,
        link,
        account,
        key,
        "100.00",
        TransferDirection::Deposit,
    )
    .await
}

/// Claims the `transfer_submit` work `begin_transfer` wrote: the fence of the submit's writes.
async fn claim_submit(store: &Store, id: TransferId) -> Claim {
    store
        .claim(WorkKind::TransferSubmit, id.as_uuid(), "owner", LEASE)
        .await
        .unwrap()
        .expect("the transfer's work is claimable")
        .claim
}

fn stale(claim: &Claim) -> Claim {
    Claim {
        generation: claim.generation + 1,
        ..claim.clone()
    }
}

fn change(
    from: AlpacaTransferStatus,
    to: AlpacaTransferStatus,
    event: Option<&str>,
    at: DateTime<Utc>,
) -> TransferChange {
    TransferChange {
        from,
        to,
        reason: None,
        ach_return_code: None,
        source: "alpaca:event".to_owned(),
        event_id: event.map(str::to_owned),
        at,
    }
}

fn submitted(at: DateTime<Utc>) -> TransferChange {
    TransferChange {
        source: "alpaca:create".to_owned(),
        ..change(Submitting, Queued, None, at)
    }
}

fn provider_id() -> ProviderTransferId {
    ProviderTransferId::from_uuid(Uuid::new_v4())
}

/// Creates a transfer and stores Alpaca's id for it (QUEUED at `at`).
async fn queued(
    store: &Store,
    link: BankLinkId,
    account: AccountId,
    key: &str,
    at: DateTime<Utc>,
) -> (Transfer, ProviderTransferId) {
    let transfer = deposit(store, link, account, key).await;
    let fence = claim_submit(store, transfer.id).await;
    let provider = provider_id();
    assert_eq!(
        store
            .save_submitted(&fence, transfer.id, provider, submitted(at))
            .await
            .unwrap(),
        TransferSaved::Saved
    );
    (transfer, provider)
}

async fn history_count(db: &DatabaseConnection, id: TransferId) -> i64 {
    count(
        db,
        "transfer_status_history",
        Expr::col("transfer_id").eq(id.as_uuid()),
    )
    .await
}

async fn stored(store: &Store, id: TransferId) -> Transfer {
    store.get_transfer(id).await.unwrap().expect("the transfer")
}

fn transfer_event(id: &str, provider: ProviderTransferId) -> IncomingEvent {
    let event = FundingEvent {
        event_id: id.to_owned(),
        at: t0(),
        account_id: AccountId::from_uuid(Uuid::new_v4()),
        entity: FundingEntity::Transfer,
        entity_id: provider.as_uuid(),
        status_from: Some("QUEUED".to_owned()),
        status_to: "SENT_TO_CLEARING".to_owned(),
        reason: None,
    };
    IncomingEvent {
        event_id: id.to_owned(),
        raw: format!("{{\"event_id\":\"{id}\"}}"),
        event: Ok(event),
    }
}

async fn park(store: &Store, events: Vec<IncomingEvent>) {
    let ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    store.store_events(STREAM, events, None).await.unwrap();
    for id in ids {
        store
            .mark_event(STREAM, &id, InboxState::ParkedNoSubject, None)
            .await
            .unwrap();
    }
}

async fn pending_ids(store: &Store) -> Vec<String> {
    store
        .pending_events(STREAM, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect()
}

#[test]
fn the_status_check_admits_exactly_the_domain_statuses() {
    let domain: Vec<&str> = AlpacaTransferStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        TRANSFER_STATUSES.to_vec(),
        domain,
        "a new status needs a migration that widens the CHECK"
    );
    assert!(TRANSFER_STATUSES.contains(&"SUBMITTING") && TRANSFER_STATUSES.contains(&"FAILED"));
}

async fn a_new_key_creates_the_transfer_as_given(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (claim, new) = new_transfer(link, account, "k", "100.00", TransferDirection::Deposit);
    let given = new.transfer.clone();
    let Begin::Created(transfer) = store.begin_transfer(claim, new).await.unwrap() else {
        panic!("a new key creates");
    };
    assert_eq!(
        transfer.created_at.timestamp_micros(),
        t0().timestamp_micros()
    );
    assert_eq!(
        transfer,
        Transfer {
            created_at: transfer.created_at,
            updated_at: transfer.updated_at,
            ..given
        }
    );
    assert_eq!(stored(&store, transfer.id).await, transfer);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind")
                .eq(WorkKind::TransferSubmit.as_str())
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

async fn amounts_round_trip_exactly(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let raw = db.raw().await;
    for (key, amount) in [("a", "100.00"), ("b", "0.01"), ("c", "10000000.00")] {
        let transfer = created(
            &store,
            link,
            account,
            key,
            amount,
            TransferDirection::Withdrawal,
        )
        .await;
        let back = stored(&store, transfer.id).await;
        assert_eq!(back.amount.to_string(), amount);
        assert_eq!(back.amount, Amount::parse(amount).unwrap());
        assert_eq!(back.direction, TransferDirection::Withdrawal);
        let query = Query::select()
            .column("amount")
            .from("transfers")
            .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
            .to_owned();
        let row = raw.query_one(&query).await.unwrap().unwrap();
        assert_eq!(
            row.try_get::<String>("", "amount").unwrap(),
            amount,
            "stored as the canonical decimal string"
        );
    }
}

async fn a_row_the_domain_would_refuse_is_corrupt(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let raw = db.raw().await;
    let tamper = Query::update()
        .table("transfers")
        .value("amount", "100.001")
        .and_where(Expr::col("id").eq(transfer.id.as_uuid()))
        .to_owned();
    raw.execute(&tamper).await.unwrap();
    assert!(matches!(
        store.get_transfer(transfer.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn twenty_concurrent_begins_with_one_key_create_exactly_one_transfer(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let (claim, new) = new_transfer(
                link,
                account,
                "race-key",
                "100.00",
                TransferDirection::Deposit,
            );
            tokio::spawn(async move { store.begin_transfer(claim, new).await })
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
                assert_eq!(fingerprint, "race-key:100.00");
                existing.push(resource);
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one Created");
    assert_eq!(existing.len(), 19);
    assert!(existing.iter().all(|transfer| *transfer == created[0]));
    let raw = db.raw().await;
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 1);
    assert_eq!(
        count(
            &raw,
            "work_items",
            Expr::col("kind").eq(WorkKind::TransferSubmit.as_str())
        )
        .await,
        1,
        "one work item"
    );

    // Another payload under the key: the first request's fingerprint and transfer come back.
    let (claim, new) = new_transfer(
        link,
        account,
        "race-key",
        "5.00",
        TransferDirection::Withdrawal,
    );
    match store.begin_transfer(claim, new).await.unwrap() {
        Begin::Existing {
            fingerprint,
            resource,
        } => {
            assert_eq!(fingerprint, "race-key:100.00");
            assert_eq!(resource, created[0]);
        }
        Begin::Created(_) => panic!("the key was used"),
    }
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 1);
}

async fn the_submit_request_is_recorded_only_while_submitting_and_fenced(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let fence = claim_submit(&store, transfer.id).await;

    assert!(matches!(
        store
            .mark_submit_requested(&stale(&fence), transfer.id, t0() + seconds(1))
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, transfer.id).await.submit_requested_at, None);

    let at = t0() + seconds(2);
    assert!(
        store
            .mark_submit_requested(&fence, transfer.id, at)
            .await
            .unwrap()
    );
    let marked = stored(&store, transfer.id).await;
    assert_eq!(
        marked.submit_requested_at.map(|t| t.timestamp_micros()),
        Some(at.timestamp_micros())
    );
    assert_eq!(marked.updated_at.timestamp_micros(), at.timestamp_micros());

    // A cancel won the race: nothing may be sent, and nothing changes.
    let mut cancel = change(Submitting, Canceled, None, t0() + seconds(3));
    cancel.source = "api:cancel".to_owned();
    assert!(
        store
            .end_unsubmitted(&fence, transfer.id, cancel, None)
            .await
            .unwrap()
    );
    let before = stored(&store, transfer.id).await;
    assert!(
        !store
            .mark_submit_requested(&fence, transfer.id, t0() + seconds(4))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, before);
}

async fn saving_alpacas_id_moves_the_transfer_and_unparks_its_events(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let provider = provider_id();
    let stranger = provider_id();
    park(
        &store,
        vec![
            transfer_event("e1", provider),
            transfer_event("e2", stranger),
        ],
    )
    .await;
    let fence = claim_submit(&store, transfer.id).await;

    assert!(matches!(
        store
            .save_submitted(&stale(&fence), transfer.id, provider, submitted(t0()))
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(pending_ids(&store).await.is_empty());

    let at = t0() + seconds(5);
    assert_eq!(
        store
            .save_submitted(&fence, transfer.id, provider, submitted(at))
            .await
            .unwrap(),
        TransferSaved::Saved
    );
    let saved = stored(&store, transfer.id).await;
    assert_eq!(saved.status, Queued);
    assert_eq!(saved.provider_transfer_id, Some(provider));
    assert_eq!(saved.updated_at.timestamp_micros(), at.timestamp_micros());
    assert_eq!(
        store.find_transfer_by_provider_id(provider).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        store.find_transfer_by_provider_id(stranger).await.unwrap(),
        None
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);
    assert_eq!(
        pending_ids(&store).await,
        vec!["e1"],
        "only the events parked for that Alpaca transfer"
    );

    // No longer SUBMITTING: another id is refused, and nothing changes.
    assert_eq!(
        store
            .save_submitted(&fence, transfer.id, provider_id(), submitted(at))
            .await
            .unwrap(),
        TransferSaved::NotSubmitting
    );
    assert_eq!(stored(&store, transfer.id).await, saved);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);
}

async fn alpacas_id_held_by_another_transfer_is_refused(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (first, provider) = queued(&store, link, account, "first", t0()).await;
    let second = deposit(&store, link, account, "second").await;
    let fence = claim_submit(&store, second.id).await;
    assert_eq!(
        store
            .save_submitted(&fence, second.id, provider, submitted(t0()))
            .await
            .unwrap(),
        TransferSaved::HeldByAnother
    );
    let second = stored(&store, second.id).await;
    assert_eq!(second.status, Submitting);
    assert_eq!(second.provider_transfer_id, None);
    assert_eq!(history_count(&db.raw().await, second.id).await, 0);
    assert_eq!(
        store
            .find_transfer_by_provider_id(provider)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(first.id)
    );
}

async fn eight_concurrent_saves_of_one_alpaca_id_save_exactly_one(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut claimed = Vec::new();
    for i in 0..8 {
        let transfer = deposit(&store, link, account, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        claimed.push((transfer.id, fence));
    }
    let provider = provider_id();
    let tasks: Vec<_> = claimed
        .into_iter()
        .map(|(id, fence)| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .save_submitted(&fence, id, provider, submitted(t0()))
                    .await
            })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("task").expect("no save fails"))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == TransferSaved::Saved)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == TransferSaved::HeldByAnother)
            .count(),
        7,
        "{outcomes:?}"
    );
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "transfers",
            Expr::col("provider_transfer_id").eq(provider.as_uuid())
        )
        .await,
        1
    );
    assert_eq!(
        count(&raw, "transfers", Expr::col("status").eq("SUBMITTING")).await,
        7
    );
    assert_eq!(
        count(&raw, "transfer_status_history", Expr::value(true)).await,
        1
    );
}

async fn an_unsubmitted_transfer_ends_failed_once(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let fence = claim_submit(&store, transfer.id).await;
    let mut failing = change(Submitting, Failed, None, t0() + seconds(5));
    failing.reason = Some("insufficient buying power".to_owned());
    failing.source = "alpaca:create".to_owned();

    assert!(matches!(
        store
            .end_unsubmitted(
                &stale(&fence),
                transfer.id,
                failing.clone(),
                Some("alpaca/invalid_input/40310000".into())
            )
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(stored(&store, transfer.id).await.status, Submitting);

    assert!(
        store
            .end_unsubmitted(
                &fence,
                transfer.id,
                failing.clone(),
                Some("alpaca/invalid_input/40310000".into())
            )
            .await
            .unwrap()
    );
    let failed = stored(&store, transfer.id).await;
    assert_eq!(failed.status, Failed);
    assert_eq!(
        failed.status_reason.as_deref(),
        Some("insufficient buying power")
    );
    assert_eq!(
        failed.failure_code.as_deref(),
        Some("alpaca/invalid_input/40310000")
    );
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // Already ended: nothing moves.
    assert!(
        !store
            .end_unsubmitted(&fence, transfer.id, failing, None)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await, failed);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 1);

    // Cancelled locally, without a failure code.
    let other = deposit(&store, link, account, "k2").await;
    let fence = claim_submit(&store, other.id).await;
    let cancel = change(Submitting, Canceled, None, t0() + seconds(6));
    assert!(
        store
            .end_unsubmitted(&fence, other.id, cancel, None)
            .await
            .unwrap()
    );
    let canceled = stored(&store, other.id).await;
    assert_eq!(canceled.status, Canceled);
    assert_eq!(canceled.failure_code, None);

    // Only FAILED or CANCELED end an unsubmitted transfer.
    let third = deposit(&store, link, account, "k3").await;
    let fence = claim_submit(&store, third.id).await;
    assert!(
        store
            .end_unsubmitted(
                &fence,
                third.id,
                change(Submitting, Rejected, None, t0()),
                None
            )
            .await
            .is_err()
    );
}

async fn a_replayed_event_moves_once_and_a_return_keeps_its_code(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (transfer, _) = queued(&store, link, account, "k", t0()).await;

    // From a stale status: nothing.
    assert!(
        !store
            .change_transfer_status(transfer.id, change(Pending, Complete, Some("ev0"), t0()))
            .await
            .unwrap()
    );
    let clearing = change(Queued, SentToClearing, Some("ev1"), t0() + seconds(1));
    assert!(
        store
            .change_transfer_status(transfer.id, clearing.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_transfer_status(transfer.id, clearing)
            .await
            .unwrap()
    );
    // Even a replay that names the current status as `from` is refused by its event id.
    let replay = change(SentToClearing, Complete, Some("ev1"), t0() + seconds(2));
    assert!(
        !store
            .change_transfer_status(transfer.id, replay)
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, transfer.id).await.status, SentToClearing);
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 2);

    assert!(
        store
            .change_transfer_status(
                transfer.id,
                change(SentToClearing, Complete, Some("ev2"), t0() + seconds(3))
            )
            .await
            .unwrap()
    );
    let mut returning = change(Complete, Returned, Some("ev3"), t0() + seconds(4));
    returning.reason = Some("Insufficient Funds".to_owned());
    returning.ach_return_code = Some("R01".to_owned());
    assert!(
        store
            .change_transfer_status(transfer.id, returning)
            .await
            .unwrap()
    );
    let returned = stored(&store, transfer.id).await;
    assert_eq!(returned.status, Returned);
    assert_eq!(returned.ach_return_code.as_deref(), Some("R01"));
    assert_eq!(
        returned.status_reason.as_deref(),
        Some("Insufficient Funds")
    );
    let raw = db.raw().await;
    assert_eq!(history_count(&raw, transfer.id).await, 4);
    assert_eq!(
        count(
            &raw,
            "transfer_status_history",
            Expr::col("ach_return_code").eq("R01")
        )
        .await,
        1,
        "the history keeps the return code"
    );
}

async fn moves_without_event_ids_are_all_recorded(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (transfer, _) = queued(&store, link, account, "k", t0()).await;
    for (from, to) in [
        (Queued, Pending),
        (Pending, SentToClearing),
        (SentToClearing, Approved),
    ] {
        let mut moving = change(from, to, None, t0() + seconds(1));
        moving.source = "reconciler".to_owned();
        assert!(
            store
                .change_transfer_status(transfer.id, moving)
                .await
                .unwrap()
        );
    }
    assert_eq!(history_count(&db.raw().await, transfer.id).await, 4);
}

async fn list_filters_and_pages_in_creation_order(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut deposits = Vec::new();
    let mut withdrawals = Vec::new();
    for i in 0..5 {
        deposits.push(deposit(&store, link, account, &format!("d{i}")).await.id);
        withdrawals.push(
            created(
                &store,
                link,
                account,
                &format!("w{i}"),
                "1.50",
                TransferDirection::Withdrawal,
            )
            .await
            .id,
        );
    }
    // Another account's transfer over another link is never listed.
    let other_account = crate::support::account();
    let other_link = created_link(&store, other_account, "other-link").await.id;
    deposit(&store, other_link, other_account, "o").await;
    // Two withdrawals are QUEUED.
    for id in &withdrawals[1..3] {
        let fence = claim_submit(&store, *id).await;
        store
            .save_submitted(&fence, *id, provider_id(), submitted(t0()))
            .await
            .unwrap();
    }

    let ids = |page: &[Transfer]| page.iter().map(|t| t.id).collect::<Vec<_>>();
    let mut all: Vec<_> = deposits.iter().chain(&withdrawals).copied().collect();
    all.sort_unstable_by_key(|id| id.as_uuid());

    let (page, next) = store
        .list_transfers(account, TransferFilter::default(), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all);
    assert_eq!(next, None);

    // Page by page, four at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store
            .list_transfers(account, TransferFilter::default(), 4, after)
            .await
            .unwrap();
        assert!(page.len() <= 4);
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
        .list_transfers(account, TransferFilter::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(next, None);
    // A size of 0 is one.
    let (page, next) = store
        .list_transfers(account, TransferFilter::default(), 0, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), all[..1].to_vec());
    assert_eq!(next, Some(all[0]));

    let by = |status: Option<AlpacaTransferStatus>, direction: Option<TransferDirection>| {
        TransferFilter { status, direction }
    };
    let (page, _) = store
        .list_transfers(
            account,
            by(None, Some(TransferDirection::Deposit)),
            500,
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), deposits);
    let (page, _) = store
        .list_transfers(account, by(Some(Queued), None), 500, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), withdrawals[1..3].to_vec());
    let (page, _) = store
        .list_transfers(
            account,
            by(Some(Submitting), Some(TransferDirection::Withdrawal)),
            500,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&page),
        vec![withdrawals[0], withdrawals[3], withdrawals[4]]
    );
    let (page, next) = store
        .list_transfers(
            account,
            by(Some(Queued), Some(TransferDirection::Deposit)),
            500,
            None,
        )
        .await
        .unwrap();
    assert!(page.is_empty());
    assert_eq!(next, None);
}

async fn the_reconciler_sees_transfers_alpaca_has_that_have_not_moved_since_the_cutoff(
    db: &TestDb,
) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    // Still SUBMITTING (Alpaca may not know it): never reconciled here.
    deposit(&store, link, account, "submitting").await;
    let (late, _) = queued(&store, link, account, "late", t0() + seconds(30)).await;
    let (old, _) = queued(&store, link, account, "old", t0() + seconds(10)).await;
    let (older, _) = queued(&store, link, account, "older", t0() + seconds(5)).await;
    store
        .change_transfer_status(
            older.id,
            change(Queued, SentToClearing, Some("e1"), t0() + seconds(6)),
        )
        .await
        .unwrap();
    // Done: never reconciled.
    let (done, _) = queued(&store, link, account, "done", t0()).await;
    store
        .change_transfer_status(
            done.id,
            change(Queued, Rejected, Some("e2"), t0() + seconds(1)),
        )
        .await
        .unwrap();

    let ids = |found: Vec<Transfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert!(
        store
            .transfers_to_reconcile(t0() + seconds(4), 100)
            .await
            .unwrap()
            .is_empty(),
        "none unmoved since"
    );
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![older.id, old.id],
        "never looked at: oldest change first, the cutoff included"
    );
    // Each one handed out was marked: what was never looked at comes first, then the others in
    // the order of their last look (the same look: oldest change first).
    clock.set(t0() + seconds(101));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 100)
            .await
            .unwrap()),
        vec![late.id, older.id, old.id]
    );
    clock.set(t0() + seconds(102));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 1)
            .await
            .unwrap()),
        vec![older.id]
    );
    clock.set(t0() + seconds(103));
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(60), 2)
            .await
            .unwrap()),
        vec![old.id, late.id],
        "looked at last at 101 (oldest change first), before older at 102"
    );
}

/// The reconciler rotates: with more due than a pass takes, every one is taken once before any is
/// taken again, however often the ones taken stay as they are (DESIGN §9).
async fn every_transfer_in_flight_is_taken_once_before_any_is_taken_again(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    let mut all = Vec::new();
    for n in 0..25 {
        let (transfer, _) =
            queued(&store, link, account, &format!("t{n}"), t0() + seconds(n)).await;
        all.push(transfer.id);
    }
    let mut passes = Vec::new();
    for pass in 0..3 {
        clock.set(t0() + seconds(200 + pass));
        let taken: Vec<TransferId> = store
            .transfers_to_reconcile(t0() + seconds(60), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|transfer| transfer.id)
            .collect();
        passes.push(taken);
    }
    assert_eq!(passes[0], all[..10], "never looked at: oldest change first");
    assert_eq!(passes[1], all[10..20]);
    assert_eq!(
        passes[2],
        [&all[20..], &all[..5]].concat(),
        "the last five never looked at, then the five looked at longest ago"
    );
}

/// Alpaca lists an account's transfers at once: the reconciler looks at every due transfer of an
/// account it lists, and those are marked like the ones it took.
async fn every_due_transfer_of_the_accounts_listed_is_taken_with_them(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (a, b, c) = (account(), account(), account());
    let link_a = created_link(&store, a, "link-a").await.id;
    let link_b = created_link(&store, b, "link-b").await.id;
    let link_c = created_link(&store, c, "link-c").await.id;
    let (a1, _) = queued(&store, link_a, a, "a1", t0()).await;
    let (a2, _) = queued(&store, link_a, a, "a2", t0() + seconds(1)).await;
    // Moved since the cutoff: not due.
    queued(&store, link_a, a, "a3", t0() + seconds(90)).await;
    let (a4, _) = queued(&store, link_a, a, "a4", t0()).await;
    store
        .change_transfer_status(
            a4.id,
            change(Queued, Complete, Some("e1"), t0() + seconds(2)),
        )
        .await
        .unwrap();
    let (b1, _) = queued(&store, link_b, b, "b1", t0()).await;
    let (c1, _) = queued(&store, link_c, c, "c1", t0() + seconds(3)).await;

    let mut taken: Vec<TransferId> = store
        .account_transfers_to_reconcile(&[a, b], t0() + seconds(60))
        .await
        .unwrap()
        .into_iter()
        .map(|transfer| transfer.id)
        .collect();
    taken.sort();
    let mut expected = vec![a1.id, a2.id, b1.id];
    expected.sort();
    assert_eq!(taken, expected, "in flight, due, of those accounts");
    clock.set(t0() + seconds(101));
    assert_eq!(
        store
            .transfers_to_reconcile(t0() + seconds(60), 1)
            .await
            .unwrap()
            .into_iter()
            .filter(|transfer| transfer.status != Complete)
            .map(|transfer| transfer.id)
            .collect::<Vec<_>>(),
        vec![c1.id],
        "the ones taken with their account were marked (in flight; COMPLETE ones are walked apart)"
    );
}

/// Replicas share the rotation: two taking at once get different transfers (PostgreSQL: the rows
/// one holds are skipped by the other; SQLite: one writer at a time).
async fn two_replicas_taking_at_once_never_take_the_same_transfer(db: &TestDb) {
    let store = db.store().await;
    let other = db.store().await;
    let (link, account) = link(&store).await;
    for n in 0..40 {
        queued(&store, link, account, &format!("t{n}"), t0()).await;
    }
    for _ in 0..3 {
        let (mine, theirs) = tokio::join!(
            store.transfers_to_reconcile(t0() + seconds(60), 10),
            other.transfers_to_reconcile(t0() + seconds(60), 10)
        );
        let mut taken: Vec<TransferId> = mine
            .unwrap()
            .into_iter()
            .chain(theirs.unwrap())
            .map(|transfer| transfer.id)
            .collect();
        assert_eq!(taken.len(), 20);
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 20, "no transfer taken by both");
    }
}

/// What a look found is counted while it holds: until the next look, or until the transfer moves
/// (the look is stale then) or ends.
async fn what_a_look_found_is_counted_until_the_transfer_moves(db: &TestDb) {
    let clock = ManualClock::at(t0() + seconds(100));
    let store = db.store().await.with_clock(clock.clone());
    let (link, account) = link(&store).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (transfer, _) = queued(&store, link, account, &format!("t{n}"), t0()).await;
        ids.push(transfer.id);
    }
    assert_eq!(
        store
            .transfers_to_reconcile(t0() + seconds(60), 10)
            .await
            .unwrap()
            .len(),
        5
    );
    store
        .record_transfer_checks(&[
            (ids[0], Some(Unresolved::Unchanged)),
            (ids[1], Some(Unresolved::Unchanged)),
            (ids[2], Some(Unresolved::Missing)),
            (ids[3], Some(Unresolved::LookupFailed)),
            (ids[4], None),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![
            (Unresolved::Unchanged, 2),
            (Unresolved::Missing, 1),
            (Unresolved::LookupFailed, 1)
        ]
    );
    // An event moves one after the look; another ends.
    store
        .change_transfer_status(
            ids[1],
            change(Queued, SentToClearing, Some("e1"), t0() + seconds(101)),
        )
        .await
        .unwrap();
    store
        .change_transfer_status(
            ids[2],
            change(Queued, Rejected, Some("e2"), t0() + seconds(101)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1), (Unresolved::LookupFailed, 1)]
    );
    // The next look found the lookup working again.
    store
        .record_transfer_checks(&[(ids[3], None)])
        .await
        .unwrap();
    assert_eq!(
        store.unresolved_transfers().await.unwrap(),
        vec![(Unresolved::Unchanged, 1)]
    );
}

/// COMPLETE is provisional: a RETURNED whose event never came must still be found, so completed
/// transfers within the return window are sampled after the ones in flight (found by the chaos run).
async fn completed_transfers_within_the_return_window_are_reconciled_after_the_ones_in_flight(
    db: &TestDb,
) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (in_flight, _) = queued(&store, link, account, "in-flight", t0() + seconds(5)).await;
    let (complete, _) = queued(&store, link, account, "complete", t0()).await;
    store
        .change_transfer_status(
            complete.id,
            change(Queued, Complete, Some("e1"), t0() + seconds(1)),
        )
        .await
        .unwrap();
    let ids = |found: Vec<Transfer>| found.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(10), 100)
            .await
            .unwrap()),
        vec![in_flight.id, complete.id]
    );
    assert_eq!(
        ids(store
            .transfers_to_reconcile(t0() + seconds(2), 100)
            .await
            .unwrap()),
        vec![complete.id],
        "not moved since the cutoff"
    );
    let long_after = t0() + chrono::TimeDelta::days(61);
    assert_eq!(
        ids(store.transfers_to_reconcile(long_after, 100).await.unwrap()),
        vec![in_flight.id],
        "past the return window"
    );
}

async fn the_sweep_walks_every_completed_transfer_once_before_any_again(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let mut completed = Vec::new();
    for n in 0..10 {
        let (transfer, _) = queued(&store, link, account, &format!("c{n}"), t0()).await;
        store
            .change_transfer_status(
                transfer.id,
                change(Queued, Complete, Some("e1"), t0() + seconds(n % 3)),
            )
            .await
            .unwrap();
        completed.push(transfer.id);
    }
    // A limit of 8 looks at two COMPLETE transfers a sweep.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let sweep = store
            .transfers_to_reconcile(t0() + seconds(10), 8)
            .await
            .unwrap();
        assert_eq!(sweep.len(), 2);
        seen.extend(sweep.into_iter().map(|t| t.id));
    }
    let mut walked = seen.clone();
    walked.sort();
    walked.dedup();
    assert_eq!(walked.len(), 10, "each once in a walk: {seen:?}");
    completed.sort();
    assert_eq!(walked, completed);
    // The next walk starts over from the oldest.
    let again = store
        .transfers_to_reconcile(t0() + seconds(10), 8)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|t| t.id).collect::<Vec<_>>(), seen[..2]);
}

async fn the_sweep_unparks_transfer_events_parked_after_alpacas_id_was_stored(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (_, provider) = queued(&store, link, account, "k", t0()).await;
    // The applier looked before the id was stored and parks the events after; a foreign transfer
    // and a relationship of the same id space stay parked.
    park(
        &store,
        vec![
            transfer_event("e1", provider),
            transfer_event("e2", provider),
            transfer_event("e3", provider_id()),
        ],
    )
    .await;
    assert!(pending_ids(&store).await.is_empty());
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 2);
    assert_eq!(pending_ids(&store).await, vec!["e1", "e2"]);
    assert_eq!(store.unpark_known_subjects().await.unwrap(), 0);
}

async fn a_transfer_needs_an_existing_link(db: &TestDb) {
    let store = db.store().await;
    let (claim, new) = new_transfer(
        BankLinkId::generate(),
        account(),
        "k",
        "1.00",
        TransferDirection::Deposit,
    );
    assert!(store.begin_transfer(claim, new).await.is_err());
    let raw = db.raw().await;
    assert_eq!(count(&raw, "transfers", Expr::value(true)).await, 0);
    assert_eq!(
        count(&raw, "idempotency_records", Expr::value(true)).await,
        0,
        "the claim is rolled back with it"
    );
}

fn local_cancel(at: DateTime<Utc>) -> TransferChange {
    TransferChange {
        source: "api:cancel".to_owned(),
        ..change(Submitting, Canceled, None, at)
    }
}

async fn an_unsent_transfer_is_cancelled_and_a_sent_one_is_not(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let unsent = deposit(&store, link, account, "unsent").await;
    assert!(
        store
            .cancel_unsent(unsent.id, local_cancel(t0() + seconds(1)))
            .await
            .unwrap()
    );
    let canceled = stored(&store, unsent.id).await;
    assert_eq!(canceled.status, Canceled);
    assert_eq!(history_count(&db.raw().await, unsent.id).await, 1);
    assert!(
        !store
            .cancel_unsent(unsent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, unsent.id).await, canceled);

    let sent = deposit(&store, link, account, "sent").await;
    let fence = claim_submit(&store, sent.id).await;
    assert!(
        store
            .mark_submit_requested(&fence, sent.id, t0() + seconds(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_unsent(sent.id, local_cancel(t0() + seconds(2)))
            .await
            .unwrap(),
        "its create may have reached Alpaca"
    );
    assert_eq!(stored(&store, sent.id).await.status, Submitting);
    assert_eq!(history_count(&db.raw().await, sent.id).await, 0);
}

async fn a_cancel_racing_the_submit_request_lets_exactly_one_win(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    for i in 0..8 {
        let transfer = deposit(&store, link, account, &format!("k{i}")).await;
        let fence = claim_submit(&store, transfer.id).await;
        let (marking, canceling) = (store.clone(), store.clone());
        let id = transfer.id;
        let marked = tokio::spawn(async move {
            marking
                .mark_submit_requested(&fence, id, t0() + seconds(1))
                .await
        });
        let canceled =
            tokio::spawn(async move { canceling.cancel_unsent(id, local_cancel(t0())).await });
        let marked = marked.await.unwrap().unwrap();
        let canceled = canceled.await.unwrap().unwrap();
        assert!(
            marked != canceled,
            "exactly one of them: {marked} {canceled}"
        );
        let after = stored(&store, id).await;
        if marked {
            assert_eq!(after.status, Submitting);
            assert!(after.submit_requested_at.is_some());
        } else {
            assert_eq!(after.status, Canceled);
            assert_eq!(after.submit_requested_at, None);
        }
    }
}

/// Sessions of this test's database that are waiting on a lock.
async fn waiting_on_a_lock(raw: &DatabaseConnection) -> i64 {
    let row = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// On PostgreSQL two transactions of one account can commit in the other order than they started.
/// Here the older transfer's transaction is held open after it wrote its work (its change-log
/// append waits on a lock this test holds), and a newer piece of work of the same account is
/// enqueued and claimed meanwhile. The newer must not be claimable while the older is pending,
/// which it was when order was `created_at_ms`: the older was still invisible, so two submits of
/// one account ran at once and a withdrawal was checked against cash the other was spending.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_of_one_account_is_claimed_in_commit_order_on_postgres() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let key = format!("alpaca:account:{account}");
    let (claim, mut new) = new_transfer(
        link,
        account,
        "older",
        "60.00",
        TransferDirection::Withdrawal,
    );
    new.work.ordering_key = Some(key.clone());
    let older = new.transfer.id;

    let blocker = db.raw().await;
    blocker
        .execute_unprepared(
            "BEGIN; SELECT last FROM change_log_counters WHERE name = 'transfers' FOR UPDATE",
        )
        .await
        .unwrap();
    let watcher = db.raw().await;

    let begin = tokio::spawn({
        let store = store.clone();
        async move { store.begin_transfer(claim, new).await }
    });
    while waiting_on_a_lock(&watcher).await < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let newer = NewWork {
        kind: WorkKind::TransferSubmit,
        subject_id: Uuid::new_v4(),
        ordering_key: Some(key),
        max_attempts: 5,
    };
    let newer_subject = newer.subject_id;
    let jump = tokio::spawn({
        let store = store.clone();
        async move {
            store.enqueue(newer).await?;
            store
                .claim(WorkKind::TransferSubmit, newer_subject, "newer", LEASE)
                .await
        }
    });
    // Either the newer is held back until the older commits (it waits on a lock), or it ran ahead.
    while !jump.is_finished() && waiting_on_a_lock(&watcher).await < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    blocker.execute_unprepared("COMMIT").await.unwrap();

    assert!(matches!(begin.await.unwrap().unwrap(), Begin::Created(_)));
    assert!(
        jump.await.unwrap().unwrap().is_none(),
        "the newer work of the account was claimed while the older was pending"
    );
    assert!(
        store
            .claim(WorkKind::TransferSubmit, older.as_uuid(), "older", LEASE)
            .await
            .unwrap()
            .is_some(),
        "the older is first"
    );
}

/// A batch of event moves and their inbox marks commits as one: when one move finds its transfer
/// elsewhere, or its event already in the history, nothing of the batch is written (the applier
/// then applies the events one by one); otherwise every move, history row, change-log entry and
/// mark is there.
/// Two batches over the same transfers, written at once in opposite orders (a follower whose lease
/// ran out still writing its last batch beside the new holder's): one moves them all and the other
/// is refused whole, and neither fails with a deadlock on PostgreSQL.
async fn batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    for round in 0..3 {
        let mut ids = Vec::new();
        for n in 0..30 {
            let (transfer, _) = queued(&store, link, account, &format!("r{round}-{n}"), t0()).await;
            ids.push(transfer.id);
        }
        let batch = |order: Vec<TransferId>, tag: &str| {
            order
                .into_iter()
                .enumerate()
                .map(|(n, id)| {
                    let event = format!("{tag}-{round}-{n}");
                    (id, change(Queued, Pending, Some(&event), t0() + seconds(1)))
                })
                .collect::<Vec<_>>()
        };
        let forward = batch(ids.clone(), "forward");
        let backward = batch(ids.iter().rev().copied().collect(), "backward");
        let (first, second) = tokio::join!(
            store.apply_transfer_events(forward, Vec::new()),
            store.apply_transfer_events(backward, Vec::new()),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first != second,
            "round {round}: exactly one batch is written"
        );
        for id in &ids {
            assert_eq!(stored(&store, *id).await.status, Pending);
        }
    }
}

async fn a_batch_of_event_moves_is_written_whole_or_not_at_all(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let (a, provider_a) = queued(&store, link, account, "a", t0()).await;
    let (b, provider_b) = queued(&store, link, account, "b", t0()).await;
    store
        .store_events(
            STREAM,
            vec![
                transfer_event("ev-a1", provider_a),
                transfer_event("ev-a2", provider_a),
                transfer_event("ev-b1", provider_b),
            ],
            None,
        )
        .await
        .unwrap();
    let marks = || {
        ["ev-a1", "ev-a2", "ev-b1"]
            .map(|id| InboxMark {
                stream: STREAM.to_owned(),
                event_id: id.to_owned(),
                state: InboxState::Applied,
                error: None,
            })
            .to_vec()
    };
    let raw = db.raw().await;
    let changes_before = count(&raw, "transfer_changes", Expr::val(1).eq(1)).await;

    // B is not COMPLETE: the whole batch is refused, A's two good moves included.
    let refused = vec![
        (
            a.id,
            change(Queued, Pending, Some("ev-a1"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Pending, SentToClearing, Some("ev-a2"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Complete, Returned, Some("ev-b1"), t0() + seconds(3)),
        ),
    ];
    assert!(!store.apply_transfer_events(refused, marks()).await.unwrap());
    assert_eq!(stored(&store, a.id).await.status, Queued);
    assert_eq!(history_count(&raw, a.id).await, 1);
    assert_eq!(
        count(&raw, "transfer_changes", Expr::val(1).eq(1)).await,
        changes_before
    );
    assert_eq!(pending_ids(&store).await, ["ev-a1", "ev-a2", "ev-b1"]);

    let applied = vec![
        (
            a.id,
            change(Queued, Pending, Some("ev-a1"), t0() + seconds(1)),
        ),
        (
            a.id,
            change(Pending, SentToClearing, Some("ev-a2"), t0() + seconds(2)),
        ),
        (
            b.id,
            change(Queued, Pending, Some("ev-b1"), t0() + seconds(3)),
        ),
    ];
    assert!(store.apply_transfer_events(applied, marks()).await.unwrap());
    assert_eq!(stored(&store, a.id).await.status, SentToClearing);
    assert_eq!(stored(&store, b.id).await.status, Pending);
    assert_eq!(history_count(&raw, a.id).await, 3);
    assert_eq!(history_count(&raw, b.id).await, 2);
    assert_eq!(
        count(&raw, "transfer_changes", Expr::val(1).eq(1)).await,
        changes_before + 3,
        "every move is in the change log"
    );
    assert!(pending_ids(&store).await.is_empty(), "every mark is stored");
    // The log holds each step as that move left the transfer, in order, with its outbox row.
    let log = store
        .transfer_events(account, Some(a.id), 0, 100)
        .await
        .unwrap();
    let steps: Vec<_> = log.iter().map(|e| e.transfer.status.clone()).collect();
    assert_eq!(steps, [Submitting, Queued, Pending, SentToClearing]);
    assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    let last = log.last().unwrap();
    assert_eq!(last.transfer, stored(&store, a.id).await);
    assert_eq!(
        log[2].transfer.updated_at,
        chrono::SubsecRound::trunc_subsecs(t0() + seconds(1), 6),
        "stored to the microsecond, as every move is"
    );
    assert_eq!(
        count(&raw, "outbox", Expr::col("resource_id").eq(a.id.as_uuid())).await,
        4,
        "an outbox row for every logged change"
    );
    for entry in &log {
        let id = format!("{}:{}", a.id.as_uuid(), entry.seq);
        assert_eq!(
            count(&raw, "outbox", Expr::col("id").eq(id.as_str())).await,
            1,
            "the outbox row of change {id}, named by its transfer and number"
        );
    }

    // A replayed event (its id already in A's history) refuses the batch even from A's status.
    let replayed = vec![(
        a.id,
        change(SentToClearing, Complete, Some("ev-a2"), t0() + seconds(4)),
    )];
    assert!(
        !store
            .apply_transfer_events(replayed, Vec::new())
            .await
            .unwrap()
    );
    assert_eq!(stored(&store, a.id).await.status, SentToClearing);
    assert_eq!(history_count(&raw, a.id).await, 3);
}

/// A repeat of a create is answered from a read: it neither waits for nor needs the write lock.
/// Here another connection holds SQLite's write lock for the whole call; a repeat that claimed
/// its key in a write transaction would wait out the busy timeout and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_is_answered_while_another_writer_holds_the_database() {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait as _};
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let first = deposit(&store, link, account, "repeat-me").await;

    let raw = db.raw().await;
    let holder = raw
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .unwrap();
    let (claim, new) = new_transfer(
        link,
        account,
        "repeat-me",
        "100.00",
        TransferDirection::Deposit,
    );
    match store.begin_transfer(claim, new).await.unwrap() {
        Begin::Existing {
            fingerprint,
            resource,
        } => {
            assert_eq!(resource.id, first.id);
            assert_eq!(fingerprint, "repeat-me:100.00");
        }
        Begin::Created(_) => panic!("a repeat created a second transfer"),
    }
    holder.rollback().await.unwrap();
}

on_both_backends!(
    a_batch_of_event_moves_is_written_whole_or_not_at_all,
    batches_of_one_set_of_transfers_in_opposite_orders_never_deadlock,
    a_new_key_creates_the_transfer_as_given,
    amounts_round_trip_exactly,
    a_row_the_domain_would_refuse_is_corrupt,
    twenty_concurrent_begins_with_one_key_create_exactly_one_transfer,
    the_submit_request_is_recorded_only_while_submitting_and_fenced,
    saving_alpacas_id_moves_the_transfer_and_unparks_its_events,
    alpacas_id_held_by_another_transfer_is_refused,
    eight_concurrent_saves_of_one_alpaca_id_save_exactly_one,
    an_unsubmitted_transfer_ends_failed_once,
    a_replayed_event_moves_once_and_a_return_keeps_its_code,
    moves_without_event_ids_are_all_recorded,
    list_filters_and_pages_in_creation_order,
    the_reconciler_sees_transfers_alpaca_has_that_have_not_moved_since_the_cutoff,
    every_transfer_in_flight_is_taken_once_before_any_is_taken_again,
    every_due_transfer_of_the_accounts_listed_is_taken_with_them,
    two_replicas_taking_at_once_never_take_the_same_transfer,
    what_a_look_found_is_counted_until_the_transfer_moves,
    completed_transfers_within_the_return_window_are_reconciled_after_the_ones_in_flight,
    the_sweep_walks_every_completed_transfer_once_before_any_again,
    the_sweep_unparks_transfer_events_parked_after_alpacas_id_was_stored,
    a_transfer_needs_an_existing_link,
    an_unsent_transfer_is_cancelled_and_a_sent_one_is_not,
    a_cancel_racing_the_submit_request_lets_exactly_one_win,
);
