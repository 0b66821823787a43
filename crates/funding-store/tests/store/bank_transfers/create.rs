//! Creating a bank transfer: once per idempotency key (however many begin at once) with its submit
//! work and first history entry; every request and Plaid field read back as it went in; the
//! processor token sealed; a row the domain would refuse read as corrupt; and the database's own
//! checks on the status and on Plaid's id.

use funding_core::model::BankTransfer;
use funding_core::ports::{
    BankTransferChange, BankTransferStore as _, Begin, PlaidAnswerSaved, PlaidBankTransfer,
    StoreError, WorkKind,
};
use funding_domain::PlaidBankTransferStatus::{self, Pending, Submitting};
use funding_domain::{BankTransferId, BankTransferRequest};
use funding_store::{BANK_TRANSFER_STATUSES, BANK_TRANSFER_STATUSES_WITH_REVIEW, Cipher};
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use crate::support::bank_transfers::{
    OPERATION, PROCESSOR, answered, bare_draft, bare_plaid, begin, claim_submit, created, draft,
    micros, new_from, pending, plaid, plaid_id, stored,
};
use crate::support::{Backend, CALLER, TestDb, contains, count, seconds, t0};

#[test]
fn the_status_check_admits_exactly_the_domain_statuses() {
    let domain: Vec<&str> = PlaidBankTransferStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        BANK_TRANSFER_STATUSES_WITH_REVIEW.to_vec(),
        domain,
        "a new status needs a migration that widens the CHECK"
    );
    assert!(
        BANK_TRANSFER_STATUSES
            .iter()
            .all(|status| BANK_TRANSFER_STATUSES_WITH_REVIEW.contains(status))
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

async fn the_database_refuses_an_unknown_status_and_a_second_holder_of_plaids_id(db: &TestDb) {
    let store = db.store().await;
    let (first, ours) = pending(&store, "first", t0()).await;
    let second = created(&store, "second").await;
    let raw = db.raw().await;
    let set = |id: BankTransferId, column: &'static str, value: &str| {
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
    a_new_key_creates_the_bank_transfer_as_given,
    every_request_and_plaid_field_round_trips,
    the_processor_token_is_not_stored_in_plaintext,
    a_row_the_domain_would_refuse_is_corrupt,
    twenty_concurrent_begins_with_one_key_create_exactly_one_bank_transfer,
    the_database_refuses_an_unknown_status_and_a_second_holder_of_plaids_id,
);
