//! The server's settings: built-in defaults, then an optional TOML file (`--config`), then `FUNDING_…`
//! environment variables (nested keys with `__`, e.g. `FUNDING_PLAID__CLIENT_ID`), then command-line
//! flags. With no provider credentials the service runs in sandbox mode against the built-in emulator;
//! beyond the defaults (a SQLite file, a loopback address) only when asked for with `--sandbox`
//! (`explicit_sandbox`).
//!
//! The sections (`[plaid]`, `[limits]`, …) are in `sections`, `[risk]` and `[returns]` in `risk`,
//! the checks in `validate`, and what a settings error or a database URL looks like in a message in
//! `messages`.

mod messages;
mod risk;
mod sections;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use messages::{describe, redact_url};
pub use risk::{
    AlpacaLimits, DEFAULT_REVIEW_EXPIRY_MS, MAX_REVIEW_EXPIRY_MS, MIN_REVIEW_EXPIRY_MS,
    PlaidLimits, ReturnSettings, RiskLimits, RiskSettings,
};
pub(crate) use risk::{Choice, describe_limit};
pub use sections::{
    AlpacaSettings, ClientSettings, EmulatorSettings, LimitSettings, PlaidSettings, TlsSettings,
};

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
    /// Keys that used to be current, base64: they only open what they sealed, never seal (key
    /// rotation; see `fundingd rotate-key`).
    #[serde(skip_serializing)]
    pub old_encryption_keys: Vec<SecretString>,
    /// Files holding old keys, as `old_encryption_keys` (read only, private to their owner).
    pub old_encryption_key_files: Vec<PathBuf>,
    /// Plaid's base URL and credentials; absent means the built-in emulator.
    pub plaid: Option<PlaidSettings>,
    /// Alpaca's base URL and credentials; absent means the built-in emulator.
    pub alpaca: Option<AlpacaSettings>,
    /// The calling services and their scopes.
    pub clients: Vec<ClientSettings>,
    /// Serve without authentication although this is not sandbox mode on loopback.
    pub insecure_no_auth: bool,
    /// TLS for gRPC (`[tls]`): plaintext when no certificate is given.
    pub tls: TlsSettings,
    /// Message sizes, HTTP/2 streams and per-caller rate limits of gRPC (`[limits]`).
    pub limits: LimitSettings,
    /// Sandbox mode asked for (`--sandbox`, `FUNDING_EXPLICIT_SANDBOX=true`): required for sandbox
    /// mode beyond the defaults, i.e. on PostgreSQL or a non-loopback address (DESIGN §10).
    pub explicit_sandbox: bool,
    /// The built-in emulator, in sandbox mode.
    pub sandbox: EmulatorSettings,
    /// `[risk]`: the checks before money moves (DESIGN §11), parsed into the domain's types. Read
    /// by the risk checks (issue 21); today only `refuse_on_needs_reauth` is used, the rest is
    /// validated and shown by `--check`.
    pub risk: RiskSettings,
    /// `[returns]`: what an ACH return leads to (DESIGN §12). Read by the returns handling
    /// (issue 22); today only validated and shown by `--check`.
    pub returns: ReturnSettings,
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
    /// How long after an Alpaca create whose outcome is unknown (a 5xx, a timeout, a crash between
    /// sending and storing) an empty lookup still proves nothing (DESIGN §4.2): a provider may
    /// commit a request after its caller gave up. Until it has passed, the transfer or link waits,
    /// saying so, and nothing is sent again, failed or cancelled. Minutes: longer than any
    /// provider or proxy timeout.
    pub unknown_outcome_settle_ms: u64,
    /// How far before our request an Alpaca resource found by a lookup may have been created and
    /// still be taken as ours (clock skew between us and Alpaca). Seconds.
    pub adoption_skew_ms: u64,
    /// Transfer changes buffered for one WatchTransfers caller; one that falls this far behind is
    /// ended with RESOURCE_EXHAUSTED (and resumes from the event id it names).
    pub watch_buffer: usize,
    /// The pause between two passes of the reconciler.
    pub reconcile_interval_ms: u64,
    /// A link, transfer or bank transfer in flight that has not moved for this long is looked up
    /// by the reconciler.
    pub reconcile_after_ms: u64,
    /// Resources of each kind (links, transfers, bank transfers) one pass looks at, those looked at
    /// least recently first: a pass goes on where the last one stopped, so everything in flight is
    /// looked at in turn.
    pub reconcile_pass_size: u32,
    /// Provider lookups the reconciler makes per second, per provider (Alpaca, Plaid), spread
    /// evenly; an Alpaca account's list counts once, for all of the account's due resources.
    /// 0: no limit.
    pub reconcile_calls_per_second: u32,
    /// A resource in flight whose provider still reports the status we have, and that has not
    /// moved for this long, counts as stuck (`funding_reconciler_unresolved{reason="unchanged"}`).
    pub reconcile_stuck_after_ms: u64,
    /// How long a replica holds Alpaca's event stream; another takes over this long after it dies.
    pub stream_lease_ms: u64,
    /// How often Plaid's bank-transfer events are synced when no webhook wakes the sync.
    pub plaid_sync_interval_ms: u64,
    /// How often the inbox is swept (on one replica, apart from the stream readers): parked events
    /// whose subject is stored now made pending, events past `inbox_foreign_grace_ms` classed
    /// foreign, applied events past `inbox_retention_ms` pruned, gauges refreshed. Tens of seconds.
    pub inbox_sweep_interval_ms: u64,
    /// How long an event may wait for its subject (a relationship, a transfer) before it is classed
    /// foreign: about a subject this service never made. It is counted and no longer looked for;
    /// storing its subject later still applies it.
    pub inbox_foreign_grace_ms: u64,
    /// How long an applied event is kept in the inbox before it is pruned (at least an hour: the
    /// stream's first read looks an hour back, and an event still kept is not stored twice).
    pub inbox_retention_ms: u64,
    /// Attempts at submitting a bank transfer on the engine's schedule (one that may have reached
    /// Plaid is resent with its idempotency key until Plaid answers).
    pub bank_transfer_max_attempts: u32,
    /// `pretty` or `json`.
    pub log_format: String,
    /// Export the tracing spans as OpenTelemetry traces over OTLP/gRPC to this collector
    /// (`http://127.0.0.1:4317`, `--otlp-endpoint`, `FUNDING_OTLP_ENDPOINT`), batched, with
    /// `service.name` = `fundingd`; nothing is exported when absent.
    pub otlp_endpoint: Option<String>,
    /// Publish every status change to NATS JetStream at this URL (`nats://127.0.0.1:4222`,
    /// `--nats-url`); nothing is published when absent (the outbox rows stay unpublished).
    pub nats_url: Option<String>,
    /// Subjects are `<nats_subject_prefix>.<resource>.<status>`.
    pub nats_subject_prefix: String,
    /// The JetStream stream created, if missing, on `<nats_subject_prefix>.>`.
    pub nats_stream: String,
    /// How often the outbox is looked at for unpublished changes.
    pub nats_poll_interval_ms: u64,
    /// How long a published outbox row is kept before it is deleted (at least JetStream's
    /// duplicate window, so that a republish after a crash is still recognised).
    pub nats_outbox_retention_ms: u64,
    /// The payload of links and transfers: `protobuf` (their `funding.v1` message) or `json`.
    /// Bank transfers are JSON either way.
    pub nats_payload: String,
}

/// The most resources of one kind a reconciler pass may take (one pass's rows are read and marked
/// in one transaction).
pub const MAX_RECONCILE_PASS_SIZE: u32 = 10_000;
/// The highest reconciler budget, per provider.
pub const MAX_RECONCILE_CALLS_PER_SECOND: u32 = 1_000;
/// The longest `reconcile_after_ms` and `reconcile_stuck_after_ms`: a year.
pub const MAX_RECONCILE_AGE_MS: u64 = 366 * 86_400_000;
/// The shortest `inbox_retention_ms`: the Alpaca stream's first read looks this far back.
pub const INBOX_MIN_RETENTION_MS: u64 = 3_600_000;

/// Plaid's default per-request timeout.
pub const PLAID_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Alpaca's default per-request timeout.
pub const ALPACA_REQUEST_TIMEOUT_MS: u64 = 15_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: None,
            webhook_listen: None,
            database_url: "sqlite:./var/funding.db".into(),
            encryption_key: None,
            encryption_key_file: None,
            old_encryption_keys: Vec::new(),
            old_encryption_key_files: Vec::new(),
            plaid: None,
            alpaca: None,
            clients: Vec::new(),
            insecure_no_auth: false,
            tls: TlsSettings::default(),
            limits: LimitSettings::default(),
            explicit_sandbox: false,
            sandbox: EmulatorSettings::default(),
            risk: RiskSettings::default(),
            returns: ReturnSettings::default(),
            health_check_interval_ms: 1_000,
            work_poll_interval_ms: 500,
            work_lease_ms: 30_000,
            work_concurrency: 16,
            work_backoff_base_ms: 500,
            work_backoff_cap_ms: 60_000,
            link_max_attempts: 8,
            unknown_outcome_settle_ms: 600_000,
            adoption_skew_ms: 5_000,
            watch_buffer: 256,
            reconcile_interval_ms: 30_000,
            reconcile_after_ms: 120_000,
            reconcile_pass_size: 500,
            reconcile_calls_per_second: 5,
            reconcile_stuck_after_ms: 432_000_000,
            stream_lease_ms: 15_000,
            plaid_sync_interval_ms: 5_000,
            inbox_sweep_interval_ms: 30_000,
            inbox_foreign_grace_ms: 3_600_000,
            inbox_retention_ms: 30 * 86_400_000,
            bank_transfer_max_attempts: 10,
            log_format: "pretty".into(),
            otlp_endpoint: None,
            nats_url: None,
            nats_subject_prefix: "funding.v1".into(),
            nats_stream: "FUNDING".into(),
            nats_poll_interval_ms: 200,
            nats_outbox_retention_ms: 86_400_000,
            nats_payload: "protobuf".into(),
        }
    }
}
impl Settings {
    /// The longest one provider request may take: the larger of the two adapters' timeouts (in
    /// sandbox mode, their defaults).
    pub fn provider_request_timeout_ms(&self) -> u64 {
        let plaid = self
            .plaid
            .as_ref()
            .and_then(|p| p.request_timeout_ms)
            .unwrap_or(PLAID_REQUEST_TIMEOUT_MS);
        let alpaca = self
            .alpaca
            .as_ref()
            .and_then(|a| a.request_timeout_ms)
            .unwrap_or(ALPACA_REQUEST_TIMEOUT_MS);
        plaid.max(alpaca)
    }

    /// Sandbox mode: neither provider is configured.
    pub fn is_sandbox(&self) -> bool {
        self.plaid.is_none() && self.alpaca.is_none()
    }

    /// The database URL without its password, for messages.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
    }

    /// [`load`](Self::load), then [`validate`](Self::validate): the settings, or one line that names
    /// the setting at fault (what `fundingd` prints).
    pub fn load_validated(
        config_file: Option<&PathBuf>,
        overrides: Figment,
    ) -> Result<Self, String> {
        let settings = Self::load(config_file, overrides).map_err(|error| describe(&error))?;
        settings.validate().map_err(|error| format!("{error:#}"))?;
        Ok(settings)
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
