//! The suites' databases: a fresh PostgreSQL database of a test's own (and dropping it), and rows
//! read or changed straight in a [`TestApp`]'s database.

use sea_orm::{ConnectionTrait, Database};

use crate::TestApp;

/// The PostgreSQL server the suites use: `FUNDING_TEST_POSTGRES_URL`, or the local one.
pub fn postgres_admin_url() -> String {
    std::env::var("FUNDING_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new, empty PostgreSQL database on the suites' server, named `<prefix>_<uuid>`: its name and URL.
pub async fn create_postgres_database(prefix: &str) -> (String, String) {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(postgres_admin_url())
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let _ = admin.close().await;
    let base = postgres_admin_url();
    let url = match base.rfind('/') {
        Some(slash) => format!("{}/{name}", &base[..slash]),
        None => base,
    };
    (name, url)
}

/// Drops a database [`create_postgres_database`] made (connections and all).
pub async fn drop_postgres_database(name: &str) {
    if let Ok(admin) = Database::connect(postgres_admin_url()).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

impl TestApp {
    /// Rows in a table, read straight from the database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .await
    }

    /// Rows in a table that match a SQL condition.
    pub async fn count_rows_where(&self, table: &str, condition: &str) -> i64 {
        self.count(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {condition}"
        ))
        .await
    }

    /// Runs a statement straight on the database (to damage a row on purpose, say).
    pub async fn execute(&self, sql: &str) {
        let db = Database::connect(&self.database_url).await.unwrap();
        db.execute_unprepared(sql).await.unwrap();
        let _ = db.close().await;
    }

    /// Distinct provider event ids in the bank link history.
    pub async fn count_distinct_event_ids(&self) -> i64 {
        self.count("SELECT COUNT(DISTINCT event_id) AS n FROM bank_link_status_history")
            .await
    }

    async fn count(&self, sql: &str) -> i64 {
        let db = Database::connect(&self.database_url).await.unwrap();
        let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql.to_owned());
        let row = db.query_one_raw(statement).await.unwrap().unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        let _ = db.close().await;
        n
    }
}
