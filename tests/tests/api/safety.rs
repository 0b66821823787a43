//! Sandbox safety (DESIGN §10): sandbox mode beyond the defaults (SQLite, a loopback address) needs
//! an explicit `--sandbox` and is refused otherwise with one line saying what to set, before anything
//! is bound, created or migrated; and a database keeps the mode it was created in — a sandbox
//! database is refused by a start with real providers and the reverse, before any provider is
//! contacted, changing nothing.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use fundingd::settings::{AlpacaSettings, PlaidSettings};
use fundingd::{Application, Settings};
use sea_orm::{ConnectionTrait, Database, Statement};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A PostgreSQL database of the test's own, dropped by [`FreshPostgres::drop`].
struct FreshPostgres {
    name: String,
    url: String,
}

impl FreshPostgres {
    async fn create() -> Self {
        let (name, url) = funding_tests::create_postgres_database("funding_safety").await;
        Self { name, url }
    }

    /// Tables in the database's public schema.
    async fn tables(&self) -> i64 {
        let db = Database::connect(&self.url).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
            ))
            .await
            .unwrap()
            .unwrap();
        let _ = db.close().await;
        row.try_get("", "n").unwrap()
    }

    async fn drop(self) {
        funding_tests::drop_postgres_database(&self.name).await;
    }
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("funding.db").display())
}

/// What the database says about itself: its deployment row and how many migrations it has.
async fn snapshot(url: &str) -> (Vec<(String, Option<String>)>, i64) {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT mode, provider_hosts FROM deployment",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get("", "mode").unwrap(),
                row.try_get("", "provider_hosts").unwrap(),
            )
        })
        .collect();
    let migrations: i64 = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    let _ = db.close().await;
    (rows, migrations)
}

/// Sandbox mode on `database_url`, its key file in `dir`.
fn sandbox(dir: &Path, database_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        encryption_key_file: Some(dir.join("funding.key")),
        ..Settings::default()
    }
}

/// Real-provider mode against `provider` (a listener that must never be contacted), with dummy
/// credentials.
fn providers(database_url: &str, provider: SocketAddr) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        encryption_key: Some(KEY.to_owned().into()),
        plaid: Some(PlaidSettings {
            base_url: format!("http://{provider}"),
            client_id: "client".into(),
            secret: Some("secret".to_owned().into()),
            request_timeout_ms: None,
            webhook_url: None,
            client_name: None,
        }),
        alpaca: Some(AlpacaSettings {
            base_url: format!("http://{provider}"),
            key_id: "key".into(),
            secret: Some("secret".to_owned().into()),
            request_timeout_ms: None,
        }),
        insecure_no_auth: true,
        ..Settings::default()
    }
}

/// A port that counts as a provider host; nothing may connect to it.
fn fake_provider() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

fn assert_not_contacted(provider: &TcpListener) {
    let accepted = provider.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the provider was contacted: {accepted:?}"
    );
}

async fn refusal(settings: Settings) -> String {
    let error = Application::build(settings)
        .await
        .err()
        .expect("the start is refused");
    let message = format!("{error:#}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    message
}

#[tokio::test]
async fn sandbox_mode_on_postgres_without_the_flag_is_refused_before_anything_is_touched() {
    let db = FreshPostgres::create().await;
    let dir = tempfile::tempdir().unwrap();
    // The app's own port, held here: a start that bound before refusing would fail differently.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let message = refusal(Settings {
        listen: held.local_addr().unwrap(),
        ..sandbox(dir.path(), &db.url)
    })
    .await;
    assert!(
        message.contains(
            "refusing to start in sandbox mode on a PostgreSQL database without --sandbox"
        ) && message.contains("pass --sandbox")
            && message.contains("configure [plaid] and [alpaca]"),
        "{message}"
    );
    assert_eq!(db.tables().await, 0, "not even migrated");
    assert!(!dir.path().join("funding.key").exists(), "no key created");

    let app = Application::build(Settings {
        explicit_sandbox: true,
        ..sandbox(dir.path(), &db.url)
    })
    .await
    .expect("with --sandbox it starts");
    drop(app);
    assert_eq!(
        snapshot(&db.url).await.0,
        vec![("sandbox".to_owned(), None)],
        "and the database is a sandbox one"
    );
    db.drop().await;
}

#[tokio::test]
async fn sandbox_mode_beyond_loopback_without_the_flag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let message = refusal(Settings {
        listen: held.local_addr().unwrap(),
        // Authentication is not what refuses here.
        insecure_no_auth: true,
        ..sandbox(dir.path(), &sqlite_url(dir.path()))
    })
    .await;
    assert!(
        message.contains("refusing to start in sandbox mode on the non-loopback address 0.0.0.0:")
            && message.contains("without --sandbox"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no database, no key"
    );
}

#[tokio::test]
async fn a_sandbox_database_is_refused_by_a_start_with_real_providers() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let app = Application::build(sandbox(dir.path(), &url)).await.unwrap();
    drop(app);
    let before = snapshot(&url).await;
    assert_eq!(before.0, vec![("sandbox".to_owned(), None)]);

    let provider = fake_provider();
    let address = provider.local_addr().unwrap();
    let message = refusal(providers(&url, address)).await;
    assert!(
        message.contains(&format!(
            "refusing to start in providers mode (plaid={address}, alpaca={address}) on a database created in sandbox mode"
        )),
        "{message}"
    );
    assert_not_contacted(&provider);
    assert_eq!(snapshot(&url).await, before, "the refusal changed nothing");
}

#[tokio::test]
async fn a_database_of_real_providers_is_refused_by_sandbox_mode_and_other_providers() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let provider = fake_provider();
    let address = provider.local_addr().unwrap();
    let app = Application::build(providers(&url, address)).await.unwrap();
    drop(app);
    let before = snapshot(&url).await;
    let hosts = format!("plaid={address}, alpaca={address}");
    assert_eq!(
        before.0,
        vec![("providers".to_owned(), Some(hosts.clone()))]
    );

    for explicit_sandbox in [false, true] {
        let message = refusal(Settings {
            explicit_sandbox,
            ..sandbox(dir.path(), &url)
        })
        .await;
        assert!(
            message.contains(&format!(
                "refusing to start in sandbox mode on a database created in providers mode ({hosts})"
            )),
            "{message}"
        );
        assert!(
            !dir.path().join("funding.key").exists(),
            "sandbox mode created no key file for a database it may not use"
        );
    }

    let other = fake_provider();
    let message = refusal(providers(&url, other.local_addr().unwrap())).await;
    assert!(
        message.contains(&format!(
            "on a database created in providers mode ({hosts})"
        )),
        "{message}"
    );
    assert_not_contacted(&provider);
    assert_not_contacted(&other);
    assert_eq!(snapshot(&url).await, before, "the refusals changed nothing");

    Application::build(providers(&url, address))
        .await
        .expect("the same providers start again");
}
