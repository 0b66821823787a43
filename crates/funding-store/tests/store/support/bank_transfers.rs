//! Bank transfer fixtures: request drafts (every field, or only the required ones), a new
//! SUBMITTING bank transfer with its claim and submit work, Plaid's answer and object, status
//! changes, Plaid's sync events parked in the inbox, and reads that go around the port.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use funding_core::model::BankTransfer;
use funding_core::ports::{
    BankTransferChange, BankTransferStore as _, Begin, Claim, IdempotencyClaim, InboxState,
    InboxStore as _, NewBankTransfer, NewWork, PLAID_BANK_TRANSFER_STREAM, PlaidAnswerSaved,
    PlaidBankTransfer, PlaidBankTransferEvent, SyncedPlaidEvent, WorkKind, WorkQueue as _,
};
use funding_domain::OrUnknown::Known;
use funding_domain::PlaidBankTransferStatus::{self, Pending, Posted, Submitting};
use funding_domain::{
    AchClass, Amount, BankTransferDirection, BankTransferDraft, BankTransferId,
    BankTransferRequest, BankTransferType, BankTransferUserDraft, Network, PlaidBankTransferId,
};
use funding_store::Store;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use uuid::Uuid;

use crate::support::{CALLER, LEASE, count, seconds, t0};

pub const OPERATION: &str = "CreateBankTransfer";
pub const PROCESSOR: &str = "processor-sandbox-0asd1-a92nc-5f3e4d9b1a7c";

/// Every field of the request given, or only the required ones.
pub fn draft(key: &str, amount: &str, origination: Option<&str>) -> BankTransferDraft {
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

pub fn bare_draft(key: &str) -> BankTransferDraft {
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
pub fn new_from(
    caller: &str,
    draft: &BankTransferDraft,
    at: DateTime<Utc>,
) -> (IdempotencyClaim, NewBankTransfer) {
    let request = BankTransferRequest::parse(draft).unwrap();
    let transfer = BankTransfer {
        id: BankTransferId::generate(),
        caller: caller.to_owned(),
        request,
        status: Submitting,
        plaid: None,
        status_reason: None,
        failure_code: None,
        submit_requested_at: None,
        risk: None,
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

pub async fn begin(store: &Store, claim: IdempotencyClaim, new: NewBankTransfer) -> BankTransfer {
    match store.begin_bank_transfer(claim, new).await.unwrap() {
        Begin::Created(transfer) => transfer,
        Begin::Existing { .. } => panic!("the key was used before"),
    }
}

pub async fn created(store: &Store, key: &str) -> BankTransfer {
    let (claim, new) = new_from(CALLER, &draft(key, "12.34", None), t0());
    begin(store, claim, new).await
}

/// Claims the `bank_transfer_submit` work `begin_bank_transfer` wrote: the fence of its writes.
pub async fn claim_submit(store: &Store, id: BankTransferId) -> Claim {
    store
        .claim(WorkKind::BankTransferSubmit, id.as_uuid(), "owner", LEASE)
        .await
        .unwrap()
        .expect("the bank transfer's work is claimable")
        .claim
}

pub fn change(
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
pub fn answered(at: DateTime<Utc>) -> BankTransferChange {
    BankTransferChange {
        cancellable: true,
        source: "plaid:create".to_owned(),
        ..change(Submitting, Pending, None, at)
    }
}

pub fn plaid_id() -> PlaidBankTransferId {
    PlaidBankTransferId::parse(&Uuid::new_v4().to_string()).unwrap()
}

/// Plaid's object with every field set.
pub fn plaid(
    id: &PlaidBankTransferId,
    origination: Option<&str>,
    direction: Option<&str>,
) -> PlaidBankTransfer {
    PlaidBankTransfer {
        id: id.clone(),
        ach_class: Some(Known(AchClass::Web)),
        account_id: "3MqrrrP5pWUGgmnvaQlPu19R6DvwPRHwNbLr9".to_owned(),
        transfer_type: Known(BankTransferType::Debit),
        user_legal_name: "Jane Q. Doe-Smith".to_owned(),
        user_email_address: Some("jane@example.com".to_owned()),
        user_routing_number: Some("011401533".to_owned()),
        amount: Amount::parse("12.34").unwrap().as_decimal(),
        iso_currency_code: "USD".to_owned(),
        description: "Deposit".to_owned(),
        created: t0() + seconds(1),
        status: Pending,
        network: Known(Network::SameDayAch),
        cancellable: true,
        failure_reason: None,
        custom_tag: Some("tag \"quoted\" ünïcode".to_owned()),
        metadata: BTreeMap::from([
            ("note".to_owned(), "line\nbreak, {json}".to_owned()),
            ("order".to_owned(), "A-1".to_owned()),
        ]),
        origination_account_id: origination.map(str::to_owned),
        direction: direction.map(|text| Known(BankTransferDirection::parse(text).unwrap())),
    }
}

/// Plaid's object with every optional field absent.
pub fn bare_plaid(id: &PlaidBankTransferId) -> PlaidBankTransfer {
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
pub async fn pending(
    store: &Store,
    key: &str,
    at: DateTime<Utc>,
) -> (BankTransfer, PlaidBankTransferId) {
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

pub async fn stored(store: &Store, id: BankTransferId) -> BankTransfer {
    store
        .get_bank_transfer(id)
        .await
        .unwrap()
        .expect("the bank transfer")
}

pub async fn history_count(db: &DatabaseConnection, id: BankTransferId) -> i64 {
    count(
        db,
        "bank_transfer_status_history",
        Expr::col("bank_transfer_id").eq(id.as_uuid()),
    )
    .await
}

pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn plaid_event(id: u64, transfer: &PlaidBankTransferId) -> SyncedPlaidEvent {
    let event = PlaidBankTransferEvent {
        event_id: id,
        timestamp: t0() + seconds(2),
        event_type: Posted,
        account_id: "3MqrrrP5pWUGgmnvaQlPu19R6DvwPRHwNbLr9".to_owned(),
        bank_transfer_id: transfer.clone(),
        origination_account_id: None,
        bank_transfer_type: Known(BankTransferType::Debit),
        bank_transfer_amount: Amount::parse("12.34").unwrap().as_decimal(),
        bank_transfer_iso_currency_code: "USD".to_owned(),
        failure_reason: None,
        direction: Some(Known(BankTransferDirection::Inbound)),
    };
    SyncedPlaidEvent::read(event)
}

/// Stores the events (the cursor at the largest) and parks them for lack of their subject.
pub async fn park(store: &Store, events: Vec<SyncedPlaidEvent>) {
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

pub async fn pending_event_ids(store: &Store) -> Vec<u64> {
    store
        .pending_plaid_events(100)
        .await
        .unwrap()
        .into_iter()
        .map(|pending| pending.event.event_id)
        .collect()
}
