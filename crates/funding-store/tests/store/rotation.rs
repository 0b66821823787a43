//! Key rotation: every sealed column of every table moves from key 1 to key 2, reads back through a
//! cipher with key 2 current and key 1 old and then with key 2 alone; an interrupted rotation
//! resumes to the end; a value under a key that is not configured fails naming the key id.

use std::ops::ControlFlow;

use funding_core::model::BankTransfer;
use funding_core::ports::{
    BankTransferStore as _, Begin, IdempotencyClaim, LinkSecretStore as _, NewBankTransfer,
    NewWork, StoreError, WorkKind,
};
use funding_domain::PlaidBankTransferStatus::Submitting;
use funding_domain::{
    AccessToken, BankLinkId, BankTransferDraft, BankTransferId, BankTransferRequest,
    BankTransferUserDraft, PlaidItemId, ProcessorToken,
};
use funding_store::{Cipher, RotationProgress, Store};
use sea_orm::ConnectionTrait as _;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::Query;

use crate::support::{PUBLIC_TOKEN, TestDb, account, claim_link, created_link, t0};

const ACCESS: &str = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6";
const PROCESSOR: &str = "processor-sandbox-0asd1-a92nc-5f3e4d9b1a7c";
const TRANSFER_PROCESSOR: &str = "processor-sandbox-77aa1-b00c-5f3e4d9b1a7c";

fn draft(key: &str) -> BankTransferDraft {
    BankTransferDraft {
        idempotency_key: key.to_owned(),
        processor_token: TRANSFER_PROCESSOR.to_owned(),
        transfer_type: "credit".to_owned(),
        network: "ach".to_owned(),
        amount: "1.00".to_owned(),
        iso_currency_code: "USD".to_owned(),
        description: "Payout".to_owned(),
        ach_class: Some("ppd".to_owned()),
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

async fn bank_transfer(store: &Store, key: &str) -> BankTransferId {
    let transfer = BankTransfer {
        id: BankTransferId::generate(),
        caller: "rotation-test".to_owned(),
        request: BankTransferRequest::parse(&draft(key)).unwrap(),
        status: Submitting,
        plaid: None,
        status_reason: None,
        failure_code: None,
        submit_requested_at: None,
        risk: None,
        plaid_idempotency_key: None,
        created_at: t0(),
        updated_at: t0(),
    };
    let claim = IdempotencyClaim {
        caller: "rotation-test".to_owned(),
        operation: "CreateBankTransfer",
        key: key.to_owned(),
        fingerprint: key.to_owned(),
    };
    let work = NewWork {
        kind: WorkKind::BankTransferSubmit,
        subject_id: transfer.id.as_uuid(),
        ordering_key: None,
        max_attempts: 5,
    };
    match store
        .begin_bank_transfer(claim, NewBankTransfer { transfer, work })
        .await
        .unwrap()
    {
        Begin::Created(transfer) => transfer.id,
        Begin::Existing { .. } => panic!("{key} was used before"),
    }
}

/// What key 1 wrote: `links` links, every other one exchanged (access and processor tokens, the
/// others keep their public token), and `transfers` bank transfers.
struct Written {
    exchanged: Vec<BankLinkId>,
    pending: Vec<BankLinkId>,
    transfers: Vec<BankTransferId>,
}

async fn write_under(store: &Store, links: usize, transfers: usize) -> Written {
    let account = account();
    let mut written = Written {
        exchanged: Vec::new(),
        pending: Vec::new(),
        transfers: Vec::new(),
    };
    for n in 0..links {
        let link = created_link(store, account, &format!("link-{n}")).await;
        if n % 2 == 0 {
            let fence = claim_link(store, link.id).await;
            store
                .save_exchange(
                    &fence,
                    link.id,
                    &AccessToken::parse(ACCESS).unwrap(),
                    &PlaidItemId::parse("Ed6bjNrDLJfGvZWwnkQlfxwoNz54B5C97ejBr").unwrap(),
                )
                .await
                .unwrap();
            store
                .save_processor_token(&fence, link.id, &ProcessorToken::parse(PROCESSOR).unwrap())
                .await
                .unwrap();
            written.exchanged.push(link.id);
        } else {
            written.pending.push(link.id);
        }
    }
    for n in 0..transfers {
        written
            .transfers
            .push(bank_transfer(store, &format!("transfer-{n}")).await);
    }
    written
}

async fn assert_readable(store: &Store, written: &Written) {
    for id in &written.exchanged {
        let secrets = store.link_secrets(*id).await.unwrap();
        assert_eq!(
            secrets.access_token.as_ref().map(|t| t.expose_secret()),
            Some(ACCESS)
        );
        assert_eq!(
            secrets.processor_token.as_ref().map(|t| t.expose_secret()),
            Some(PROCESSOR)
        );
    }
    for id in &written.pending {
        let secrets = store.link_secrets(*id).await.unwrap();
        assert_eq!(
            secrets.public_token.as_ref().map(|t| t.expose_secret()),
            Some(PUBLIC_TOKEN)
        );
    }
    for id in &written.transfers {
        let transfer = store.get_bank_transfer(*id).await.unwrap().unwrap();
        assert_eq!(
            transfer.request.processor_token().expose_secret(),
            TRANSFER_PROCESSOR
        );
    }
}

/// The key id in the header of every sealed value in the database (format 2: after the version
/// and length bytes).
async fn key_ids(raw: &DatabaseConnection) -> Vec<String> {
    let mut ids = Vec::new();
    for (table, columns) in [
        (
            "bank_links",
            &["access_token", "processor_token", "public_token"][..],
        ),
        ("bank_transfers", &["processor_token"][..]),
    ] {
        let query = Query::select()
            .columns(columns.iter().copied())
            .from(table)
            .to_owned();
        for row in raw.query_all(&query).await.unwrap() {
            for column in columns {
                if let Some(sealed) = row.try_get::<Option<Vec<u8>>>("", column).unwrap() {
                    assert_eq!(sealed[0], 2, "format 2 names its key");
                    let len = usize::from(sealed[1]);
                    ids.push(String::from_utf8(sealed[2..2 + len].to_vec()).unwrap());
                }
            }
        }
    }
    ids
}

async fn rows_written_under_key_1_read_back_after_rotation_to_key_2(db: &TestDb) {
    let key1 = db.cipher();
    let key2 = Cipher::generate();
    let store1 = db.store_with(key1.clone()).await;
    let written = write_under(&store1, 5, 3).await;
    let raw = db.raw().await;
    let before = key_ids(&raw).await;
    assert_eq!(before.len(), 3 * 2 + 2 + 3, "every sealed value is counted");
    assert!(before.iter().all(|id| id == key1.key_id()));

    let mut lines = Vec::new();
    let report = store1
        .rotate_key(&key2, 2, |progress: &RotationProgress| {
            lines.push(progress.clone());
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!(report.rotated, 11);
    assert_eq!(report.already_current, 0);
    assert_eq!(report.changed_meanwhile, 0);
    // Five links in batches of two, three transfers in batches of two.
    assert_eq!(report.batches, 3 + 2);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|line| line.rows <= 2));
    assert!(key_ids(&raw).await.iter().all(|id| id == key2.key_id()));

    // The new key current, the old one kept to open anything written meanwhile.
    let both = db.store_with(key2.clone().with_old_key(&key1)).await;
    assert_readable(&both, &written).await;
    // The old key dropped.
    let only2 = db.store_with(key2.clone()).await;
    assert_readable(&only2, &written).await;

    // Running it again does nothing: every value is under key 2 already.
    let again = only2
        .rotate_key(&key2, 200, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(again.complete);
    assert_eq!((again.rotated, again.already_current), (0, 11));
}

async fn an_interrupted_rotation_resumes_to_the_end(db: &TestDb) {
    let key1 = db.cipher();
    let key2 = Cipher::generate();
    let store1 = db.store_with(key1.clone()).await;
    let written = write_under(&store1, 6, 2).await;
    let raw = db.raw().await;

    let stopped = store1
        .rotate_key(&key2, 2, |_| ControlFlow::Break(()))
        .await
        .unwrap();
    assert!(!stopped.complete);
    assert_eq!(stopped.batches, 1);
    let ids = key_ids(&raw).await;
    let moved = ids.iter().filter(|id| *id == key2.key_id()).count();
    assert_eq!(moved as u64, stopped.rotated);
    assert!(moved > 0 && moved < ids.len(), "one batch only: {moved}");
    // Half-way, a store with both keys reads everything.
    let both = db.store_with(key2.clone().with_old_key(&key1)).await;
    assert_readable(&both, &written).await;

    // Resumed by the store that has key 2 current and key 1 old (the operator switched meanwhile).
    let resumed = both
        .rotate_key(&key2, 2, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.already_current, stopped.rotated);
    assert_eq!(resumed.rotated + stopped.rotated, ids.len() as u64);
    assert!(key_ids(&raw).await.iter().all(|id| id == key2.key_id()));
    assert_readable(&db.store_with(key2).await, &written).await;
}

async fn a_value_under_an_unknown_key_fails_naming_the_key_id(db: &TestDb) {
    let key1 = db.cipher();
    let store1 = db.store_with(key1.clone()).await;
    let written = write_under(&store1, 1, 1).await;
    let stranger = db.store_with(Cipher::generate()).await;

    let error = stranger
        .link_secrets(written.exchanged[0])
        .await
        .unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(matches!(error, StoreError::Corrupt(_)), "{message}");
    assert!(message.contains(key1.key_id()), "{message}");
    assert!(message.contains("not configured"), "{message}");
    assert!(!message.contains(ACCESS) && !message.contains(PROCESSOR));
    let error = stranger
        .get_bank_transfer(written.transfers[0])
        .await
        .unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(message.contains(key1.key_id()), "{message}");
    assert!(!message.contains(TRANSFER_PROCESSOR));

    // Rotation refuses it too, naming the key, and changes nothing.
    let raw = db.raw().await;
    let error = stranger
        .rotate_key(&Cipher::generate(), 200, |_| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(matches!(error, StoreError::Corrupt(_)), "{message}");
    assert!(message.contains(key1.key_id()), "{message}");
    assert!(!message.contains(ACCESS) && !message.contains(PUBLIC_TOKEN));
    assert!(key_ids(&raw).await.iter().all(|id| id == key1.key_id()));
}

on_both_backends!(
    rows_written_under_key_1_read_back_after_rotation_to_key_2,
    an_interrupted_rotation_resumes_to_the_end,
    a_value_under_an_unknown_key_fails_naming_the_key_id,
);
