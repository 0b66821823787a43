//! Real `fundingd` processes for the crash tests: the emulator runs in the test process (so its
//! state outlives every kill), each replica is the `fundingd-under-test` binary in providers mode
//! pointed at it, with its own config file and log, on SQLite or a PostgreSQL database of its own.
//! A replica ([`Replica`], shared with the chaos run) can be SIGKILLed, SIGSTOPped and
//! SIGCONTinued, and restarted on the same address.

use std::collections::BTreeSet;
use std::time::Duration;

use funding_sandbox::{SandboxConfig, SandboxControl, SandboxHandle};
use funding_tests::Backend;
pub use funding_tests::process::{Replica, Rng};
use sea_orm::{ConnectionTrait, Database};

const BINARY: &str = env!("CARGO_BIN_EXE_fundingd-under-test");
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The emulator and the database the replicas share.
pub struct Cluster {
    pub emulator: SandboxHandle,
    pub control: SandboxControl,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    postgres_db: Option<String>,
}

impl Cluster {
    pub async fn start(backend: Backend) -> Self {
        let emulator = funding_sandbox::spawn(SandboxConfig {
            relationship_approval_delay: Duration::from_millis(200),
            ..SandboxConfig::ephemeral()
        })
        .await
        .unwrap();
        let control = emulator.control();
        let dir = tempfile::tempdir().unwrap();
        let (database_url, postgres_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite:{}", dir.path().join("funding.db").display()),
                None,
            ),
            Backend::Postgres => {
                let (name, url) = funding_tests::create_postgres_database("funding_crash").await;
                (url, Some(name))
            }
        };
        Self {
            emulator,
            control,
            database_url,
            dir,
            postgres_db,
        }
    }

    /// A replica named `name` (its config and log are `<name>.toml`, `<name>.log`), serving.
    pub async fn replica(&self, name: &str) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:{port}"
database_url = "{database_url}"
encryption_key = "{KEY}"
insecure_no_auth = true
log_format = "json"
work_lease_ms = 1000
work_poll_interval_ms = 50
work_backoff_base_ms = 50
work_backoff_cap_ms = 400
link_max_attempts = 30
stream_lease_ms = 1000
reconcile_interval_ms = 500
reconcile_after_ms = 3000
unknown_outcome_settle_ms = 4000

[plaid]
base_url = "{plaid}"
client_id = "crash-test"
secret = "crash-test-secret"
request_timeout_ms = 1500

[alpaca]
base_url = "{alpaca}"
key_id = "crash-test"
secret = "crash-test-secret"
request_timeout_ms = 1500
"#,
                database_url = self.database_url,
                plaid = self.emulator.plaid_url(),
                alpaca = self.emulator.alpaca_url(),
            ),
        )
        .unwrap();
        let mut replica = Replica::new(
            name,
            BINARY,
            config,
            self.dir.path().join(format!("{name}.log")),
            format!("http://127.0.0.1:{port}"),
        );
        replica.start().await;
        replica
    }

    /// The relationships the emulator made for `account_id`, from its own event log.
    pub fn relationships_at_alpaca(&self, account_id: &str) -> BTreeSet<String> {
        funding_tests::relationships_at_alpaca(&self.control, account_id)
    }

    /// A public token and its checking account.
    pub fn public_token(&self) -> (String, String) {
        let link = self.control.create_public_token("ins_109508").unwrap();
        let checking = link
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .unwrap()
            .account_id
            .clone();
        (link.public_token, checking)
    }

    /// The emulator's POSTs to exactly `path`, answered or not.
    pub fn posts(&self, path: &str) -> usize {
        self.control
            .calls()
            .iter()
            .filter(|call| call.method == "POST" && call.path == path)
            .count()
    }

    /// One number from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        let db = Database::connect(&self.database_url).await.unwrap();
        let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql.to_owned());
        let row = db.query_one_raw(statement).await.unwrap().unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        let _ = db.close().await;
        n
    }

    pub async fn stop(self) {
        self.emulator.shutdown().await;
        if let Some(name) = self.postgres_db {
            funding_tests::drop_postgres_database(&name).await;
        }
    }
}
