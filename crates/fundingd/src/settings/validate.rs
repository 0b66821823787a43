//! [`Settings::validate`]: the checks of each setting on its own and of settings that go together,
//! each failing with one line that names the setting (the providers, the intervals and bounds, the
//! URLs, NATS, `[tls]`, `[limits]`, `[risk]`, `[returns]`, the clients).

use secrecy::SecretString;

use super::{
    INBOX_MIN_RETENTION_MS, MAX_RECONCILE_AGE_MS, MAX_RECONCILE_CALLS_PER_SECOND,
    MAX_RECONCILE_PASS_SIZE, Settings,
};

impl Settings {
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
        each_at_least_one([
            ("work_concurrency", self.work_concurrency as u64),
            ("watch_buffer", self.watch_buffer as u64),
        ])?;
        each_at_least_one([
            ("health_check_interval_ms", self.health_check_interval_ms),
            ("work_poll_interval_ms", self.work_poll_interval_ms),
            ("reconcile_interval_ms", self.reconcile_interval_ms),
            ("stream_lease_ms", self.stream_lease_ms),
            ("plaid_sync_interval_ms", self.plaid_sync_interval_ms),
            ("inbox_sweep_interval_ms", self.inbox_sweep_interval_ms),
            ("inbox_foreign_grace_ms", self.inbox_foreign_grace_ms),
        ])?;
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
        each_at_least_one([
            ("link_max_attempts", u64::from(self.link_max_attempts)),
            (
                "bank_transfer_max_attempts",
                u64::from(self.bank_transfer_max_attempts),
            ),
        ])?;
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
        self.risk.validate()?;
        self.returns.validate()?;
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

/// Each named setting at least 1, or one line naming the first that is not.
fn each_at_least_one<const N: usize>(settings: [(&str, u64); N]) -> anyhow::Result<()> {
    match settings.into_iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => anyhow::bail!("{name} must be at least 1"),
        None => Ok(()),
    }
}
