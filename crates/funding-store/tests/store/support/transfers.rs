//! Transfer fixtures: a new SUBMITTING transfer over a link with its claim and submit work, the
//! link it moves money over, Alpaca's id and status changes, Alpaca's events parked in the inbox,
//! and reads that go around the port.

use chrono::{DateTime, Utc};
use funding_core::model::Transfer;
use funding_core::ports::{
    Begin, Claim, FundingEntity, FundingEvent, IdempotencyClaim, InboxState, InboxStore as _,
    IncomingEvent, NewTransfer, NewWork, TransferChange, TransferDirection, TransferSaved,
    TransferStore as _, WorkKind, WorkQueue as _,
};
use funding_domain::AlpacaTransferStatus::{self, Queued, Submitting};
use funding_domain::{
    AccountId, AchRelationshipId, AlpacaTransferId, Amount, BankLinkId, IdempotencyKey, TransferId,
};
use funding_store::Store;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use uuid::Uuid;

use crate::support::{CALLER, LEASE, account, count, created_link, t0};

pub const OPERATION: &str = "CreateTransfer";
pub const STREAM: &str = "alpaca:funding";

/// A new SUBMITTING transfer over `link` under `key`, with its claim; the fingerprint names the
/// amount, so that another payload under the same key has another fingerprint.
pub fn new_transfer(
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
        risk: None,
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
pub async fn link(store: &Store) -> (BankLinkId, AccountId) {
    let account = account();
    (created_link(store, account, "link-key").await.id, account)
}

pub async fn created(
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

pub async fn deposit(store: &Store, link: BankLinkId, account: AccountId, key: &str) -> Transfer {
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
pub async fn claim_submit(store: &Store, id: TransferId) -> Claim {
    store
        .claim(WorkKind::TransferSubmit, id.as_uuid(), "owner", LEASE)
        .await
        .unwrap()
        .expect("the transfer's work is claimable")
        .claim
}

pub fn change(
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

pub fn submitted(at: DateTime<Utc>) -> TransferChange {
    TransferChange {
        source: "alpaca:create".to_owned(),
        ..change(Submitting, Queued, None, at)
    }
}

pub fn provider_id() -> AlpacaTransferId {
    AlpacaTransferId::from_uuid(Uuid::new_v4())
}

/// Creates a transfer and stores Alpaca's id for it (QUEUED at `at`).
pub async fn queued(
    store: &Store,
    link: BankLinkId,
    account: AccountId,
    key: &str,
    at: DateTime<Utc>,
) -> (Transfer, AlpacaTransferId) {
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

pub async fn history_count(db: &DatabaseConnection, id: TransferId) -> i64 {
    count(
        db,
        "transfer_status_history",
        Expr::col("transfer_id").eq(id.as_uuid()),
    )
    .await
}

pub async fn stored(store: &Store, id: TransferId) -> Transfer {
    store.get_transfer(id).await.unwrap().expect("the transfer")
}

pub fn transfer_event(id: &str, provider: AlpacaTransferId) -> IncomingEvent {
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

pub async fn park(store: &Store, events: Vec<IncomingEvent>) {
    let ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    store.store_events(STREAM, events, None).await.unwrap();
    for id in ids {
        store
            .mark_event(STREAM, &id, InboxState::ParkedNoSubject, None)
            .await
            .unwrap();
    }
}

pub async fn pending_ids(store: &Store) -> Vec<String> {
    store
        .pending_events(STREAM, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect()
}
