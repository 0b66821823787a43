//! Security at the door: every RPC the proto declares needs a known token with the right scope
//! (table-driven, so a new RPC cannot be added unprotected); optional TLS and mutual TLS; and the
//! limits — message size, HTTP/2 streams per connection, per-caller rate limits — whose refusals
//! leave nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use funding_client::{Certificate, ClientTlsConfig, FundingClient, Identity, v1};
use funding_tests::{AppOptions, TestApp};
use fundingd::settings::{ClientSettings, LimitSettings, TlsSettings};
use fundingd::{Application, Settings};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::hostile::Snapshot;
use crate::raw_grpc::{self, Rpc};

/// The scope each RPC needs: every RPC of `funding.v1`, by its full path. A new RPC must be added
/// here (with the scope its handler asks `require` for), or the first test fails.
const SCOPES: &[(&str, &str)] = &[
    ("/funding.v1.BankLinkService/CreateLinkToken", "links:write"),
    ("/funding.v1.BankLinkService/CreateBankLink", "links:write"),
    ("/funding.v1.BankLinkService/DeleteBankLink", "links:write"),
    ("/funding.v1.BankLinkService/GetBankLink", "read"),
    ("/funding.v1.BankLinkService/ListBankLinks", "read"),
    (
        "/funding.v1.BankTransferService/CancelBankTransfer",
        "bank_transfers:write",
    ),
    (
        "/funding.v1.BankTransferService/CreateBankTransfer",
        "bank_transfers:write",
    ),
    ("/funding.v1.BankTransferService/GetBankTransfer", "read"),
    ("/funding.v1.BankTransferService/ListBankTransfers", "read"),
    ("/funding.v1.SandboxService/CreateProcessorToken", "sandbox"),
    ("/funding.v1.SandboxService/CreatePublicToken", "sandbox"),
    ("/funding.v1.SandboxService/SimulateBankTransfer", "sandbox"),
    ("/funding.v1.SandboxService/SimulateTransfer", "sandbox"),
    (
        "/funding.v1.TransferService/CancelTransfer",
        "transfers:write",
    ),
    (
        "/funding.v1.TransferService/CreateTransfer",
        "transfers:write",
    ),
    ("/funding.v1.TransferService/GetTransfer", "read"),
    ("/funding.v1.TransferService/ListTransfers", "read"),
    ("/funding.v1.TransferService/ListProviderOrphans", "read"),
    ("/funding.v1.TransferService/WatchTransfers", "read"),
    ("/funding.v1.RiskService/GetAccountFunding", "risk:read"),
    ("/funding.v1.RiskService/ListReviews", "risk:read"),
    ("/funding.v1.RiskService/ListAuditEvents", "risk:read"),
    ("/funding.v1.RiskService/GetReturnRates", "risk:read"),
    ("/funding.v1.RiskService/SetAccountLimits", "risk:write"),
    ("/funding.v1.RiskService/FreezeAccount", "risk:write"),
    ("/funding.v1.RiskService/UnfreezeAccount", "risk:write"),
    ("/funding.v1.RiskService/ApproveReview", "review"),
    ("/funding.v1.RiskService/RejectReview", "review"),
];

pub(crate) const ALL_SCOPES: [&str; 8] = [
    "links:write",
    "transfers:write",
    "bank_transfers:write",
    "read",
    "sandbox",
    "risk:read",
    "risk:write",
    "review",
];

/// The hex SHA-256 configuration holds for a token.
fn hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn client(name: &str, token: &str, scopes: &[&str]) -> ClientSettings {
    ClientSettings {
        name: name.into(),
        token_sha256: hash(token),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn scope_table() -> BTreeMap<&'static str, &'static str> {
    SCOPES.iter().copied().collect()
}

#[test]
fn every_rpc_the_proto_declares_is_in_the_scope_table() {
    let declared: BTreeSet<String> = raw_grpc::rpcs().into_iter().map(|rpc| rpc.path).collect();
    let table: BTreeSet<String> = scope_table().keys().map(|k| (*k).to_owned()).collect();
    let unprotected: Vec<_> = declared.difference(&table).collect();
    assert!(
        unprotected.is_empty(),
        "RPCs the proto declares that the scope table of security.rs does not cover: {unprotected:?}; add each with the scope its handler requires"
    );
    let gone: Vec<_> = table.difference(&declared).collect();
    assert!(
        gone.is_empty(),
        "the scope table names RPCs the proto no longer has: {gone:?}"
    );
    for scope in scope_table().values() {
        assert!(ALL_SCOPES.contains(scope), "unknown scope {scope}");
    }
}

/// A client for each scope holding every other scope (`without:<scope>`), and one holding only it
/// (`only:<scope>`); tokens are the client names reversed, so none is guessable from another.
fn scope_clients() -> Vec<ClientSettings> {
    ALL_SCOPES
        .iter()
        .flat_map(|scope| {
            let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| s != scope).collect();
            [
                client(
                    &format!("without:{scope}"),
                    &token_of(&format!("without:{scope}")),
                    &others,
                ),
                client(
                    &format!("only:{scope}"),
                    &token_of(&format!("only:{scope}")),
                    &[scope],
                ),
            ]
        })
        .collect()
}

fn token_of(name: &str) -> String {
    format!("token-{}", name.chars().rev().collect::<String>())
}

#[tokio::test]
async fn every_rpc_refuses_a_missing_or_wrong_token_and_a_token_without_its_scope() {
    let app = TestApp::spawn_with(AppOptions {
        clients: scope_clients(),
        token: Some(token_of("only:sandbox")),
        ..AppOptions::default()
    })
    .await;
    let table = scope_table();
    let rpcs = raw_grpc::rpcs();
    let before = Snapshot::take(&app).await;
    let mut failures = Vec::new();
    let wrong_tokens = ["guessed-token", "", " ", "Bearer", &hash("guessed-token")];
    for rpc in &rpcs {
        let scope = table[rpc.path.as_str()];
        let channel = app.client.channel();
        // No token at all.
        expect(
            &mut failures,
            rpc,
            "no token",
            raw_grpc::call(channel.clone(), rpc, None, Vec::new()).await,
            Code::Unauthenticated,
        );
        // Wrong tokens: never echoed back.
        for wrong in wrong_tokens {
            let outcome = raw_grpc::call(channel.clone(), rpc, Some(wrong), Vec::new()).await;
            if let Err(status) = &outcome
                && wrong.len() > 3
                && status.message().contains(wrong)
            {
                failures.push(format!("{}: the refusal echoes the token", rpc.path));
            }
            expect(
                &mut failures,
                rpc,
                &format!("wrong token {wrong:?}"),
                outcome,
                Code::Unauthenticated,
            );
        }
        // Another scheme than Bearer.
        let mut request = tonic::Request::new(Vec::<u8>::new());
        request.metadata_mut().insert(
            "authorization",
            format!("Basic {}", token_of(&format!("only:{scope}")))
                .parse()
                .unwrap(),
        );
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path = rpc.path.parse().unwrap();
        let outcome = if rpc.server_streaming {
            grpc.server_streaming(request, path, raw_grpc::RawCodec)
                .await
                .map(|_| ())
        } else {
            grpc.unary(request, path, raw_grpc::RawCodec)
                .await
                .map(|_| ())
        };
        expect(
            &mut failures,
            rpc,
            "a Basic token",
            outcome,
            Code::Unauthenticated,
        );
        // Every scope but the one it needs.
        let outcome = raw_grpc::call(
            channel.clone(),
            rpc,
            Some(&token_of(&format!("without:{scope}"))),
            Vec::new(),
        )
        .await;
        expect(
            &mut failures,
            rpc,
            &format!("every scope but {scope}"),
            outcome,
            Code::PermissionDenied,
        );
    }
    // Refusals happen before anything: no provider call, no row.
    let after = Snapshot::take(&app).await;
    if let Some(difference) = before.difference(&after) {
        failures.push(format!("the refusals left something behind: {difference}"));
    }
    // The scope it needs is enough to get past the door (whatever the empty request then gets).
    for rpc in &rpcs {
        let scope = table[rpc.path.as_str()];
        let outcome = raw_grpc::call(
            app.client.channel(),
            rpc,
            Some(&token_of(&format!("only:{scope}"))),
            Vec::new(),
        )
        .await;
        if let Err(status) = outcome
            && matches!(
                status.code(),
                Code::Unauthenticated | Code::PermissionDenied
            )
        {
            failures.push(format!(
                "{} with only {scope}: {:?} {}",
                rpc.path,
                status.code(),
                status.message()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}

fn expect(
    failures: &mut Vec<String>,
    rpc: &Rpc,
    what: &str,
    outcome: raw_grpc::Outcome,
    code: Code,
) {
    match outcome {
        Err(status) if status.code() == code => {}
        Err(status) => failures.push(format!(
            "{} with {what}: {:?} {} (expected {code:?})",
            rpc.path,
            status.code(),
            status.message()
        )),
        Ok(()) => failures.push(format!("{} with {what}: OK (expected {code:?})", rpc.path)),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A CA, a server certificate for localhost and 127.0.0.1, and client certificates: one from the
/// CA, one from a CA the server does not know. All PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    stranger_cert: String,
    stranger_key: String,
}

fn ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.extended_key_usages = vec![usage];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let stranger_ca = ca("a CA nobody trusts");
    let ca = ca("funding test CA");
    let (server_cert, server_key) = leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        &ca,
        &["ledger-service"],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (stranger_cert, stranger_key) = leaf(
        &stranger_ca,
        &["ledger-service"],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

/// A sandbox server on a loopback port with `tls` (files written into `dir`): its address and how
/// to stop it.
struct TlsServer {
    port: u16,
    shutdown: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TlsServer {
    async fn start(dir: &Path, pki: &Pki, mutual: bool) -> TlsServer {
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let tls = TlsSettings {
            cert_file: Some(write("server.pem", &pki.server_cert)),
            key_file: Some(write("server.key", &pki.server_key)),
            client_ca_file: mutual.then(|| write("ca.pem", &pki.ca)),
        };
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite:{}", dir.join("funding.db").display()),
            encryption_key_file: Some(dir.join("funding.key")),
            tls,
            ..Settings::default()
        };
        let app = Application::build(settings).await.expect("the app starts");
        let port = app.port();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        TlsServer {
            port,
            shutdown,
            server,
        }
    }

    fn https(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

/// A TLS client trusting `ca`, with `identity` (cert, key) if given.
fn tls_config(ca: &str, identity: Option<(&str, &str)>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    match identity {
        Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
        None => config,
    }
}

/// A funding call and a health check over `client`.
async fn works(client: &FundingClient) -> Result<(), tonic::Status> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(client.channel());
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    client
        .sandbox()
        .create_public_token(v1::CreatePublicTokenRequest::default())
        .await?;
    Ok(())
}

/// A client that fails to connect, or whose call fails, did not get through.
async fn refused(client: Result<FundingClient, funding_client::ClientError>) -> bool {
    match client {
        Err(_) => true,
        Ok(client) => works(&client).await.is_err(),
    }
}

#[tokio::test]
async fn over_tls_a_client_trusting_the_ca_gets_through_and_a_plaintext_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = TlsServer::start(dir.path(), &pki, false).await;

    let client = FundingClient::connect_tls(server.https(), None, tls_config(&pki.ca, None))
        .await
        .expect("a TLS client connects");
    works(&client).await.expect("calls over TLS succeed");

    let plaintext = FundingClient::connect(format!("http://127.0.0.1:{}", server.port), None).await;
    assert!(refused(plaintext).await, "a plaintext client is refused");

    // A client that trusts another CA does not accept the server.
    let stranger = ca("another CA").pem();
    let distrustful =
        FundingClient::connect_tls(server.https(), None, tls_config(&stranger, None)).await;
    assert!(refused(distrustful).await);

    // The refusals did not stop the server.
    works(&client).await.expect("still serving over TLS");
    server.stop().await;
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_it_signed_get_through() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = TlsServer::start(dir.path(), &pki, true).await;

    let anonymous =
        FundingClient::connect_tls(server.https(), None, tls_config(&pki.ca, None)).await;
    assert!(
        refused(anonymous).await,
        "a client without a certificate is refused"
    );

    let stranger = FundingClient::connect_tls(
        server.https(),
        None,
        tls_config(&pki.ca, Some((&pki.stranger_cert, &pki.stranger_key))),
    )
    .await;
    assert!(
        refused(stranger).await,
        "a certificate from another CA is refused"
    );

    let known = FundingClient::connect_tls(
        server.https(),
        None,
        tls_config(&pki.ca, Some((&pki.client_cert, &pki.client_key))),
    )
    .await
    .expect("a client with a certificate from the CA connects");
    works(&known)
        .await
        .expect("calls with a client certificate succeed");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Limits

fn limits(change: impl FnOnce(&mut LimitSettings)) -> Option<LimitSettings> {
    let mut limits = LimitSettings {
        calls_per_minute: 0,
        writes_per_minute: 0,
        ..LimitSettings::default()
    };
    change(&mut limits);
    Some(limits)
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted_and_writes_nothing() {
    let app = TestApp::spawn_with(AppOptions {
        limits: limits(|l| l.max_request_bytes = 2048),
        ..AppOptions::default()
    })
    .await;
    let mut request = app.create_request().await;
    request.nickname = "n".repeat(4096);
    let before = Snapshot::take(&app).await;
    let status = app.create_link(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason),
        Some("MESSAGE_TOO_LARGE".to_owned())
    );
    assert!(status.message().contains("too large"), "{status:?}");
    let after = Snapshot::take(&app).await;
    assert_eq!(before.difference(&after), None);
    // Under the limit, the same request is served.
    request.nickname = "Checking".into();
    app.create_link(request).await.expect("a request that fits");
    app.stop().await;
}

#[tokio::test]
async fn a_caller_over_its_rate_is_refused_with_retry_info_and_its_neighbour_is_not() {
    let all = ALL_SCOPES;
    let app = TestApp::spawn_with(AppOptions {
        clients: vec![
            client("greedy", "greedy-token", &all),
            client("neighbour", "neighbour-token", &all),
        ],
        token: Some("neighbour-token".into()),
        // One write a minute after a burst of two: nothing refills while the test runs.
        limits: limits(|l| {
            l.writes_per_minute = 1;
            l.write_burst = 2;
            l.calls_per_minute = 1;
            l.call_burst = 8;
        }),
        ..AppOptions::default()
    })
    .await;
    let greedy = FundingClient::connect(app.address.clone(), Some("greedy-token"))
        .await
        .unwrap();
    // The greedy caller spends its burst of writes on two public tokens.
    let mut requests = Vec::new();
    for _ in 0..2 {
        let token = greedy
            .sandbox()
            .create_public_token(v1::CreatePublicTokenRequest::default())
            .await
            .expect("within the burst")
            .into_inner();
        let checking = token
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .unwrap();
        requests.push(v1::CreateBankLinkRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            public_token: token.public_token.clone(),
            plaid_account_id: checking.account_id.clone(),
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        });
    }

    // Its next write, a valid one, is refused before it does anything.
    let before = Snapshot::take(&app).await;
    let status = greedy
        .bank_links()
        .create_bank_link(requests[0].clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(retry > std::time::Duration::ZERO);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "RATE_LIMITED");
    assert_eq!(
        info.metadata.get("budget").map(String::as_str),
        Some("writes")
    );
    let after = Snapshot::take(&app).await;
    assert_eq!(
        before.difference(&after),
        None,
        "a refused call calls no provider and writes no row"
    );

    // Meanwhile its neighbour's writes are served.
    let link = app
        .create_link(requests[1].clone())
        .await
        .expect("another caller is not limited");
    assert_eq!(link.account_id, requests[1].account_id);

    // Reads spend the greedy caller's budget of calls (eight at once, then one a minute): it has
    // made three calls, so five more reads pass and the sixth is refused.
    for _ in 0..5 {
        greedy
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest {
                id: link.id.clone(),
            })
            .await
            .expect("within the burst of calls");
    }
    let status = greedy
        .bank_links()
        .get_bank_link(v1::GetBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.get_details_retry_info().is_some());
    assert_eq!(
        status
            .get_details_error_info()
            .and_then(|info| info.metadata.get("budget").cloned()),
        Some("calls".to_owned())
    );
    app.get_link(&link.id).await;
    app.stop().await;
}

#[tokio::test]
async fn the_server_announces_its_limit_of_concurrent_streams_per_connection() {
    let app = TestApp::spawn_with(AppOptions {
        limits: limits(|l| l.max_concurrent_streams = 3),
        ..AppOptions::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
    // The server's SETTINGS come first; once a PING is answered, they have been read.
    let mut ping_pong = connection.ping_pong().expect("ping-pong");
    tokio::select! {
        pong = ping_pong.ping(h2::Ping::opaque()) => {
            pong.unwrap();
        }
        ended = &mut connection => panic!("the connection ended: {ended:?}"),
    }
    assert_eq!(connection.max_concurrent_send_streams(), 3);
    // A connection nobody reads would hold the graceful shutdown up.
    drop((send, connection));
    app.stop().await;
}

/// What each of `count` quick writes (sandbox public tokens) answered: `None` when it was served.
async fn burst_of_writes(client: &FundingClient, count: u32) -> Vec<Option<Code>> {
    let mut codes = Vec::new();
    for _ in 0..count {
        let answer = client
            .sandbox()
            .create_public_token(v1::CreatePublicTokenRequest::default())
            .await;
        codes.push(answer.err().map(|status| status.code()));
    }
    codes
}

/// Open mode (no `[[clients]]`) has no one to tell apart: the default budgets, which do refuse a
/// configured client's burst, leave it alone.
#[tokio::test]
async fn open_mode_has_no_rate_limits_but_a_configured_client_has() {
    let over_the_burst = LimitSettings::default().write_burst + 5;
    let open = TestApp::spawn_with(AppOptions {
        limits: Some(LimitSettings::default()),
        ..AppOptions::default()
    })
    .await;
    let codes = burst_of_writes(&open.client, over_the_burst).await;
    assert!(codes.iter().all(Option::is_none), "open mode: {codes:?}");
    open.stop().await;

    let all = ALL_SCOPES;
    let configured = TestApp::spawn_with(AppOptions {
        clients: vec![client("app", "app-token", &all)],
        token: Some("app-token".into()),
        limits: Some(LimitSettings::default()),
        ..AppOptions::default()
    })
    .await;
    let codes = burst_of_writes(&configured.client, over_the_burst).await;
    assert!(
        codes.contains(&Some(Code::ResourceExhausted)),
        "a client past its burst: {codes:?}"
    );
    configured.stop().await;
}
