//! Real `fundingd` processes for the crash tests: the emulator runs in the test process (so its
//! state outlives every kill), each replica is the `fundingd-under-test` binary in providers mode
//! pointed at it, with its own config file and log, on SQLite or a PostgreSQL database of its own.
//! A replica can be SIGKILLed, SIGSTOPped and SIGCONTinued, and restarted on the same address.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1;
use funding_sandbox::{SandboxConfig, SandboxControl, SandboxHandle};
use funding_tests::Backend;
use sea_orm::{ConnectionTrait, Database};

const BINARY: &str = env!("CARGO_BIN_EXE_fundingd-under-test");
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A small deterministic generator, so a failing run replays from its printed seed.
pub struct Rng(u64);

impl Rng {
    /// From `FUNDING_CHAOS_SEED`, or the clock; the seed is printed either way.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("FUNDING_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        eprintln!("{test}: FUNDING_CHAOS_SEED={seed}");
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

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

[plaid]
base_url = "{plaid}"
client_id = "crash-test"
secret = "crash-test-secret"

[alpaca]
base_url = "{alpaca}"
key_id = "crash-test"
secret = "crash-test-secret"
"#,
                database_url = self.database_url,
                plaid = self.emulator.plaid_url(),
                alpaca = self.emulator.alpaca_url(),
            ),
        )
        .unwrap();
        let mut replica = Replica {
            name: name.to_owned(),
            address: format!("http://127.0.0.1:{port}"),
            config,
            log: self.dir.path().join(format!("{name}.log")),
            child: None,
        };
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

/// One `fundingd` process.
pub struct Replica {
    pub name: String,
    pub address: String,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// Starts the process (again) and waits until it answers.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(BINARY);
        command
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (name, _) in std::env::vars() {
            if name.starts_with("FUNDING_") {
                command.env_remove(name);
            }
        }
        self.child = Some(command.spawn().unwrap());
        for _ in 0..200 {
            if self.answers().await {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited at start ({status}): {}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never answered: {}", self.name, self.log_text());
    }

    async fn answers(&self) -> bool {
        let Ok(client) = FundingClient::connect(self.address.clone(), None).await else {
            return false;
        };
        let answer = client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest {
                id: uuid::Uuid::new_v4().to_string(),
            })
            .await;
        matches!(answer, Err(status) if status.code() == tonic::Code::NotFound)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// SIGSTOP: the process stops where it is, renewing nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}
