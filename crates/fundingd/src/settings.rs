//! The server's settings: built-in defaults, then an optional TOML file (`--config`), then `FUNDING_…`
//! environment variables (nested keys with `__`, e.g. `FUNDING_PLAID__CLIENT_ID`), then command-line
//! flags. With no provider credentials the service runs in sandbox mode against the built-in emulator;
//! beyond the defaults (a SQLite file, a loopback address) only when asked for with `--sandbox`
//! (`explicit_sandbox`).

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
    /// Where Plaid's webhooks are received (`POST /plaid/webhook`); none when absent, except in
    /// sandbox mode, where a loopback port is chosen and the built-in emulator sends there.
    pub webhook_listen: Option<SocketAddr>,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// The 32-byte key that encrypts tokens at rest, base64. Outside sandbox mode this or
    /// `encryption_key_file` is required.
    #[serde(skip_serializing)]
    pub encryption_key: Option<SecretString>,
    /// A file holding the key in base64. Outside sandbox mode it is only read, and refused unless
    /// private to its owner (mode 0600 or stricter). Sandbox mode keeps its generated key here
    /// (default `./var/funding.key`, created 0600 when missing).
    pub encryption_key_file: Option<PathBuf>,
    /// Plaid's base URL and credentials; absent means the built-in emulator.
    pub plaid: Option<PlaidSettings>,
    /// Alpaca's base URL and credentials; absent means the built-in emulator.
    pub alpaca: Option<AlpacaSettings>,
    /// The calling services and their scopes.
    pub clients: Vec<ClientSettings>,
    /// Serve without authentication although this is not sandbox mode on loopback.
    pub insecure_no_auth: bool,
    /// Sandbox mode asked for (`--sandbox`, `FUNDING_EXPLICIT_SANDBOX=true`): required for sandbox
    /// mode beyond the defaults, i.e. on PostgreSQL or a non-loopback address (DESIGN §10).
    pub explicit_sandbox: bool,
    /// The built-in emulator, in sandbox mode.
    pub sandbox: EmulatorSettings,
    /// How often the database is checked for the health service, in milliseconds.
    pub health_check_interval_ms: u64,
    /// How often the engine's workers look for due provider work when nothing wakes them.
    pub work_poll_interval_ms: u64,
    /// How long a claim on provider work lasts without renewal (it is renewed every third of it
    /// while a call is in flight); work left by a crashed replica is continued after it.
    pub work_lease_ms: u64,
    /// Provider work attempts running at once in this replica's workers.
    pub work_concurrency: usize,
    /// The first retry of failed provider work waits about this long; later ones twice as long
    /// each time, up to `work_backoff_cap_ms`, with jitter.
    pub work_backoff_base_ms: u64,
    pub work_backoff_cap_ms: u64,
    /// Attempts at creating a link before it ends FAILED.
    pub link_max_attempts: u32,
    /// Transfer changes buffered for one WatchTransfers caller; one that falls this far behind is
    /// ended with RESOURCE_EXHAUSTED (and resumes from the event id it names).
    pub watch_buffer: usize,
    /// How often the reconciler runs.
    pub reconcile_interval_ms: u64,
    /// A link waiting on Alpaca that has not moved for this long is looked up by the reconciler.
    pub reconcile_after_ms: u64,
    /// How long a replica holds Alpaca's event stream; another takes over this long after it dies.
    pub stream_lease_ms: u64,
    /// How often Plaid's bank-transfer events are synced when no webhook wakes the sync.
    pub plaid_sync_interval_ms: u64,
    /// Attempts at submitting a bank transfer on the engine's schedule (one that may have reached
    /// Plaid is resent with its idempotency key until Plaid answers).
    pub bank_transfer_max_attempts: u32,
    /// `pretty` or `json`.
    pub log_format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: None,
            webhook_listen: None,
            database_url: "sqlite:./var/funding.db".into(),
            encryption_key: None,
            encryption_key_file: None,
            plaid: None,
            alpaca: None,
            clients: Vec::new(),
            insecure_no_auth: false,
            explicit_sandbox: false,
            sandbox: EmulatorSettings::default(),
            health_check_interval_ms: 1_000,
            work_poll_interval_ms: 500,
            work_lease_ms: 30_000,
            work_concurrency: 16,
            work_backoff_base_ms: 500,
            work_backoff_cap_ms: 60_000,
            link_max_attempts: 8,
            watch_buffer: 256,
            reconcile_interval_ms: 30_000,
            reconcile_after_ms: 120_000,
            stream_lease_ms: 15_000,
            plaid_sync_interval_ms: 5_000,
            bank_transfer_max_attempts: 10,
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

    /// The database URL without its password, for messages.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
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

/// `url` with the password of its user info (`scheme://user:PASSWORD@host`) and any `password=`
/// query parameter replaced by `[REDACTED]`; a URL without a password is returned as it is.
pub fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(scheme_end) = redacted.find("://").map(|i| i + 3) {
        let rest = &redacted[scheme_end..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_len].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            redacted.replace_range(scheme_end + colon + 1..scheme_end + at, "[REDACTED]");
        }
    }
    if let Some(query_start) = redacted.find('?') {
        let (base, query) = redacted.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=[REDACTED]")
                }
                _ => pair.to_owned(),
            })
            .collect();
        redacted = format!("{base}{}", query.join("&"));
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_user_info_is_redacted() {
        assert_eq!(
            redact_url("postgres://user:secret@host/db"),
            "postgres://user:[REDACTED]@host/db"
        );
        assert_eq!(
            redact_url("postgresql://funding:p%40ss:w0rd@db.internal:5432/funding?sslmode=require"),
            "postgresql://funding:[REDACTED]@db.internal:5432/funding?sslmode=require"
        );
    }

    #[test]
    fn a_password_parameter_is_redacted() {
        assert_eq!(
            redact_url("postgres://host/db?user=funding&password=secret&sslmode=require"),
            "postgres://host/db?user=funding&password=[REDACTED]&sslmode=require"
        );
    }

    #[test]
    fn a_url_without_a_password_is_unchanged() {
        for url in [
            "postgres://user@host/db",
            "postgres://host:5432/db",
            "sqlite:./var/funding.db",
            "sqlite:///tmp/a@b/funding.db?mode=rwc",
            "postgres://user@host/db?x=a:b@c",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn the_settings_redact_their_database_url() {
        let settings = Settings {
            database_url: "postgres://user:secret@host/db".into(),
            ..Settings::default()
        };
        assert!(!settings.redacted_database_url().contains("secret"));
    }
}
