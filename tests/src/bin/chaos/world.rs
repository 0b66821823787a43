//! What the chaos run talks to: the emulator, running as a process of its own (this binary in its
//! `emulator` role runs `funding_sandbox::cli::main`, the `funding-sandbox` binary's own code), its
//! control API and the providers' APIs over HTTP; the database (a SQLite file, or a PostgreSQL
//! database made for the run); and the `fundingd` replicas (this binary in its `fundingd` role).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use funding_tests::process::{Replica, Rng, free_port};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

/// fundingd's `unknown_outcome_settle_ms` in the run: how long after a create with no answer an
/// empty lookup still proves nothing (well above every late effect the run injects).
pub const UNKNOWN_OUTCOME_SETTLE_MS: u64 = 8_000;

/// Selects what this binary does when it is started by the run itself.
pub const ROLE_VAR: &str = "CHAOS_ROLE";

/// The run's credentials and key, made from the seed (so a scan looks for these exact strings).
#[derive(Debug, Clone)]
pub struct Secrets {
    pub plaid_client_id: String,
    pub plaid_secret: String,
    pub alpaca_key_id: String,
    pub alpaca_secret: String,
    /// base64 of the 32-byte encryption key.
    pub encryption_key: String,
}

impl Secrets {
    pub fn new(rng: &mut Rng) -> Self {
        use base64::Engine as _;
        let mut hex = || format!("{:016x}{:016x}", rng.next(), rng.next());
        let plaid_client_id = format!("chaosclient{}", &hex()[..12]);
        let plaid_secret = format!("chaos-plaid-secret-{}", hex());
        let alpaca_key_id = format!("CHAOSKEY{}", &hex()[..12].to_uppercase());
        let alpaca_secret = format!("chaos-alpaca-secret-{}", hex());
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        let encryption_key = base64::engine::general_purpose::STANDARD.encode(key);
        Self {
            plaid_client_id,
            plaid_secret,
            alpaca_key_id,
            alpaca_secret,
            encryption_key,
        }
    }
}

/// The emulator process and an HTTP client for it.
pub struct Emulator {
    child: Child,
    pub plaid: String,
    pub alpaca: String,
    http: reqwest::Client,
    secrets: Secrets,
}

impl Emulator {
    /// Starts the emulator on free loopback ports and waits for it to print where it listens.
    pub fn start(dir: &Path, secrets: &Secrets) -> anyhow::Result<Self> {
        let log_path = dir.join("emulator.log");
        let mut log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE_VAR, "emulator")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .args([
                "--plaid-listen",
                "127.0.0.1:0",
                "--alpaca-listen",
                "127.0.0.1:0",
                "--relationship-approval-delay-ms",
                "300",
                "--transfer-step-delay-ms",
                "300",
                "--heartbeat-interval-ms",
                "1000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .context("cannot start the emulator process")?;
        let stdout = child.stdout.take().context("the emulator's stdout")?;
        let (urls, found) = std::sync::mpsc::channel();
        // Drain its output for the whole run (a full pipe would stop it), noting the two URLs.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                for (name, prefix) in [
                    ("plaid", "funding-sandbox: Plaid  at "),
                    ("alpaca", "funding-sandbox: Alpaca at "),
                ] {
                    if let Some(url) = line.strip_prefix(prefix) {
                        let _ = urls.send((name, url.trim().to_owned()));
                    }
                }
            }
        });
        let (mut plaid, mut alpaca) = (None, None);
        while plaid.is_none() || alpaca.is_none() {
            let (name, url) = found.recv_timeout(Duration::from_secs(60)).map_err(|_| {
                anyhow!(
                    "the emulator did not say where it listens; see {}",
                    log_path.display()
                )
            })?;
            if name == "plaid" {
                plaid = Some(url);
            } else {
                alpaca = Some(url);
            }
        }
        Ok(Self {
            child,
            plaid: plaid.unwrap_or_default(),
            alpaca: alpaca.unwrap_or_default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            secrets: secrets.clone(),
        })
    }

    /// A control API call (`/_sandbox/<path>`); its JSON answer (`null` for 204).
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/_sandbox{path}", self.plaid));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("control {method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A Plaid call with the run's credentials: its status and JSON body.
    pub async fn plaid(&self, path: &str, mut body: Value) -> anyhow::Result<(u16, Value)> {
        body["client_id"] = json!(self.secrets.plaid_client_id);
        body["secret"] = json!(self.secrets.plaid_secret);
        let response = self
            .http
            .post(format!("{}{path}", self.plaid))
            .json(&body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// An Alpaca Broker `GET` with the run's key: its JSON body (an error for a non-2xx answer).
    pub async fn alpaca_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.alpaca))
            .basic_auth(
                &self.secrets.alpaca_key_id,
                Some(&self.secrets.alpaca_secret),
            )
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("Alpaca GET {path}: {status}");
        }
        Ok(response.json().await?)
    }

    /// An Alpaca Broker `POST` with the run's key: its JSON body (an error for a non-2xx answer).
    pub async fn alpaca_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.alpaca))
            .basic_auth(
                &self.secrets.alpaca_key_id,
                Some(&self.secrets.alpaca_secret),
            )
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("Alpaca POST {path}: {status} {}", response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// Every transfer of an Alpaca account, newest first: `GET /v1/accounts/{id}/transfers` paged
    /// with `limit`/`offset` until an empty page (a short page is not the end: with a
    /// `list_page_cap` Alpaca answers fewer than `limit`).
    pub async fn alpaca_transfers(&self, account: &str) -> anyhow::Result<Vec<Value>> {
        let mut all: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut offset = 0;
        for _ in 0..10_000 {
            let page = self
                .alpaca_get(&format!(
                    "/v1/accounts/{account}/transfers?limit=100&offset={offset}"
                ))
                .await?;
            let items = page.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Ok(all);
            }
            offset += items.len();
            for item in items {
                // A transfer created between two pages shifts the offsets: keep each id once.
                if seen.insert(item["id"].as_str().unwrap_or_default().to_owned()) {
                    all.push(item);
                }
            }
        }
        bail!("Alpaca's transfers of {account}: no empty page after 10000 pages")
    }

    /// Plaid's own list of every bank transfer (all pages).
    pub async fn plaid_bank_transfers(&self) -> anyhow::Result<Vec<Value>> {
        funding_tests::plaid_bank_transfer_pages(|offset| async move {
            let (status, page) = self
                .plaid(
                    "/bank_transfer/list",
                    json!({"count": 25, "offset": offset}),
                )
                .await?;
            if status != 200 {
                bail!("/bank_transfer/list: {status} {page}");
            }
            Ok(page)
        })
        .await
    }

    /// Stops the process (SIGTERM would do; the run is over, so SIGKILL).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The run's database.
pub enum Db {
    Sqlite { path: PathBuf },
    Postgres { admin: String, name: String },
}

impl Db {
    /// A SQLite file in `dir`, or a new PostgreSQL database on the server at `postgres`.
    pub async fn create(dir: &Path, postgres: Option<&str>, seed: u64) -> anyhow::Result<Self> {
        let Some(admin) = postgres else {
            return Ok(Self::Sqlite {
                path: dir.join("funding.db"),
            });
        };
        let name = format!("funding_chaos_{seed}_{}", uuid::Uuid::new_v4().simple());
        let connection = Database::connect(admin)
            .await
            .with_context(|| format!("cannot reach PostgreSQL at {admin}"))?;
        connection
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let _ = connection.close().await;
        Ok(Self::Postgres {
            admin: admin.to_owned(),
            name,
        })
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite:{}", path.display()),
            Self::Postgres { admin, name } => {
                let rest = admin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
                let host = rest.split('/').next().unwrap_or(rest);
                let scheme = admin
                    .split_once("://")
                    .map(|(s, _)| s)
                    .unwrap_or("postgres");
                format!("{scheme}://{host}/{name}")
            }
        }
    }

    pub async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        Ok(Database::connect(self.url()).await?)
    }

    /// Drops a PostgreSQL database the run made.
    pub async fn drop_database(&self) {
        if let Self::Postgres { admin, name } = self
            && let Ok(connection) = Database::connect(admin.as_str()).await
        {
            let _ = connection
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = connection.close().await;
        }
    }
}

/// Rows of a query, each column read as text (`NULL` as `None`). `{column}` in `sql` reads a UUID
/// column as text on either backend (SQLite keeps them as 16-byte blobs), hyphenated.
pub async fn rows(
    db: &DatabaseConnection,
    sql: &str,
    columns: &[&str],
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let backend = db.get_database_backend();
    let mut query = String::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .context("an unclosed { in a query")?;
        let column = &rest[open + 1..close];
        query.push_str(&rest[..open]);
        query.push_str(&match backend {
            sea_orm::DatabaseBackend::Sqlite => format!(
                "(CASE WHEN typeof({column}) = 'blob' THEN lower(hex({column})) ELSE {column} END)"
            ),
            _ => format!("CAST({column} AS TEXT)"),
        });
        rest = &rest[close + 1..];
    }
    query.push_str(rest);
    let statement = Statement::from_string(backend, query);
    let mut out = Vec::new();
    for row in db.query_all_raw(statement).await? {
        let mut values = Vec::new();
        for column in columns {
            let value = row.try_get::<Option<String>>("", column)?;
            values.push(value.map(|v| hyphenated(&v)));
        }
        out.push(values);
    }
    Ok(out)
}

/// 32 hex digits (a UUID's bytes) as a hyphenated UUID; anything else as it is.
fn hyphenated(value: &str) -> String {
    if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        uuid::Uuid::parse_str(value)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| value.to_owned())
    } else {
        value.to_owned()
    }
}

/// Writes replica `name`'s config and makes its process (not started).
pub fn replica(
    dir: &Path,
    name: &str,
    database_url: &str,
    emulator: &Emulator,
    secrets: &Secrets,
) -> anyhow::Result<(Replica, String)> {
    let port = free_port();
    let webhook_port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
webhook_listen = "127.0.0.1:{webhook_port}"
database_url = "{database_url}"
encryption_key = "{key}"
insecure_no_auth = true
log_format = "json"
work_lease_ms = 1500
work_poll_interval_ms = 100
work_backoff_base_ms = 100
work_backoff_cap_ms = 1000
link_max_attempts = 40
bank_transfer_max_attempts = 40
stream_lease_ms = 1500
reconcile_interval_ms = 1000
reconcile_after_ms = 3000
plaid_sync_interval_ms = 1000
unknown_outcome_settle_ms = {settle}

[plaid]
base_url = "{plaid}"
client_id = "{plaid_client_id}"
secret = "{plaid_secret}"
request_timeout_ms = 3000

[alpaca]
base_url = "{alpaca}"
key_id = "{alpaca_key_id}"
secret = "{alpaca_secret}"
request_timeout_ms = 3000
"#,
            key = secrets.encryption_key,
            settle = UNKNOWN_OUTCOME_SETTLE_MS,
            plaid = emulator.plaid,
            alpaca = emulator.alpaca,
            plaid_client_id = secrets.plaid_client_id,
            plaid_secret = secrets.plaid_secret,
            alpaca_key_id = secrets.alpaca_key_id,
            alpaca_secret = secrets.alpaca_secret,
        ),
    )?;
    let replica = Replica::new(
        name,
        std::env::current_exe()?,
        config,
        dir.join(format!("{name}.log")),
        format!("http://127.0.0.1:{port}"),
    )
    .env(ROLE_VAR, "fundingd");
    Ok((
        replica,
        format!(
            "http://127.0.0.1:{webhook_port}{}",
            fundingd::webhooks::WEBHOOK_PATH
        ),
    ))
}
