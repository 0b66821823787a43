//! Helpers for the end-to-end suites: [`TestApp`] starts the real service (the same `Application`
//! that `main` runs) on port 0 with the in-process emulator and a fresh database — a SQLite file in a
//! temporary directory, or a PostgreSQL database of its own that is dropped afterwards — and connects
//! the typed client to it.
//!
//! `TEST_LOG=1` ([`test_log`]) shows the servers' logs (zero2prod's switch): the in-process ones'
//! on stderr through `fundingd`'s own subscriber (filtered by `RUST_LOG`, default `info`), and
//! every spawned `fundingd` process's lines prefixed with its name ([`process::Replica`]). Without
//! it the suites stay silent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod process;

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1;
use funding_sandbox::SandboxControl;
use fundingd::settings::{ClientSettings, EmulatorSettings, LimitSettings};
use fundingd::{Application, Settings};
use sea_orm::{ConnectionTrait, Database};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic_types::StatusExt;

/// Where the test's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to start the app.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub relationship_approval_delay_ms: u64,
    pub clients: Vec<ClientSettings>,
    pub token: Option<String>,
    /// Short work claims (600 ms), so that work left by a failed attempt is taken up again quickly.
    pub resume: bool,
    /// Serve `/metrics` on a free port.
    pub metrics: bool,
    /// How often Plaid's bank-transfer events are synced without a webhook (a long one proves a
    /// webhook brought the news).
    pub plaid_sync_interval_ms: u64,
    /// Publish status changes to NATS JetStream at this URL (the outbox publisher).
    pub nats_url: Option<String>,
    /// `[limits]`; none: the defaults without rate limits (the suites call faster than a caller may).
    pub limits: Option<LimitSettings>,
    /// `unknown_outcome_settle_ms`: short in the suites (a create that got no answer waits this
    /// long before an empty lookup counts), so a test of a late effect sets it above the delay.
    pub unknown_outcome_settle_ms: u64,
    /// `link_max_attempts`.
    pub link_max_attempts: u32,
    /// The reconciler runs only when the test asks ([`TestApp::reconcile_pass`]): its loop waits a
    /// day, everything in flight is due at once (`reconcile_after_ms` 0), unmoved counts as stuck
    /// at once (`reconcile_stuck_after_ms` 0). (The suites never pace its provider calls.)
    pub reconcile_by_hand: bool,
    /// `reconcile_pass_size`.
    pub reconcile_pass_size: u32,
    /// `reconcile_after_ms`: long in a test that must see a status come from events alone.
    pub reconcile_after_ms: u64,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            relationship_approval_delay_ms: 100,
            clients: Vec::new(),
            token: None,
            resume: false,
            metrics: false,
            plaid_sync_interval_ms: 200,
            unknown_outcome_settle_ms: 2_000,
            link_max_attempts: Settings::default().link_max_attempts,
            reconcile_after_ms: 2_000,
            nats_url: None,
            limits: None,
            reconcile_by_hand: false,
            reconcile_pass_size: Settings::default().reconcile_pass_size,
        }
    }
}

/// Whether the servers' logs are shown: `TEST_LOG` is set to anything but empty or `0`.
pub fn test_log() -> bool {
    std::env::var_os("TEST_LOG").is_some_and(|value| !value.is_empty() && value != "0")
}

/// The PostgreSQL server the suites use: `FUNDING_TEST_POSTGRES_URL`, or the local one.
pub fn postgres_admin_url() -> String {
    std::env::var("FUNDING_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: FundingClient,
    pub sandbox: SandboxControl,
    pub database_url: String,
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where the service receives Plaid's webhooks (`http://…/plaid/webhook`).
    pub webhook_url: String,
    /// The emulator's Plaid base URL.
    pub plaid_url: String,
    /// The emulator's Alpaca base URL.
    pub alpaca_url: String,
    pub dir: tempfile::TempDir,
    postgres_db: Option<String>,
    reconciler: funding_core::Reconciler,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(options: AppOptions) -> Self {
        if test_log() {
            // The first call installs the subscriber; later ones, and a suite's own, are kept.
            fundingd::telemetry::init("pretty");
        }
        let dir = tempfile::tempdir().unwrap();
        let (database_url, postgres_db) = match options.backend {
            Backend::Sqlite => (
                format!("sqlite:{}", dir.path().join("funding.db").display()),
                None,
            ),
            Backend::Postgres => {
                let (name, url) = create_postgres_database("funding_e2e").await;
                (url, Some(name))
            }
        };
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.clone(),
            encryption_key_file: Some(dir.path().join("funding.key")),
            // Sandbox mode on PostgreSQL must be asked for (DESIGN §10); SQLite is the default.
            explicit_sandbox: options.backend == Backend::Postgres,
            clients: options.clients.clone(),
            sandbox: EmulatorSettings {
                relationship_approval_delay_ms: options.relationship_approval_delay_ms,
                transfer_step_delay_ms: 100,
            },
            health_check_interval_ms: 100,
            metrics_listen: options.metrics.then(|| "127.0.0.1:0".parse().unwrap()),
            work_poll_interval_ms: 50,
            work_lease_ms: if options.resume { 600 } else { 30_000 },
            work_backoff_base_ms: 50,
            work_backoff_cap_ms: 500,
            reconcile_interval_ms: if options.reconcile_by_hand {
                86_400_000
            } else {
                200
            },
            watch_buffer: 16,
            reconcile_after_ms: if options.reconcile_by_hand {
                0
            } else {
                options.reconcile_after_ms
            },
            reconcile_pass_size: options.reconcile_pass_size,
            // Not paced: the suites' few resources and the local emulator.
            reconcile_calls_per_second: 0,
            reconcile_stuck_after_ms: if options.reconcile_by_hand {
                0
            } else {
                Settings::default().reconcile_stuck_after_ms
            },
            plaid_sync_interval_ms: options.plaid_sync_interval_ms,
            // The inbox sweep (unparking, gauges) as often as the old in-reader sweep ran here.
            inbox_sweep_interval_ms: 100,
            unknown_outcome_settle_ms: options.unknown_outcome_settle_ms,
            link_max_attempts: options.link_max_attempts,
            nats_url: options.nats_url.clone(),
            limits: options.limits.clone().unwrap_or(LimitSettings {
                calls_per_minute: 0,
                writes_per_minute: 0,
                ..LimitSettings::default()
            }),
            ..Settings::default()
        };
        let app = Application::build(settings).await.expect("the app starts");
        let address = format!("http://{}", app.local_addr());
        let sandbox = app.sandbox().expect("sandbox mode");
        let metrics_addr = app.metrics_addr();
        let webhook_url = format!(
            "http://{}{}",
            app.webhook_addr().expect("sandbox mode receives webhooks"),
            fundingd::webhooks::WEBHOOK_PATH
        );
        let (plaid_url, alpaca_url) = app.sandbox_urls().expect("sandbox mode");
        let shutdown = app.shutdown_token();
        let reconciler = app.reconciler();
        let server = tokio::spawn(app.run_until_stopped());
        let client = FundingClient::connect(address.clone(), options.token.as_deref())
            .await
            .expect("the client connects");
        Self {
            address,
            client,
            sandbox,
            database_url,
            metrics_addr,
            webhook_url,
            plaid_url,
            alpaca_url,
            dir,
            postgres_db,
            reconciler,
            shutdown,
            server,
        }
    }

    /// One pass of the reconciler, now (see [`AppOptions::reconcile_by_hand`]).
    pub async fn reconcile_pass(&self) -> funding_core::PassReport {
        self.reconciler.pass().await
    }

    /// Stops the service gracefully and drops its PostgreSQL database.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.server).await;
        if let Some(name) = self.postgres_db {
            drop_postgres_database(&name).await;
        }
    }

    /// A sandbox public token and its checking account id.
    pub async fn public_token(&self) -> (String, String) {
        let response = self
            .client
            .sandbox()
            .create_public_token(v1::CreatePublicTokenRequest {
                institution_id: String::new(),
            })
            .await
            .expect("CreatePublicToken")
            .into_inner();
        let checking = response
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .expect("a checking account");
        (response.public_token, checking.account_id.clone())
    }

    /// A valid create request for a new account, with a fresh public token and key.
    pub async fn create_request(&self) -> v1::CreateBankLinkRequest {
        let (public_token, plaid_account_id) = self.public_token().await;
        v1::CreateBankLinkRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            public_token,
            plaid_account_id,
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        }
    }

    pub async fn create_link(
        &self,
        request: v1::CreateBankLinkRequest,
    ) -> Result<v1::BankLink, Status> {
        let response = self.client.bank_links().create_bank_link(request).await?;
        Ok(response.into_inner().bank_link.expect("a bank link"))
    }

    /// The link; an UNAVAILABLE answer (the database busy under the whole suite's load) is asked
    /// again a few times, as a caller following RetryInfo would.
    pub async fn get_link(&self, id: &str) -> v1::BankLink {
        let mut last = None;
        for _ in 0..5 {
            match self
                .client
                .bank_links()
                .get_bank_link(v1::GetBankLinkRequest { id: id.into() })
                .await
            {
                Ok(response) => return response.into_inner().bank_link.expect("a bank link"),
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    eprintln!("GetBankLink answered UNAVAILABLE, asking again: {status:?}");
                    last = Some(status);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("GetBankLink: {status:?}"),
            }
        }
        panic!("GetBankLink: {last:?}");
    }

    /// A new account with an APPROVED bank link: (account id, link).
    pub async fn approved_link(&self) -> (String, v1::BankLink) {
        let request = self.create_request().await;
        let link = self
            .create_link(request.clone())
            .await
            .expect("CreateBankLink");
        let link = self
            .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
            .await;
        (request.account_id, link)
    }

    /// A transfer request over `link` of `account_id`, with a fresh key.
    pub fn transfer_request(
        &self,
        account_id: &str,
        link: &v1::BankLink,
        amount: &str,
        direction: v1::TransferDirection,
    ) -> v1::CreateTransferRequest {
        v1::CreateTransferRequest {
            account_id: account_id.into(),
            bank_link_id: link.id.clone(),
            amount: amount.into(),
            direction: direction.into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub async fn create_transfer(
        &self,
        request: v1::CreateTransferRequest,
    ) -> Result<v1::Transfer, Status> {
        let response = self.client.transfers().create_transfer(request).await?;
        Ok(response.into_inner().transfer.expect("a transfer"))
    }

    pub async fn get_transfer(&self, id: &str) -> v1::Transfer {
        for _ in 0..5 {
            match self
                .client
                .transfers()
                .get_transfer(v1::GetTransferRequest { id: id.into() })
                .await
            {
                Ok(response) => return response.into_inner().transfer.expect("a transfer"),
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("GetTransfer: {status:?}"),
            }
        }
        panic!("GetTransfer kept answering UNAVAILABLE");
    }

    /// Polls the transfer until it has `status` (bounded; fails with the last one seen).
    pub async fn wait_for_transfer_status(
        &self,
        id: &str,
        status: v1::TransferStatus,
    ) -> v1::Transfer {
        let mut last = None;
        for _ in 0..300 {
            let transfer = self.get_transfer(id).await;
            if transfer.status() == status {
                return transfer;
            }
            last = Some(transfer);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("transfer {id} never reached {status:?}; last seen {last:?}");
    }

    /// A Plaid sandbox processor token, over gRPC alone.
    pub async fn processor_token(&self) -> String {
        self.client
            .sandbox()
            .create_processor_token(v1::CreateProcessorTokenRequest::default())
            .await
            .expect("CreateProcessorToken")
            .into_inner()
            .processor_token
    }

    /// A valid ACH debit of `amount` under a fresh idempotency key.
    pub fn bank_transfer_request(
        &self,
        processor_token: &str,
        amount: &str,
    ) -> v1::CreateBankTransferRequest {
        v1::CreateBankTransferRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            processor_token: processor_token.into(),
            r#type: v1::BankTransferType::Debit.into(),
            network: v1::BankTransferNetwork::Ach.into(),
            amount: amount.into(),
            iso_currency_code: "USD".into(),
            description: "Deposit".into(),
            ach_class: v1::AchClass::Web.into(),
            user: Some(v1::BankTransferUser {
                legal_name: "Jane Doe".into(),
                email_address: "jane@example.com".into(),
                routing_number: String::new(),
            }),
            custom_tag: "funding-tests".into(),
            metadata: [("purpose".to_owned(), "test".to_owned())].into(),
            origination_account_id: String::new(),
        }
    }

    pub async fn create_bank_transfer(
        &self,
        request: v1::CreateBankTransferRequest,
    ) -> Result<v1::BankTransfer, Status> {
        let response = self
            .client
            .bank_transfers()
            .create_bank_transfer(request)
            .await?;
        Ok(response
            .into_inner()
            .bank_transfer
            .expect("a bank transfer"))
    }

    pub async fn get_bank_transfer(&self, id: &str) -> v1::BankTransfer {
        for _ in 0..5 {
            match self
                .client
                .bank_transfers()
                .get_bank_transfer(v1::GetBankTransferRequest { id: id.into() })
                .await
            {
                Ok(response) => {
                    return response
                        .into_inner()
                        .bank_transfer
                        .expect("a bank transfer");
                }
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("GetBankTransfer: {status:?}"),
            }
        }
        panic!("GetBankTransfer kept answering UNAVAILABLE");
    }

    /// Polls the bank transfer until it has `status` (bounded; fails with the last one seen).
    pub async fn wait_for_bank_transfer_status(
        &self,
        id: &str,
        status: v1::BankTransferStatus,
    ) -> v1::BankTransfer {
        let mut last = None;
        for _ in 0..300 {
            let transfer = self.get_bank_transfer(id).await;
            if transfer.status() == status {
                return transfer;
            }
            last = Some(transfer);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bank transfer {id} never reached {status:?}; last seen {last:?}");
    }

    /// Plaid's `/sandbox/bank_transfer/simulate`, over gRPC alone.
    pub async fn simulate_bank_transfer(
        &self,
        id: &str,
        event_type: &str,
        ach_return_code: &str,
    ) -> Result<(), Status> {
        self.client
            .sandbox()
            .simulate_bank_transfer(v1::SimulateBankTransferRequest {
                bank_transfer_id: id.into(),
                event_type: event_type.into(),
                ach_return_code: ach_return_code.into(),
                failure_description: String::new(),
            })
            .await
            .map(|_| ())
    }

    /// Plaid's own view of every bank transfer, through its `/bank_transfer/list` (all pages).
    pub async fn bank_transfers_at_plaid(&self) -> Vec<serde_json::Value> {
        let http = reqwest::Client::new();
        let mut all = Vec::new();
        loop {
            let page: serde_json::Value = http
                .post(format!("{}/bank_transfer/list", self.plaid_url))
                .json(&serde_json::json!({
                    "client_id": "sandbox-client-id",
                    "secret": "sandbox-secret",
                    "count": 25,
                    "offset": all.len(),
                }))
                .send()
                .await
                .expect("the emulator answers")
                .json()
                .await
                .expect("JSON");
            let transfers = page["bank_transfers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let full = transfers.len() == 25;
            all.extend(transfers);
            if !full {
                return all;
            }
        }
    }

    /// The account's links, oldest first (one page of 100).
    pub async fn list_links(&self, account_id: &str) -> Vec<v1::BankLink> {
        self.client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: account_id.into(),
                page_size: 100,
                page_token: String::new(),
            })
            .await
            .expect("ListBankLinks")
            .into_inner()
            .bank_links
    }

    /// Polls the link until it has `status` (bounded; fails with the last status seen).
    pub async fn wait_for_link_status(&self, id: &str, status: v1::BankLinkStatus) -> v1::BankLink {
        let mut last = None;
        for _ in 0..300 {
            let link = self.get_link(id).await;
            if link.status() == status {
                return link;
            }
            last = Some(link);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("link {id} never reached {status:?}; last seen {last:?}");
    }

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

    /// Every call the emulator received, but the followers' own reading (Alpaca's event stream,
    /// Plaid's event sync).
    pub fn requests(&self) -> Vec<funding_sandbox::RecordedCall> {
        self.sandbox
            .calls()
            .into_iter()
            // The followers' own reading: Alpaca's event stream and Plaid's periodic event sync.
            .filter(|call| {
                !call.path.starts_with("/v2/events/") && call.path != "/bank_transfer/event/sync"
            })
            .collect()
    }

    /// The emulator's record of `method path-prefix` calls.
    pub fn provider_calls(&self, method: &str, path_prefix: &str) -> usize {
        self.sandbox
            .calls()
            .iter()
            .filter(|c| c.method == method && c.path.starts_with(path_prefix))
            .count()
    }
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

/// The relationships the emulator made for `account_id`, as its own event log shows them.
pub fn relationships_at_alpaca(
    sandbox: &SandboxControl,
    account_id: &str,
) -> std::collections::BTreeSet<String> {
    sandbox
        .funding_events()
        .into_iter()
        .filter(|event| {
            event["entity_type"] == "BankRelationship" && event["account_id"] == account_id
        })
        .filter_map(|event| event["entity_id"].as_str().map(str::to_owned))
        .collect()
}

/// Generates, for each named `async fn(Backend)`, a module with a test on SQLite and one on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// `ErrorInfo.reason` of an error status.
pub fn error_reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// `ErrorInfo.metadata[key]` of an error status.
pub fn error_metadata(status: &Status, key: &str) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

/// The fields a `BadRequest` detail names.
pub fn bad_request_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
