//! The server's settings: built-in defaults, then an optional TOML file (`--config`), then `FUNDING_…`
//! environment variables (nested keys with `__`, e.g. `FUNDING_PLAID__CLIENT_ID`), then command-line
//! flags. With no provider credentials the service runs in sandbox mode against the built-in emulator.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the server needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where gRPC listens.
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served (`/metrics`); none when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// The 32-byte key that encrypts tokens at rest, base64. Required outside sandbox mode.
    #[serde(skip_serializing)]
    pub encryption_key: Option<SecretString>,
    /// Sandbox mode keeps its generated key here when no key is given.
    pub encryption_key_file: PathBuf,
    /// Plaid's base URL and credentials; absent means the built-in emulator.
    pub plaid: Option<PlaidSettings>,
    /// Alpaca's base URL and credentials; absent means the built-in emulator.
    pub alpaca: Option<AlpacaSettings>,
    /// The calling services and their scopes.
    pub clients: Vec<ClientSettings>,
    /// Serve without authentication although this is not sandbox mode on loopback.
    pub insecure_no_auth: bool,
    /// The built-in emulator, in sandbox mode.
    pub sandbox: EmulatorSettings,
    /// How often the database is checked for the health service, in milliseconds.
    pub health_check_interval_ms: u64,
    /// How often links left half-made are resumed, in milliseconds.
    pub resume_interval_ms: u64,
    /// How long a request holds a link it is creating; a link left by a crash is resumed after it.
    pub link_lease_ms: u64,
    /// How long a replica holds Alpaca's event stream; another takes over this long after it dies.
    pub stream_lease_ms: u64,
    /// `pretty` or `json`.
    pub log_format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: None,
            database_url: "sqlite:./var/funding.db".into(),
            encryption_key: None,
            encryption_key_file: PathBuf::from("./var/funding.key"),
            plaid: None,
            alpaca: None,
            clients: Vec::new(),
            insecure_no_auth: false,
            sandbox: EmulatorSettings::default(),
            health_check_interval_ms: 1_000,
            resume_interval_ms: 5_000,
            link_lease_ms: 30_000,
            stream_lease_ms: 15_000,
            log_format: "pretty".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidSettings {
    pub base_url: String,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub secret: Option<SecretString>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlpacaSettings {
    pub base_url: String,
    pub key_id: String,
    #[serde(skip_serializing)]
    pub secret: Option<SecretString>,
}

/// A calling service: its name, the hex SHA-256 of its bearer token, its scopes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub name: String,
    pub token_sha256: String,
    pub scopes: Vec<String>,
}

/// The emulator's pace in sandbox mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorSettings {
    pub relationship_approval_delay_ms: u64,
    pub transfer_step_delay_ms: u64,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        Self {
            relationship_approval_delay_ms: 1_000,
            transfer_step_delay_ms: 1_000,
        }
    }
}

impl Settings {
    /// Sandbox mode: neither provider is configured.
    pub fn is_sandbox(&self) -> bool {
        self.plaid.is_none() && self.alpaca.is_none()
    }

    /// Defaults, then the TOML file, then the environment, then `overrides` (the command line).
    pub fn load(
        config_file: Option<&PathBuf>,
        overrides: Figment,
    ) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = config_file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("FUNDING_").split("__").ignore(&["config"]))
            .merge(overrides)
            .extract()
            .map_err(Box::new)
    }
}
