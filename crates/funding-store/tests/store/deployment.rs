//! The deployment a database belongs to (DESIGN §10): the first start records its mode, later starts
//! in another mode (or against other provider hosts) are refused with both modes named, a refusal
//! writes nothing, and replicas starting together agree on one row.

use funding_store::{DeploymentError, DeploymentMode, ProviderHosts};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};

use crate::support::{TestDb, count, t0};

fn production() -> DeploymentMode {
    DeploymentMode::Providers(ProviderHosts::new(
        "production.plaid.com",
        "broker-api.alpaca.markets",
    ))
}

fn plaid_sandbox() -> DeploymentMode {
    DeploymentMode::Providers(ProviderHosts::new(
        "sandbox.plaid.com",
        "broker-api.sandbox.alpaca.markets",
    ))
}

/// The recorded (mode, provider_hosts), read around the store.
async fn recorded(raw: &DatabaseConnection) -> Vec<(String, Option<String>)> {
    let query = Query::select()
        .columns(["mode", "provider_hosts"])
        .from("deployment")
        .to_owned();
    raw.query_all(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get("", "mode").unwrap(),
                row.try_get("", "provider_hosts").unwrap(),
            )
        })
        .collect()
}

fn mismatch(result: Result<(), DeploymentError>) -> String {
    match result {
        Err(error @ DeploymentError::Mismatch { .. }) => error.to_string(),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

async fn the_first_start_records_its_mode_and_the_same_mode_starts_again(db: &TestDb) {
    let store = db.store().await;
    store.check_deployment(&production()).await.unwrap();
    store.check_deployment(&production()).await.unwrap();
    db.store()
        .await
        .check_deployment(&production())
        .await
        .expect("another store of the same mode");
    assert_eq!(
        recorded(&db.raw().await).await,
        vec![(
            "providers".to_owned(),
            Some("plaid=production.plaid.com, alpaca=broker-api.alpaca.markets".to_owned())
        )]
    );
}

async fn a_sandbox_database_refuses_providers_mode_and_changes_nothing(db: &TestDb) {
    let store = db.store().await;
    store
        .check_deployment(&DeploymentMode::Sandbox)
        .await
        .unwrap();
    let message = mismatch(store.check_deployment(&production()).await);
    assert!(
        message.contains("providers mode (plaid=production.plaid.com")
            && message.contains("created in sandbox mode"),
        "{message}"
    );
    assert_eq!(
        recorded(&db.raw().await).await,
        vec![("sandbox".to_owned(), None)]
    );
    store
        .check_deployment(&DeploymentMode::Sandbox)
        .await
        .expect("still a sandbox database");
}

async fn a_providers_database_refuses_sandbox_mode(db: &TestDb) {
    let store = db.store().await;
    store.check_deployment(&production()).await.unwrap();
    let message = mismatch(store.check_deployment(&DeploymentMode::Sandbox).await);
    assert!(
        message.contains("refusing to start in sandbox mode")
            && message.contains("created in providers mode (plaid=production.plaid.com"),
        "{message}"
    );
    assert_eq!(recorded(&db.raw().await).await.len(), 1);
}

async fn a_providers_database_refuses_other_provider_hosts(db: &TestDb) {
    let store = db.store().await;
    store.check_deployment(&production()).await.unwrap();
    let message = mismatch(store.check_deployment(&plaid_sandbox()).await);
    assert!(
        message.contains("sandbox.plaid.com") && message.contains("production.plaid.com"),
        "{message}"
    );
    store
        .check_deployment(&DeploymentMode::Providers(ProviderHosts::new(
            "PRODUCTION.plaid.com",
            "broker-api.alpaca.markets",
        )))
        .await
        .expect("hosts are compared without regard to case");
}

async fn replicas_starting_together_agree_on_one_mode(db: &TestDb) {
    let stores = [db.store().await, db.store().await, db.store().await];
    let production = production();
    let (a, b, c) = tokio::join!(
        stores[0].check_deployment(&production),
        stores[1].check_deployment(&production),
        stores[2].check_deployment(&DeploymentMode::Sandbox),
    );
    let outcomes = [a.is_ok(), b.is_ok(), c.is_ok()];
    let raw = db.raw().await;
    let rows = recorded(&raw).await;
    assert_eq!(rows.len(), 1, "one row whoever wins");
    if rows[0].0 == "sandbox" {
        assert_eq!(outcomes, [false, false, true]);
    } else {
        assert_eq!(outcomes, [true, true, false]);
    }
}

async fn the_table_holds_one_known_mode_only(db: &TestDb) {
    let store = db.store().await;
    store
        .check_deployment(&DeploymentMode::Sandbox)
        .await
        .unwrap();
    let raw = db.raw().await;
    let insert = |id: i32, mode: &str, hosts: Option<&str>| {
        Query::insert()
            .into_table("deployment")
            .columns(["id", "mode", "provider_hosts", "created_at"])
            .values_panic([
                Expr::value(id),
                Expr::value(mode),
                Expr::value(hosts.map(str::to_owned)),
                Expr::value(t0()),
            ])
            .to_owned()
    };
    raw.execute(&insert(2, "sandbox", None))
        .await
        .expect_err("a second row is refused");
    raw.execute(&insert(1, "sandbox", None))
        .await
        .expect_err("so is a second row 1");
    raw.execute_unprepared("DELETE FROM deployment")
        .await
        .unwrap();
    raw.execute(&insert(1, "production", None))
        .await
        .expect_err("an unknown mode is refused");
    raw.execute(&insert(1, "providers", None))
        .await
        .expect_err("providers mode names its hosts");
    raw.execute(&insert(1, "sandbox", Some("plaid=x, alpaca=y")))
        .await
        .expect_err("sandbox mode has no provider hosts");
    assert_eq!(count(&raw, "deployment", Expr::value(true)).await, 0);
}

on_both_backends!(
    the_first_start_records_its_mode_and_the_same_mode_starts_again,
    a_sandbox_database_refuses_providers_mode_and_changes_nothing,
    a_providers_database_refuses_sandbox_mode,
    a_providers_database_refuses_other_provider_hosts,
    replicas_starting_together_agree_on_one_mode,
    the_table_holds_one_known_mode_only,
);
