//! The schema: migrations apply once however often they run (even from two replicas at once), and
//! the database itself refuses rows that break the invariants the code relies on.

use funding_core::ports::{InboxState, Unresolved, WorkKind};
use funding_domain::AchRelationshipStatus;
use funding_store::{
    BANK_LINK_STATUSES, INBOX_STATES, INBOX_STATES_WITH_FOREIGN, RECONCILE_ISSUES, WORK_KINDS,
    WORK_KINDS_WITH_RETURNS,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::support::{TestDb, account, count, created_link, t0};

/// Inserts a link row directly, bypassing the store.
async fn insert_raw_link(
    db: &DatabaseConnection,
    id: Uuid,
    key: &str,
    status: &str,
    relationship: Option<Uuid>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("bank_links")
        .columns([
            "id",
            "caller",
            "idempotency_key",
            "account_id",
            "plaid_account_id",
            "status",
            "ach_relationship_id",
            "created_at",
            "updated_at",
        ])
        .values_panic([
            Expr::value(id),
            Expr::value("raw-caller"),
            Expr::value(key),
            Expr::value(Uuid::new_v4()),
            Expr::value("plaid-account"),
            Expr::value(status),
            Expr::value(relationship),
            Expr::value(t0()),
            Expr::value(t0()),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

#[test]
fn the_status_check_admits_exactly_the_domain_statuses() {
    let domain: Vec<&str> = AchRelationshipStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let mut domain_sorted = domain.clone();
    domain_sorted.sort_unstable();
    let mut schema = BANK_LINK_STATUSES.to_vec();
    schema.sort_unstable();
    assert_eq!(
        schema, domain_sorted,
        "a new status needs a migration that widens the CHECK"
    );
}

#[test]
fn the_work_kind_check_admits_exactly_the_core_kinds() {
    let core: Vec<&str> = WorkKind::ALL.iter().map(|kind| kind.as_str()).collect();
    assert_eq!(
        WORK_KINDS_WITH_RETURNS.to_vec(),
        core,
        "a new kind of work needs a migration that widens the CHECK"
    );
    assert!(
        WORK_KINDS
            .iter()
            .all(|kind| WORK_KINDS_WITH_RETURNS.contains(kind))
    );
    for kind in WorkKind::ALL {
        assert_eq!(WorkKind::parse(kind.as_str()), Some(kind));
    }
}

#[test]
fn the_inbox_state_check_admits_exactly_the_core_states() {
    let core: Vec<&str> = InboxState::ALL.iter().map(|state| state.as_str()).collect();
    assert_eq!(
        INBOX_STATES_WITH_FOREIGN.to_vec(),
        core,
        "a new inbox state needs a migration that widens the CHECK"
    );
    assert!(
        INBOX_STATES
            .iter()
            .all(|state| INBOX_STATES_WITH_FOREIGN.contains(state)),
        "migration 000014 only widened the CHECK"
    );
    for state in InboxState::ALL {
        assert_eq!(InboxState::parse(state.as_str()), Some(state));
    }
}

#[test]
fn the_reconcile_issue_check_admits_exactly_the_core_reasons() {
    let core: Vec<&str> = Unresolved::ALL
        .iter()
        .map(|reason| reason.as_str())
        .collect();
    assert_eq!(
        RECONCILE_ISSUES.to_vec(),
        core,
        "a new reason needs a migration that widens the CHECKs"
    );
}

async fn migrations_run_twice_without_error(db: &TestDb) {
    let store = db.store().await;
    store.migrate().await.expect("a second run is a no-op");
    db.store()
        .await
        .migrate()
        .await
        .expect("and so is a third, from another store");
    let link = created_link(&store, account(), "after-migrations").await;
    assert_eq!(link.status, AchRelationshipStatus::Creating);
}

async fn replicas_starting_together_migrate_once(db: &TestDb) {
    let first = db.unmigrated_store(db.cipher()).await;
    let second = db.unmigrated_store(db.cipher()).await;
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    a.expect("first replica migrates");
    b.expect("second replica migrates");
    let raw = db.raw().await;
    let every_migration =
        i64::try_from(<funding_store::Migrator as migration::MigratorTrait>::migrations().len())
            .unwrap();
    assert_eq!(
        count(&raw, "seaql_migrations", Expr::value(true)).await,
        every_migration,
        "each migration applied once"
    );
}

async fn an_unknown_status_is_refused_by_the_database(db: &TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    insert_raw_link(&raw, Uuid::now_v7(), "k-known", "CREATING", None)
        .await
        .expect("a row with a known status is accepted");
    insert_raw_link(&raw, Uuid::now_v7(), "k-unknown", "ON_HOLD", None)
        .await
        .expect_err("an unknown status is refused");
    insert_raw_link(&raw, Uuid::now_v7(), "k-lower", "creating", None)
        .await
        .expect_err("statuses are case-sensitive");
}

async fn a_second_link_with_the_same_caller_and_key_is_refused(db: &TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    insert_raw_link(&raw, Uuid::now_v7(), "same-key", "CREATING", None)
        .await
        .expect("first");
    insert_raw_link(&raw, Uuid::now_v7(), "same-key", "CREATING", None)
        .await
        .expect_err("UNIQUE(caller, idempotency_key)");
}

async fn a_relationship_id_belongs_to_one_link_only(db: &TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    let relationship = Uuid::new_v4();
    insert_raw_link(&raw, Uuid::now_v7(), "k1", "QUEUED", Some(relationship))
        .await
        .expect("first");
    insert_raw_link(&raw, Uuid::now_v7(), "k2", "QUEUED", Some(relationship))
        .await
        .expect_err("UNIQUE(ach_relationship_id)");
    insert_raw_link(&raw, Uuid::now_v7(), "k3", "CREATING", None)
        .await
        .expect("links without a relationship yet are many");
    insert_raw_link(&raw, Uuid::now_v7(), "k4", "CREATING", None)
        .await
        .expect("links without a relationship yet are many");
}

async fn history_rows_need_an_existing_link(db: &TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    let insert = Query::insert()
        .into_table("bank_link_status_history")
        .columns(["id", "link_id", "from_status", "to_status", "source", "at"])
        .values_panic([
            Expr::value(Uuid::now_v7()),
            Expr::value(Uuid::now_v7()),
            Expr::value("CREATING"),
            Expr::value("QUEUED"),
            Expr::value("test"),
            Expr::value(t0()),
        ])
        .to_owned();
    raw.execute(&insert)
        .await
        .expect_err("the foreign key refuses a history row of no link");
}

async fn a_required_column_cannot_be_null(db: &TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    let insert = Query::insert()
        .into_table("idempotency_records")
        .columns([
            "caller",
            "operation",
            "idempotency_key",
            "resource_id",
            "created_at",
        ])
        .values_panic([
            Expr::value("c"),
            Expr::value("op"),
            Expr::value("k"),
            Expr::value("r"),
            Expr::value(t0()),
        ])
        .to_owned();
    raw.execute(&insert)
        .await
        .expect_err("fingerprint is NOT NULL");
}

/// An inbox row through raw SQL.
async fn insert_inbox_row(
    db: &DatabaseConnection,
    event_id: &str,
    state: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("inbox_events")
        .columns([
            "stream",
            "event_id",
            "entity_type",
            "entity_id",
            "payload",
            "state",
            "attempts",
            "received_at_ms",
        ])
        .values_panic([
            Expr::value("alpaca:funding_status"),
            Expr::value(event_id),
            Expr::value("BankRelationship"),
            Expr::value(Uuid::new_v4().to_string()),
            Expr::value("{}"),
            Expr::value(state),
            Expr::value(0),
            Expr::value(1_767_225_600_000i64),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Migration 000014 on a database that already holds events and a lease: every event survives
/// (SQLite rebuilds the table to widen its CHECK), `foreign` is admitted and anything unknown is
/// still refused, and a lease held across the upgrade keeps its expiry in `lease_until_ms`.
async fn the_inbox_upgrade_keeps_every_event_and_admits_foreign(db: &TestDb) {
    use migration::MigratorTrait as _;
    // Connecting creates the SQLite file.
    let _unmigrated = db.unmigrated_store(db.cipher()).await;
    let raw = db.raw().await;
    let before = funding_store::Migrator::migrations()
        .iter()
        .position(|m| m.name().contains("_000014_"))
        .expect("migration 000014");
    funding_store::Migrator::up(&raw, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    for (id, state) in [
        ("e1", "pending"),
        ("e2", "parked_no_subject"),
        ("e3", "applied"),
    ] {
        insert_inbox_row(&raw, id, state).await.unwrap();
    }
    insert_inbox_row(&raw, "too-early", "foreign")
        .await
        .expect_err("not before 000014");
    let until = t0() + chrono::TimeDelta::seconds(15);
    raw.execute(
        &Query::insert()
            .into_table("stream_leases")
            .columns(["stream", "owner", "lease_until"])
            .values_panic([
                Expr::value("alpaca:funding_status"),
                Expr::value("old-replica"),
                Expr::value(until),
            ])
            .to_owned(),
    )
    .await
    .unwrap();

    db.store().await;
    assert_eq!(count(&raw, "inbox_events", Expr::value(true)).await, 3);
    for state in ["pending", "parked_no_subject", "applied"] {
        assert_eq!(
            count(&raw, "inbox_events", Expr::col("state").eq(state)).await,
            1,
            "{state}"
        );
    }
    insert_inbox_row(&raw, "e4", "foreign")
        .await
        .expect("foreign is admitted");
    insert_inbox_row(&raw, "e5", "bogus")
        .await
        .expect_err("an unknown state is still refused");
    insert_inbox_row(&raw, "e1", "pending")
        .await
        .expect_err("the primary key survived");
    let row = raw
        .query_one(
            &Query::select()
                .column("lease_until_ms")
                .from("stream_leases")
                .to_owned(),
        )
        .await
        .unwrap()
        .unwrap();
    let ms: i64 = row.try_get_by_index(0).unwrap();
    assert!(
        (ms - until.timestamp_millis()).abs() <= 1,
        "the lease keeps its expiry: {ms} vs {}",
        until.timestamp_millis()
    );

    // Down (000014 and any later one): foreign events are parked again, the CHECK as it was; and
    // up once more.
    let from_000014 = funding_store::Migrator::migrations().len() - before;
    funding_store::Migrator::down(&raw, Some(u32::try_from(from_000014).unwrap()))
        .await
        .unwrap();
    assert_eq!(
        count(
            &raw,
            "inbox_events",
            Expr::col("state").eq("parked_no_subject")
        )
        .await,
        2
    );
    insert_inbox_row(&raw, "e6", "foreign")
        .await
        .expect_err("not after 000014 is undone");
    db.store().await;
    assert_eq!(count(&raw, "inbox_events", Expr::value(true)).await, 4);
    insert_inbox_row(&raw, "e6", "foreign")
        .await
        .expect("foreign is admitted again");
}

on_both_backends!(
    the_inbox_upgrade_keeps_every_event_and_admits_foreign,
    migrations_run_twice_without_error,
    replicas_starting_together_migrate_once,
    an_unknown_status_is_refused_by_the_database,
    a_second_link_with_the_same_caller_and_key_is_refused,
    a_relationship_id_belongs_to_one_link_only,
    history_rows_need_an_existing_link,
    a_required_column_cannot_be_null,
);
