//! Events out: every status change of links and transfers reaches NATS JetStream once, in the order
//! of its history, on `<prefix>.<resource>.<status>`, with a payload that decodes — and survives a
//! `fundingd` SIGKILLed between commit and publish (the rows are republished under their ids and
//! JetStream drops what it already had). Needs nats-server with JetStream on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1;
use funding_sandbox::SandboxConfig;
use funding_tests::{AppOptions, Backend, TestApp};
use fundingd::events_out::async_nats;
use fundingd::events_out::async_nats::jetstream;
use prost::Message as _;
use sea_orm::{ConnectionTrait, Database};

const NATS_URL: &str = "nats://127.0.0.1:4222";
const BINARY: &str = env!("CARGO_BIN_EXE_fundingd-under-test");
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// An outbox row as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: String,
    resource: String,
    resource_id: uuid::Uuid,
    status: String,
    published: bool,
}

/// A message as the stream has it.
#[derive(Debug, Clone)]
struct Received {
    subject: String,
    msg_id: String,
    resource_id: String,
    payload: Vec<u8>,
}

async fn outbox_rows(database_url: &str) -> Vec<Row> {
    let db = Database::connect(database_url).await.unwrap();
    let statement = sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT id, resource, resource_id, status, published_at FROM outbox ORDER BY seq",
    );
    let rows = db.query_all_raw(statement).await.unwrap();
    let _ = db.close().await;
    rows.into_iter()
        .map(|row| Row {
            id: row.try_get("", "id").unwrap(),
            resource: row.try_get("", "resource").unwrap(),
            resource_id: row.try_get("", "resource_id").unwrap(),
            status: row.try_get("", "status").unwrap(),
            published: row
                .try_get::<Option<chrono::DateTime<chrono::Utc>>>("", "published_at")
                .unwrap()
                .is_some(),
        })
        .collect()
}

async fn count(database_url: &str, sql: &str) -> i64 {
    let db = Database::connect(database_url).await.unwrap();
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql.to_owned());
    let row = db.query_one_raw(statement).await.unwrap().unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    let _ = db.close().await;
    n
}

/// Waits until every outbox row is marked published.
async fn wait_all_published(database_url: &str) -> Vec<Row> {
    for _ in 0..300 {
        let rows = outbox_rows(database_url).await;
        if !rows.is_empty() && rows.iter().all(|r| r.published) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the outbox was never all published: {:?}",
        outbox_rows(database_url).await
    );
}

async fn jetstream_context() -> jetstream::Context {
    let client = async_nats::connect(NATS_URL).await.expect(
        "nats-server with JetStream must run on 127.0.0.1:4222 (start-stop-daemon --start --oknodo \
         --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server)",
    );
    jetstream::new(client)
}

async fn stream_of(js: &jetstream::Context, name: &str, prefix: &str) -> jetstream::stream::Stream {
    js.get_or_create_stream(jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{prefix}.>")],
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Every message of `stream` from `start_sequence` on whose resource is one of `resources`, until
/// the stream has nothing more for a while.
async fn consume(
    stream: &jetstream::stream::Stream,
    start_sequence: u64,
    resources: &HashSet<String>,
) -> Vec<Received> {
    use futures::StreamExt as _;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence },
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut idle = 0;
    while idle < 2 {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            got += 1;
            let headers = message.headers.clone().unwrap_or_default();
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let resource_id = header("Funding-Resource-Id");
            if resources.contains(&resource_id) {
                received.push(Received {
                    subject: message.subject.to_string(),
                    msg_id: header("Nats-Msg-Id"),
                    resource_id,
                    payload: message.payload.to_vec(),
                });
            }
        }
        if got == 0 {
            idle += 1;
        } else {
            idle = 0;
        }
    }
    received
}

/// The order messages must keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The outbox's, across resources: SQLite's writers take turns, so a row's `seq` is its commit
    /// order.
    Outbox,
    /// Each resource's history order. On PostgreSQL `seq` is taken at insert, not at commit, so
    /// rows of two resources committed side by side may be read (and published) in either order;
    /// the changes of one resource never commit side by side (each move is conditional on the one
    /// before it, and transfer changes are numbered in their order).
    EachResource,
}

/// Each row arrives once, in `order`, on its subject; payloads (but those in `foreign`, published
/// by the test itself) decode to the resource with the row's status.
fn check_delivery(
    prefix: &str,
    rows: &[Row],
    received: &[Received],
    foreign: &HashSet<String>,
    json: bool,
    order: Order,
) {
    let sent: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let got: Vec<&str> = received.iter().map(|r| r.msg_id.as_str()).collect();
    let received: Vec<&Received> = match order {
        Order::Outbox => {
            assert_eq!(got, sent, "every change once, in the outbox's order");
            received.iter().collect()
        }
        Order::EachResource => {
            let (mut sorted_got, mut sorted_sent) = (got.clone(), sent.clone());
            sorted_got.sort_unstable();
            sorted_sent.sort_unstable();
            assert_eq!(sorted_got, sorted_sent, "every change once");
            let owners: HashSet<String> = rows.iter().map(|r| r.resource_id.to_string()).collect();
            for owner in &owners {
                let sent_of: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.resource_id.to_string() == *owner)
                    .map(|r| r.id.as_str())
                    .collect();
                let got_of: Vec<&str> = received
                    .iter()
                    .filter(|m| m.resource_id == *owner)
                    .map(|m| m.msg_id.as_str())
                    .collect();
                assert_eq!(
                    got_of, sent_of,
                    "the changes of {owner}, in its history's order"
                );
            }
            // Paired with the rows by id for the checks below.
            rows.iter()
                .map(|row| {
                    received
                        .iter()
                        .find(|m| m.msg_id == row.id)
                        .expect("every change arrived")
                })
                .collect()
        }
    };
    for (row, message) in rows.iter().zip(received) {
        assert_eq!(
            message.subject,
            format!("{prefix}.{}.{}", row.resource, row.status)
        );
        assert_eq!(message.resource_id, row.resource_id.to_string());
        if foreign.contains(&row.id) {
            continue;
        }
        if json {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(value["id"], row.resource_id.to_string());
            assert_eq!(value["status"], row.status.as_str());
            continue;
        }
        match row.resource.as_str() {
            "bank_link" => {
                let link = v1::BankLink::decode(message.payload.as_slice()).unwrap();
                assert_eq!(link.id, row.resource_id.to_string());
                let name = link.status().as_str_name().to_ascii_lowercase();
                assert_eq!(name, format!("bank_link_status_{}", row.status));
            }
            "transfer" => {
                let transfer = v1::Transfer::decode(message.payload.as_slice()).unwrap();
                assert_eq!(transfer.id, row.resource_id.to_string());
                let name = transfer.status().as_str_name().to_ascii_lowercase();
                assert_eq!(name, format!("transfer_status_{}", row.status));
            }
            "bank_transfer" => {
                let transfer = v1::BankTransfer::decode(message.payload.as_slice()).unwrap();
                assert_eq!(transfer.id, row.resource_id.to_string());
                let name = transfer.status().as_str_name().to_ascii_lowercase();
                assert_eq!(name, format!("bank_transfer_status_{}", row.status));
            }
            "account" => {
                let funding =
                    v1::GetAccountFundingResponse::decode(message.payload.as_slice()).unwrap();
                assert_eq!(funding.account_id, row.resource_id.to_string());
                assert_eq!(funding.frozen, row.status == "frozen");
            }
            other => panic!("unexpected resource {other}"),
        }
    }
}

/// The statuses of one resource's rows, in order.
fn statuses_of(rows: &[Row], resource_id: &str) -> Vec<String> {
    rows.iter()
        .filter(|r| r.resource_id.to_string() == resource_id)
        .map(|r| r.status.clone())
        .collect()
}

#[tokio::test]
async fn every_status_change_of_a_link_and_a_deposit_arrives_once_in_order_sqlite() {
    link_and_deposit(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_status_change_of_a_link_and_a_deposit_arrives_once_in_order_postgres() {
    link_and_deposit(Backend::Postgres).await;
}

/// The service on the default subjects (`funding.v1.…`, stream `FUNDING`, shared with other runs:
/// the test reads from the stream's end as it started and keeps its own resources' messages).
async fn link_and_deposit(backend: Backend) {
    let js = jetstream_context().await;
    let mut stream = stream_of(&js, "FUNDING", "funding.v1").await;
    let start = stream.info().await.unwrap().state.last_sequence + 1;

    let app = TestApp::spawn_with(AppOptions {
        backend,
        metrics: true,
        nats_url: Some(NATS_URL.into()),
        ..AppOptions::default()
    })
    .await;
    let (account_id, link) = app.approved_link().await;
    let request = app.transfer_request(&account_id, &link, "25.00", v1::TransferDirection::Deposit);
    let transfer = app.create_transfer(request).await.unwrap();
    app.wait_for_transfer_status(&transfer.id, v1::TransferStatus::Complete)
        .await;

    // A bank transfer on the Plaid rail: SUBMITTING, PENDING, POSTED, REVERSED.
    let token = app.processor_token().await;
    let bank_transfer = app
        .create_bank_transfer(app.bank_transfer_request(&token, "30.00"))
        .await
        .unwrap();
    app.simulate_bank_transfer(&bank_transfer.id, "posted", "")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&bank_transfer.id, v1::BankTransferStatus::Posted)
        .await;
    app.simulate_bank_transfer(&bank_transfer.id, "reversed", "R01")
        .await
        .unwrap();
    app.wait_for_bank_transfer_status(&bank_transfer.id, v1::BankTransferStatus::Reversed)
        .await;

    // A freeze and an unfreeze of the account are status events too (DESIGN §12).
    for freeze in [true, false] {
        let mut risk = app.client.risk();
        if freeze {
            risk.freeze_account(v1::FreezeAccountRequest {
                account_id: account_id.clone(),
                reason: "R10 on a deposit".into(),
            })
            .await
            .unwrap();
        } else {
            risk.unfreeze_account(v1::UnfreezeAccountRequest {
                account_id: account_id.clone(),
                reason: "cleared".into(),
            })
            .await
            .unwrap();
        }
    }

    let rows = wait_all_published(&app.database_url).await;
    let bank_transfer_history = count(
        &app.database_url,
        "SELECT COUNT(*) AS n FROM bank_transfer_status_history",
    )
    .await;
    assert_eq!(
        statuses_of(&rows, &bank_transfer.id),
        ["submitting", "pending", "posted", "reversed"]
    );
    assert_eq!(
        statuses_of(&rows, &bank_transfer.id).len() as i64,
        bank_transfer_history
    );
    // One row per history entry: the link's history, the transfer's change log.
    let link_history = count(
        &app.database_url,
        "SELECT COUNT(*) AS n FROM bank_link_status_history",
    )
    .await;
    let transfer_changes = count(
        &app.database_url,
        "SELECT COUNT(*) AS n FROM transfer_changes",
    )
    .await;
    assert_eq!(statuses_of(&rows, &link.id).len() as i64, link_history);
    assert_eq!(
        statuses_of(&rows, &transfer.id).len() as i64,
        transfer_changes
    );
    assert_eq!(
        statuses_of(&rows, &link.id).last().map(String::as_str),
        Some("approved")
    );
    let transfer_statuses = statuses_of(&rows, &transfer.id);
    assert_eq!(
        transfer_statuses.first().map(String::as_str),
        Some("submitting")
    );
    assert_eq!(
        transfer_statuses.last().map(String::as_str),
        Some("complete")
    );

    assert_eq!(statuses_of(&rows, &account_id), ["frozen", "unfrozen"]);
    let resources: HashSet<String> = [
        link.id.clone(),
        transfer.id.clone(),
        bank_transfer.id.clone(),
        account_id.clone(),
    ]
    .into();
    let received = consume(&stream, start, &resources).await;
    // SQLite's writers take turns, so its outbox order is the commit order; on PostgreSQL only
    // each resource's order is promised (see `Order`).
    let order = match backend {
        Backend::Sqlite => Order::Outbox,
        Backend::Postgres => Order::EachResource,
    };
    check_delivery(
        "funding.v1",
        &rows,
        &received,
        &HashSet::new(),
        false,
        order,
    );

    let metrics_url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let mut text = String::new();
    for _ in 0..100 {
        text = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("funding_outbox_pending 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("funding_outbox_pending 0"), "{text}");
    assert!(
        text.contains(r#"funding_outbox_published_total{resource="transfer"}"#),
        "{text}"
    );
    app.stop().await;
}

/// One `fundingd` process in providers mode against the test's emulator.
struct Process {
    child: Child,
    address: String,
    log: std::path::PathBuf,
}

impl Process {
    async fn start(dir: &std::path::Path, name: &str, config: String, port: u16) -> Self {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = Command::new(BINARY);
        command
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (var, _) in std::env::vars() {
            if var.starts_with("FUNDING_") {
                command.env_remove(var);
            }
        }
        let mut process = Self {
            child: command.spawn().unwrap(),
            address: format!("http://127.0.0.1:{port}"),
            log: log_path,
        };
        for _ in 0..200 {
            if let Ok(client) = FundingClient::connect(process.address.clone(), None).await {
                let answer = client
                    .bank_links()
                    .get_bank_link(v1::GetBankLinkRequest {
                        id: uuid::Uuid::new_v4().to_string(),
                    })
                    .await;
                if matches!(answer, Err(status) if status.code() == tonic::Code::NotFound) {
                    return process;
                }
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{name} exited at start ({status}): {}", process.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} never answered: {}", process.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, database_url: &str, plaid: &str, alpaca: &str, nats: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
database_url = "{database_url}"
encryption_key = "{KEY}"
insecure_no_auth = true
log_format = "json"
work_poll_interval_ms = 50
work_backoff_base_ms = 50
work_backoff_cap_ms = 400
stream_lease_ms = 1000
reconcile_interval_ms = 500
{nats}
[plaid]
base_url = "{plaid}"
client_id = "events-out-test"
secret = "events-out-test-secret"

[alpaca]
base_url = "{alpaca}"
key_id = "events-out-test"
secret = "events-out-test-secret"
"#
    )
}

/// Over the process at `address`: a link to APPROVED, then a deposit to COMPLETE.
async fn link_and_deposit_on(
    control: &funding_sandbox::SandboxControl,
    address: &str,
) -> (v1::BankLink, v1::Transfer) {
    let client = FundingClient::connect(address.to_owned(), None)
        .await
        .unwrap();
    let public = control.create_public_token("ins_109508").unwrap();
    let checking = public
        .accounts
        .iter()
        .find(|a| a.subtype == "checking")
        .unwrap()
        .account_id
        .clone();
    let account_id = uuid::Uuid::new_v4().to_string();
    let link = client
        .bank_links()
        .create_bank_link(v1::CreateBankLinkRequest {
            account_id: account_id.clone(),
            public_token: public.public_token,
            plaid_account_id: checking,
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    let mut approved = false;
    for _ in 0..200 {
        let now = client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest {
                id: link.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .bank_link
            .unwrap();
        if now.status() == v1::BankLinkStatus::Approved {
            approved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(approved, "the link never reached APPROVED");
    let transfer = client
        .transfers()
        .create_transfer(v1::CreateTransferRequest {
            account_id: account_id.clone(),
            bank_link_id: link.id.clone(),
            amount: "40.00".into(),
            direction: v1::TransferDirection::Deposit.into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    let mut complete = false;
    for _ in 0..300 {
        let now = client
            .transfers()
            .get_transfer(v1::GetTransferRequest {
                id: transfer.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .transfer
            .unwrap();
        if now.status() == v1::TransferStatus::Complete {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(complete, "the deposit never reached COMPLETE");
    (link, transfer)
}

#[tokio::test]
async fn changes_committed_by_a_killed_replica_are_published_once_by_the_next() {
    let emulator = funding_sandbox::spawn(SandboxConfig {
        relationship_approval_delay: Duration::from_millis(200),
        ..SandboxConfig::ephemeral()
    })
    .await
    .unwrap();
    let control = emulator.control();
    control.set_transfer_step_delay(Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("funding.db").display());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("t{tag}.v1");
    let stream_name = format!("EVENTS_OUT_{tag}");

    // 1. A replica without NATS commits the changes and publishes nothing; then it is killed.
    let port = free_port();
    let plain = config(
        port,
        &database_url,
        &emulator.plaid_url(),
        &emulator.alpaca_url(),
        "",
    );
    let mut first = Process::start(dir.path(), "first", plain, port).await;
    let (link, transfer) = link_and_deposit_on(&control, &first.address).await;
    first.kill();

    let rows = outbox_rows(&database_url).await;
    assert!(rows.len() >= 4, "link and transfer changes: {rows:?}");
    assert!(
        rows.iter().all(|r| !r.published),
        "nothing is published without nats_url"
    );

    // 2. The first half reached JetStream before the crash but was never marked published.
    let js = jetstream_context().await;
    let stream = stream_of(&js, &stream_name, &prefix).await;
    let early: Vec<Row> = rows[..rows.len() / 2].to_vec();
    for row in &early {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", row.id.as_str());
        headers.insert("Funding-Resource-Id", row.resource_id.to_string().as_str());
        js.publish_with_headers(
            format!("{prefix}.{}.{}", row.resource, row.status),
            headers,
            "published before the crash".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }

    // 3. A replica with NATS on the same database publishes what is left, each change once.
    let port = free_port();
    let nats = format!(
        "nats_url = \"{NATS_URL}\"\nnats_subject_prefix = \"{prefix}\"\nnats_stream = \"{stream_name}\"\nnats_poll_interval_ms = 100\nnats_payload = \"json\"\n"
    );
    let with_nats = config(
        port,
        &database_url,
        &emulator.plaid_url(),
        &emulator.alpaca_url(),
        &nats,
    );
    let mut second = Process::start(dir.path(), "second", with_nats, port).await;
    let published = wait_all_published(&database_url).await;
    let ids: Vec<&str> = published.iter().map(|r| r.id.as_str()).collect();
    let before: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    // The second replica may have added changes of its own (none expected: all settled).
    assert!(ids.starts_with(&before), "{ids:?} vs {before:?}");

    let resources: HashSet<String> = [link.id.clone(), transfer.id.clone()].into();
    let received = consume(&stream, 1, &resources).await;
    let foreign: HashSet<String> = early.iter().map(|r| r.id.clone()).collect();
    check_delivery(
        &prefix,
        &published,
        &received,
        &foreign,
        true,
        Order::Outbox,
    );
    for (row, message) in published.iter().zip(&received) {
        if foreign.contains(&row.id) {
            assert_eq!(message.payload, b"published before the crash");
        }
    }
    assert!(
        second.log_text().contains("publishing status changes"),
        "{}",
        second.log_text()
    );
    second.kill();
    let _ = js.delete_stream(&stream_name).await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn two_replicas_publishing_the_same_outbox_deliver_each_change_once_in_order() {
    let emulator = funding_sandbox::spawn(SandboxConfig {
        relationship_approval_delay: Duration::from_millis(200),
        ..SandboxConfig::ephemeral()
    })
    .await
    .unwrap();
    let control = emulator.control();
    control.set_transfer_step_delay(Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("funding.db").display());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("t{tag}.v1");
    let stream_name = format!("EVENTS_OUT_{tag}");
    let nats = format!(
        "nats_url = \"{NATS_URL}\"\nnats_subject_prefix = \"{prefix}\"\nnats_stream = \"{stream_name}\"\nnats_poll_interval_ms = 20\n"
    );
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let settings = config(
            port,
            &database_url,
            &emulator.plaid_url(),
            &emulator.alpaca_url(),
            &nats,
        );
        replicas.push(Process::start(dir.path(), name, settings, port).await);
    }
    // Both replicas poll the same rows; changes are made on both.
    let (link, transfer) = link_and_deposit_on(&control, &replicas[0].address).await;
    let (other_link, other_transfer) = link_and_deposit_on(&control, &replicas[1].address).await;
    let published = wait_all_published(&database_url).await;

    let js = jetstream_context().await;
    let stream = stream_of(&js, &stream_name, &prefix).await;
    let resources: HashSet<String> =
        [link.id, transfer.id, other_link.id, other_transfer.id].into();
    let received = consume(&stream, 1, &resources).await;
    check_delivery(
        &prefix,
        &published,
        &received,
        &HashSet::new(),
        false,
        Order::Outbox,
    );
    for replica in &mut replicas {
        replica.kill();
    }
    let _ = js.delete_stream(&stream_name).await;
    emulator.shutdown().await;
}
