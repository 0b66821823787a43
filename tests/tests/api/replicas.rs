//! Several replicas on one PostgreSQL, against one shared emulator (as real deployments share the
//! real providers): exactly once per idempotency key across replicas (DESIGN §4.1), exactly one
//! replica follows Alpaca's event stream, and another takes over when it stops (DESIGN §8).

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{SandboxConfig, SandboxControl};
use fundingd::settings::{AlpacaSettings, PlaidSettings, RiskSettings};
use fundingd::{Application, Settings};
use sea_orm::{ConnectionTrait, Database};
use tokio_util::sync::CancellationToken;

struct Replica {
    client: FundingClient,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(database_url: &str, plaid_url: String, alpaca_url: String) -> Self {
        Self::start_with(database_url, plaid_url, alpaca_url, RiskSettings::default()).await
    }

    async fn start_with(
        database_url: &str,
        plaid_url: String,
        alpaca_url: String,
        risk: RiskSettings,
    ) -> Self {
        let settings = Settings {
            risk,
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.to_owned(),
            encryption_key: Some(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                    .to_owned()
                    .into(),
            ),
            plaid: Some(PlaidSettings {
                base_url: plaid_url,
                client_id: "client".into(),
                secret: Some("secret".to_owned().into()),
                request_timeout_ms: None,
                webhook_url: None,
                client_name: None,
            }),
            alpaca: Some(AlpacaSettings {
                base_url: alpaca_url,
                key_id: "key".into(),
                secret: Some("secret".to_owned().into()),
                request_timeout_ms: None,
            }),
            insecure_no_auth: true,
            stream_lease_ms: 2_000,
            health_check_interval_ms: 100,
            ..Settings::default()
        };
        let app = Application::build(settings)
            .await
            .expect("a replica starts");
        let address = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let client = FundingClient::connect(address, None).await.unwrap();
        Self {
            client,
            shutdown,
            server,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.server).await;
    }
}

struct Cluster {
    emulator: funding_sandbox::SandboxHandle,
    database: String,
    url: String,
}

impl Cluster {
    async fn new() -> Self {
        let emulator = funding_sandbox::spawn(SandboxConfig {
            relationship_approval_delay: Duration::from_millis(100),
            ..SandboxConfig::ephemeral()
        })
        .await
        .unwrap();
        let database = format!("funding_replicas_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(funding_tests::postgres_admin_url())
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
        let _ = admin.close().await;
        let admin_url = funding_tests::postgres_admin_url();
        let url = format!("{}/{database}", &admin_url[..admin_url.rfind('/').unwrap()]);
        Self {
            emulator,
            database,
            url,
        }
    }

    fn control(&self) -> SandboxControl {
        self.emulator.control()
    }

    async fn replica(&self) -> Replica {
        Replica::start(
            &self.url,
            self.emulator.plaid_url(),
            self.emulator.alpaca_url(),
        )
        .await
    }

    fn stream_connections(&self) -> usize {
        self.control()
            .calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path == "/v2/events/funding/status")
            .count()
    }

    async fn finish(self) {
        self.emulator.shutdown().await;
        let admin = Database::connect(funding_tests::postgres_admin_url())
            .await
            .unwrap();
        let _ = admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .await;
        let _ = admin.close().await;
    }
}

impl Cluster {
    async fn replica_with(&self, risk: RiskSettings) -> Replica {
        Replica::start_with(
            &self.url,
            self.emulator.plaid_url(),
            self.emulator.alpaca_url(),
            risk,
        )
        .await
    }
}

fn create_request(control: &SandboxControl) -> v1::CreateBankLinkRequest {
    let link = control.create_public_token("ins_109508").unwrap();
    let checking = link
        .accounts
        .iter()
        .find(|a| a.subtype == "checking")
        .unwrap();
    v1::CreateBankLinkRequest {
        account_id: uuid::Uuid::new_v4().to_string(),
        public_token: link.public_token.clone(),
        plaid_account_id: checking.account_id.clone(),
        nickname: String::new(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        replace_bank_link_id: String::new(),
    }
}

async fn wait_for(client: &FundingClient, id: &str, status: BankLinkStatus) {
    for _ in 0..300 {
        let link = client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner()
            .bank_link
            .unwrap();
        if link.status() == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("link {id} never reached {status:?}");
}

#[tokio::test]
async fn creates_on_two_replicas_with_one_key_make_one_relationship_on_postgres() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.replica().await, cluster.replica().await);
    let request = create_request(&cluster.control());
    let calls = (0..8).map(|i| {
        let client = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        let request = request.clone();
        tokio::spawn(async move { client.bank_links().create_bank_link(request).await })
    });
    let mut ids = std::collections::HashSet::new();
    for call in futures::future::join_all(calls).await {
        ids.insert(
            call.unwrap()
                .expect("every create succeeds")
                .into_inner()
                .bank_link
                .unwrap()
                .id,
        );
    }
    assert_eq!(ids.len(), 1, "both replicas answered with the same link");
    let path = format!("/v1/accounts/{}/ach_relationships", request.account_id);
    let creates = cluster
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .count();
    assert_eq!(creates, 1, "one relationship at Alpaca");
    a.stop().await;
    b.stop().await;
    cluster.finish().await;
}

#[tokio::test]
async fn one_replica_follows_the_event_stream_and_another_takes_over_on_postgres() {
    let cluster = Cluster::new().await;
    let a = cluster.replica().await;
    for _ in 0..200 {
        if cluster.stream_connections() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cluster.stream_connections(),
        1,
        "the first replica reads the stream"
    );
    let b = cluster.replica().await;
    let request = create_request(&cluster.control());
    let link = b
        .client
        .bank_links()
        .create_bank_link(request)
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    wait_for(&b.client, &link.id, BankLinkStatus::Approved).await;
    // The other replica tries to take the stream every half lease, and is refused: still one reader.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        cluster.stream_connections(),
        1,
        "exactly one replica reads the stream"
    );

    // The reader stops; the other takes over from the stored cursor and follows new events.
    a.stop().await;
    let request = create_request(&cluster.control());
    let second = b
        .client
        .bank_links()
        .create_bank_link(request)
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    wait_for(&b.client, &second.id, BankLinkStatus::Approved).await;
    assert_eq!(
        cluster.stream_connections(),
        2,
        "the second replica took the stream over"
    );
    b.stop().await;
    cluster.finish().await;
}

/// DESIGN §11: limits count what is in flight across replicas without a race. A daily hard limit
/// of 1,000.00 and twenty concurrent deposits of 100.00, sent half to each replica: exactly ten
/// reach Alpaca, the other ten end FAILED naming the limit.
#[tokio::test]
async fn concurrent_deposits_on_two_replicas_never_pass_one_daily_limit_on_postgres() {
    let cluster = Cluster::new().await;
    let mut risk = RiskSettings::default();
    risk.limits.alpaca.deposit.daily.hard = Some(100_000);
    let (a, b) = (
        cluster.replica_with(risk.clone()).await,
        cluster.replica_with(risk).await,
    );
    let request = create_request(&cluster.control());
    let link = a
        .client
        .bank_links()
        .create_bank_link(request.clone())
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    wait_for(&a.client, &link.id, BankLinkStatus::Approved).await;
    let calls = (0..20).map(|i| {
        let client = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        let transfer = v1::CreateTransferRequest {
            account_id: request.account_id.clone(),
            bank_link_id: link.id.clone(),
            amount: "100.00".into(),
            direction: v1::TransferDirection::Deposit.into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        };
        tokio::spawn(async move { client.transfers().create_transfer(transfer).await })
    });
    for call in futures::future::join_all(calls).await {
        if let Err(status) = call.unwrap() {
            assert_eq!(
                funding_tests::error_reason(&status),
                "LIMIT_EXCEEDED",
                "{status:?}"
            );
        }
    }
    let mut finals = Vec::new();
    for _ in 0..400 {
        finals = a
            .client
            .transfers()
            .list_transfers(v1::ListTransfersRequest {
                account_id: request.account_id.clone(),
                page_size: 100,
                ..v1::ListTransfersRequest::default()
            })
            .await
            .unwrap()
            .into_inner()
            .transfers;
        if finals.len() == 20
            && finals
                .iter()
                .all(|t| t.status() != v1::TransferStatus::Submitting)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed: Vec<_> = finals
        .iter()
        .filter(|t| t.status() == v1::TransferStatus::Failed)
        .collect();
    assert_eq!(finals.len(), 20);
    assert_eq!(failed.len(), 10, "{finals:#?}");
    for transfer in failed {
        assert!(
            transfer.status_reason.starts_with("LIMIT_EXCEEDED"),
            "{transfer:?}"
        );
    }
    let path = format!("/v1/accounts/{}/transfers", request.account_id);
    let sent = cluster
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .count();
    assert_eq!(sent, 10, "exactly what fits reached Alpaca");
    a.stop().await;
    b.stop().await;
    cluster.finish().await;
}
