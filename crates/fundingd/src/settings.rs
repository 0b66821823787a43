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
    /// `[risk]`: the checks before money moves (DESIGN §11).
    pub risk: RiskSettings,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidSettings {
    pub base_url: String,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub secret: Option<SecretString>,
    /// How long one request to Plaid may take before it is abandoned (default 30 s).
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Where Plaid sends Item webhooks, given to `/link/token/create`: this service's webhook
    /// listener as Plaid reaches it (`https://funding.example.com/plaid/webhook`).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Shown in Plaid Link (`client_name`); default "Funding".
    #[serde(default)]
    pub client_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlpacaSettings {
    pub base_url: String,
    pub key_id: String,
    #[serde(skip_serializing)]
    pub secret: Option<SecretString>,
    /// How long one request to Alpaca may take before it is abandoned (default 15 s).
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
}

/// A calling service: its name, the hex SHA-256 of its bearer token, its scopes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub name: String,
    pub token_sha256: String,
    pub scopes: Vec<String>,
}

/// TLS for gRPC (rustls): the server's certificate chain and key (PEM files), and optionally the CA
/// whose certificates clients must present (mutual TLS). Plaintext when `cert_file` is absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Require a client certificate signed by this CA (PEM) on every connection.
    pub client_ca_file: Option<PathBuf>,
}

/// What one caller or one connection may take. A rate of 0 turns that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// The largest request message accepted, in bytes (larger: OUT_OF_RANGE).
    pub max_request_bytes: usize,
    /// The largest response message sent, in bytes.
    pub max_response_bytes: usize,
    /// HTTP/2 streams (calls) one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// Calls per minute of one caller (by its `[[clients]]` name), any RPC.
    pub calls_per_minute: u32,
    /// Calls one caller may make at once above its rate.
    pub call_burst: u32,
    /// Writes per minute of one caller: the RPCs that may reach Plaid or Alpaca (every scope but
    /// `read`). Alpaca's rate limit is shared by every caller of this service.
    pub writes_per_minute: u32,
    /// Writes one caller may make at once above its rate.
    pub write_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_request_bytes: 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            max_concurrent_streams: 100,
            calls_per_minute: 6_000,
            call_burst: 200,
            writes_per_minute: 120,
            write_burst: 20,
        }
    }
}

/// The emulator's pace in sandbox mode.
/// `[risk]`: the checks before money moves (DESIGN §11).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskSettings {
    /// Refuse new transfers on a link whose Plaid Item needs its user to log in again
    /// (NEEDS_REAUTH). Default false: on the Alpaca rail Alpaca already holds the account numbers.
    pub refuse_on_needs_reauth: bool,
}

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

    /// The checks of each setting on its own (and of settings that go together), each failing with
    /// one line naming the setting. Start-up checks that need more (the key file, the clients'
    /// scopes, sandbox safety) come after, in `Application::build` and `fundingd --check`.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        let url = self.database_url.trim();
        if url.is_empty() {
            bail!("database_url is empty");
        }
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite: or postgres://");
        }
        if let Some(plaid) = &self.plaid {
            check_provider(
                "plaid",
                &plaid.base_url,
                "client_id",
                &plaid.client_id,
                plaid.secret.as_ref(),
            )?;
        }
        if let Some(alpaca) = &self.alpaca {
            check_provider(
                "alpaca",
                &alpaca.base_url,
                "key_id",
                &alpaca.key_id,
                alpaca.secret.as_ref(),
            )?;
        }
        match (&self.plaid, &self.alpaca) {
            (Some(_), None) => bail!(
                "[plaid] is configured but [alpaca] is not: configure both for real providers, or neither for sandbox mode"
            ),
            (None, Some(_)) => bail!(
                "[alpaca] is configured but [plaid] is not: configure both for real providers, or neither for sandbox mode"
            ),
            _ => {}
        }
        if self.encryption_key.is_some() && self.encryption_key_file.is_some() {
            bail!("give encryption_key or encryption_key_file, not both");
        }
        if self.work_lease_ms < 30 {
            bail!("work_lease_ms must be at least 30");
        }
        for (name, value) in [
            ("work_concurrency", self.work_concurrency),
            ("watch_buffer", self.watch_buffer),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        for (name, value) in [
            ("health_check_interval_ms", self.health_check_interval_ms),
            ("work_poll_interval_ms", self.work_poll_interval_ms),
            ("reconcile_interval_ms", self.reconcile_interval_ms),
            ("stream_lease_ms", self.stream_lease_ms),
            ("plaid_sync_interval_ms", self.plaid_sync_interval_ms),
            ("inbox_sweep_interval_ms", self.inbox_sweep_interval_ms),
            ("inbox_foreign_grace_ms", self.inbox_foreign_grace_ms),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.reconcile_pass_size == 0 || self.reconcile_pass_size > MAX_RECONCILE_PASS_SIZE {
            bail!("reconcile_pass_size must be between 1 and {MAX_RECONCILE_PASS_SIZE}");
        }
        if self.reconcile_calls_per_second > MAX_RECONCILE_CALLS_PER_SECOND {
            bail!(
                "reconcile_calls_per_second must be at most {MAX_RECONCILE_CALLS_PER_SECOND} (0: no limit)"
            );
        }
        for (name, value) in [
            ("reconcile_after_ms", self.reconcile_after_ms),
            ("reconcile_stuck_after_ms", self.reconcile_stuck_after_ms),
        ] {
            if value > MAX_RECONCILE_AGE_MS {
                bail!("{name} must be at most {MAX_RECONCILE_AGE_MS} (one year)");
            }
        }
        if self.inbox_retention_ms < INBOX_MIN_RETENTION_MS {
            bail!(
                "inbox_retention_ms must be at least {INBOX_MIN_RETENTION_MS} (an hour): the event stream's first read looks an hour back, and an applied event must still be known when it comes again"
            );
        }
        if self.adoption_skew_ms > 60_000 {
            bail!(
                "adoption_skew_ms must be at most 60000: a lookup must never take a transfer made before our request"
            );
        }
        // The window must outlast the worst one provider call can take (its timeout) plus a claim
        // that runs out meanwhile (the lease): an attempt whose claim is lost stops within a lease,
        // and whatever it sent has reached the provider by its timeout.
        // (Sandbox mode's emulator is local, and its tests want short windows.)
        let timeout_ms = self.provider_request_timeout_ms();
        if self.plaid.is_some() && self.unknown_outcome_settle_ms < timeout_ms + self.work_lease_ms
        {
            bail!(
                "unknown_outcome_settle_ms ({}) must be at least the providers' request timeout ({timeout_ms} ms) plus work_lease_ms ({}): an unknown outcome must settle after any call could still land",
                self.unknown_outcome_settle_ms,
                self.work_lease_ms
            );
        }
        if let Some(url) = self
            .plaid
            .as_ref()
            .and_then(|plaid| plaid.webhook_url.as_deref())
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!(
                "plaid.webhook_url must be an http(s) URL where Plaid reaches this service's webhook listener"
            );
        }
        if self
            .plaid
            .as_ref()
            .and_then(|plaid| plaid.client_name.as_deref())
            .is_some_and(|name| name.trim().is_empty() || name.len() > 30)
        {
            bail!("plaid.client_name must be 1 to 30 characters (Plaid shows it in Link)");
        }
        for (name, value) in [
            (
                "plaid.request_timeout_ms",
                self.plaid.as_ref().and_then(|p| p.request_timeout_ms),
            ),
            (
                "alpaca.request_timeout_ms",
                self.alpaca.as_ref().and_then(|a| a.request_timeout_ms),
            ),
        ] {
            if value == Some(0) {
                bail!("{name} must be at least 1");
            }
        }
        if self.work_backoff_base_ms > self.work_backoff_cap_ms {
            bail!("work_backoff_base_ms must not exceed work_backoff_cap_ms");
        }
        for (name, value) in [
            ("link_max_attempts", self.link_max_attempts),
            (
                "bank_transfer_max_attempts",
                self.bank_transfer_max_attempts,
            ),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if !matches!(self.log_format.as_str(), "pretty" | "json") {
            bail!("log_format must be \"pretty\" or \"json\"");
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            let endpoint = endpoint.trim();
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
                || endpoint.parse::<http::Uri>().is_err()
            {
                bail!("otlp_endpoint is not an http(s) URL (e.g. http://127.0.0.1:4317)");
            }
        }
        if let Some(url) = &self.nats_url
            && !["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|scheme| url.trim().starts_with(scheme))
        {
            bail!("nats_url must start with nats://, tls://, ws:// or wss://");
        }
        let token = |t: &str| !t.is_empty() && !t.contains(['*', '>', ' ', '\t']);
        if !self.nats_subject_prefix.split('.').all(token) {
            bail!("nats_subject_prefix must be dot-separated subject tokens without wildcards");
        }
        if !token(&self.nats_stream) || self.nats_stream.contains(['.', '/', '\\']) {
            bail!("nats_stream must be a JetStream stream name (no spaces, dots or wildcards)");
        }
        if !matches!(self.nats_payload.as_str(), "protobuf" | "json") {
            bail!("nats_payload must be \"protobuf\" or \"json\"");
        }
        self.validate_tls()?;
        self.validate_limits()?;
        let mut names = std::collections::BTreeSet::new();
        for (index, client) in self.clients.iter().enumerate() {
            if client.name.trim().is_empty() {
                bail!("clients[{index}].name is empty");
            }
            if !names.insert(client.name.as_str()) {
                bail!("two [[clients]] are named `{}`", client.name);
            }
            let hash = client.token_sha256.trim();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "clients[{index}].token_sha256 (client `{}`) must be 64 hex digits (the SHA-256 of its token)",
                    client.name
                );
            }
        }
        Ok(())
    }

    /// `[tls]`: a certificate goes with its key; a client CA needs both. (The files are read at
    /// start-up and by `--check`.)
    fn validate_tls(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        let tls = &self.tls;
        match (&tls.cert_file, &tls.key_file) {
            (Some(_), None) => bail!("tls.cert_file is set but tls.key_file is not"),
            (None, Some(_)) => bail!("tls.key_file is set but tls.cert_file is not"),
            _ => {}
        }
        if tls.client_ca_file.is_some() && tls.cert_file.is_none() {
            bail!("tls.client_ca_file is set but tls.cert_file and tls.key_file are not");
        }
        Ok(())
    }

    /// `[limits]`: sizes and streams at least 1; a burst at least 1 where its rate is on.
    fn validate_limits(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        let limits = &self.limits;
        if limits.max_request_bytes < 1024 {
            bail!("limits.max_request_bytes must be at least 1024");
        }
        if limits.max_response_bytes < 1024 {
            bail!("limits.max_response_bytes must be at least 1024");
        }
        if limits.max_concurrent_streams == 0 {
            bail!("limits.max_concurrent_streams must be at least 1");
        }
        for (rate, burst, rate_name, burst_name) in [
            (
                limits.calls_per_minute,
                limits.call_burst,
                "calls_per_minute",
                "call_burst",
            ),
            (
                limits.writes_per_minute,
                limits.write_burst,
                "writes_per_minute",
                "write_burst",
            ),
        ] {
            if rate > 0 && burst == 0 {
                bail!("limits.{burst_name} must be at least 1 while limits.{rate_name} is on");
            }
        }
        Ok(())
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

/// The settings that are socket addresses.
const ADDRESS_KEYS: &[&str] = &["listen", "metrics_listen", "webhook_listen"];

/// One line for a settings error: the key at fault, what is wrong with it, and where it came from
/// (the file, or the environment variable). Never the value given for a secret.
pub fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;
    let key = error.path.join(".");
    let under = |field: &str| {
        if key.is_empty() {
            field.to_owned()
        } else if key == field || key.ends_with(&format!(".{field}")) {
            key.clone()
        } else {
            format!("{key}.{field}")
        }
    };
    let what = match &error.kind {
        Kind::UnknownField(field, _) => format!("unknown setting `{}`", under(field)),
        Kind::MissingField(field) => format!("{} is required", under(field)),
        Kind::DuplicateField(field) => format!("{} is given twice", under(field)),
        _ if ADDRESS_KEYS.contains(&key.as_str()) => {
            format!("{key} is not an address (e.g. 127.0.0.1:50051)")
        }
        // A secret's value is never repeated.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected)
            if key.contains("secret") || key.contains("encryption_key") =>
        {
            format!("{key} must be {expected}")
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("{key} must be {expected}, not {actual}")
        }
        Kind::InvalidLength(_, expected) => format!("{key} must be {expected}"),
        Kind::UnknownVariant(variant, expected) => {
            format!("{key}: unknown value `{variant}`, expected one of {expected:?}")
        }
        Kind::Message(message) if key.is_empty() => message.clone(),
        Kind::Message(message) => format!("{key}: {message}"),
        other => format!("{key}: {other}"),
    };
    let what = what
        .replace("must be u64", "must be a whole number")
        .replace("must be u32", "must be a whole number")
        .replace("must be usize", "must be a whole number");
    // One line: TOML's parse errors come over several.
    let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
    let origin = error
        .metadata
        .as_ref()
        .map(|metadata| match &metadata.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ if metadata.name.contains("environment") && !error.path.is_empty() => format!(
                " (from the environment variable FUNDING_{})",
                error.path.join("__").to_uppercase()
            ),
            _ => String::new(),
        });
    format!("{what}{}", origin.unwrap_or_default())
}

/// A provider's settings: a base URL that is an absolute http(s) URL, a non-empty id, a non-empty
/// secret.
fn check_provider(
    section: &str,
    base_url: &str,
    id_key: &str,
    id: &str,
    secret: Option<&SecretString>,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let base_url = base_url.trim();
    if base_url.is_empty() {
        anyhow::bail!("{section}.base_url is empty");
    }
    if !(base_url.starts_with("https://") || base_url.starts_with("http://"))
        || base_url.parse::<http::Uri>().is_err()
    {
        anyhow::bail!("{section}.base_url is not an http(s) URL");
    }
    if id.trim().is_empty() {
        anyhow::bail!("{section}.{id_key} is empty");
    }
    match secret {
        None => anyhow::bail!("{section}.{id_key} is set but {section}.secret is not"),
        Some(secret) if secret.expose_secret().trim().is_empty() => {
            anyhow::bail!("{section}.secret is empty")
        }
        Some(_) => Ok(()),
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
