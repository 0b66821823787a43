//! `fundingd --check`: every start-up check of the settings that needs no port, database or
//! provider, and on success what the service would start as, in lines a person reads — the mode,
//! each provider's base URL, the database (its password redacted), the listeners, who may call, the
//! encryption key (its id, never the key), where events go, the risk checks, limits and return
//! policy, and where traces go. Never a secret.

use funding_domain::returns::ReturnPolicy;
use funding_domain::risk::balance::BalanceCheck;
use funding_domain::risk::names::NameCheck;

use crate::safety::Key;
use crate::settings::{Settings, describe_limit};
use crate::startup;

/// Checks the settings as a start would, without binding a port, touching the database or calling a
/// provider; on success the text to print: `configuration OK: <mode>, database <url>`, then one
/// indented `name: value` line per part of the service.
pub fn check(settings: &Settings) -> anyhow::Result<String> {
    let validated = startup::validate(settings)?;
    let database = settings.redacted_database_url();
    let mut lines = vec![format!(
        "configuration OK: {}, database {database}",
        validated.deployment
    )];
    let mut line = |name: &str, value: String| lines.push(format!("  {name}: {value}"));
    line("mode", mode(settings));
    line(
        "database",
        format!("{} at {database}", database_kind(settings)),
    );
    line("gRPC", grpc(settings));
    line("callers", callers(settings));
    line("encryption key", key(settings, &validated.key));
    line(
        "metrics",
        settings
            .metrics_listen
            .map_or("off".to_owned(), |addr| format!("http://{addr}/metrics")),
    );
    line("Plaid webhooks", webhooks(settings));
    line("events out", events_out(settings));
    line("risk", risk(settings));
    line("risk limits", risk_limits(settings));
    line("returns", returns(settings));
    line(
        "traces",
        settings
            .otlp_endpoint
            .as_deref()
            .map_or("off".to_owned(), |url| {
                format!("OTLP to {}", shown_url(url))
            }),
    );
    Ok(lines.join("\n"))
}

fn mode(settings: &Settings) -> String {
    match (&settings.plaid, &settings.alpaca) {
        (Some(plaid), Some(alpaca)) => format!(
            "real providers: Plaid at {}, Alpaca at {}",
            shown_url(&plaid.base_url),
            shown_url(&alpaca.base_url)
        ),
        _ if settings.explicit_sandbox => {
            "sandbox (asked for): the built-in emulator of Plaid and Alpaca".to_owned()
        }
        _ => "sandbox: the built-in emulator of Plaid and Alpaca".to_owned(),
    }
}

fn database_kind(settings: &Settings) -> &'static str {
    if settings.database_url.trim().starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

fn grpc(settings: &Settings) -> String {
    let transport = match (&settings.tls.cert_file, &settings.tls.client_ca_file) {
        (None, _) => "plaintext".to_owned(),
        (Some(cert), None) => format!("TLS with {}", cert.display()),
        (Some(cert), Some(ca)) => format!(
            "TLS with {}, client certificates signed by {} required",
            cert.display(),
            ca.display()
        ),
    };
    format!("{}, {transport}", settings.listen)
}

/// Who may call (validation has refused every other combination).
fn callers(settings: &Settings) -> String {
    if !settings.clients.is_empty() {
        let names: Vec<&str> = settings.clients.iter().map(|c| c.name.as_str()).collect();
        let noun = if names.len() == 1 {
            "client"
        } else {
            "clients"
        };
        return format!(
            "{} {noun} with bearer tokens ({})",
            names.len(),
            names.join(", ")
        );
    }
    if settings.is_sandbox() && settings.listen.ip().is_loopback() {
        "anyone, without authentication (sandbox mode on loopback)".to_owned()
    } else {
        "anyone, WITHOUT authentication (insecure_no_auth)".to_owned()
    }
}

fn key(settings: &Settings, key: &Key) -> String {
    let (source, old) = match key {
        Key::Ready(cipher) => {
            let source = match &settings.encryption_key_file {
                Some(file) => format!("key {} from {}", cipher.key_id(), file.display()),
                None => format!("key {} from encryption_key", cipher.key_id()),
            };
            (source, cipher.old_key_ids().len())
        }
        Key::SandboxFile(file, old) => (
            format!(
                "sandbox key file {} (created on first start)",
                file.display()
            ),
            old.len(),
        ),
    };
    match old {
        0 => source,
        1 => format!("{source}, and 1 old key (open only)"),
        n => format!("{source}, and {n} old keys (open only)"),
    }
}

fn webhooks(settings: &Settings) -> String {
    match settings.webhook_listen {
        Some(addr) => format!("POST http://{addr}{}", crate::webhooks::WEBHOOK_PATH),
        None if settings.is_sandbox() => "a loopback port the emulator sends to".to_owned(),
        None => "off (bank transfers are synced every plaid_sync_interval_ms)".to_owned(),
    }
}

/// The checks before money moves (`[risk]`): which are on and how they decide.
fn risk(settings: &Settings) -> String {
    use crate::settings::Choice as _;
    let risk = &settings.risk;
    let balance = match risk.balance_check {
        BalanceCheck::Off => "balance check off".to_owned(),
        check => format!(
            "balance check {} (balance unavailable: {})",
            check.word(),
            risk.balance_unavailable.word()
        ),
    };
    let name = match risk.name_check {
        NameCheck::Off => "owner-name check off".to_owned(),
        check => format!(
            "owner-name check {} below {}",
            check.word(),
            risk.name_match_threshold
        ),
    };
    let reauth = if risk.refuse_on_needs_reauth {
        "links needing re-authentication refused"
    } else {
        "links needing re-authentication allowed"
    };
    format!(
        "{balance}, {name}, reviews expire after {}, {reauth}",
        duration(risk.review_expiry_ms)
    )
}

/// The default limits (`[risk.limits]`), rail and direction by rail and direction.
fn risk_limits(settings: &Settings) -> String {
    let tables: Vec<String> = settings
        .risk
        .limits
        .each()
        .into_iter()
        .filter_map(|(rail, direction, limits)| {
            let windows: Vec<String> = [
                ("per transfer", limits.per_transfer),
                ("daily", limits.daily),
                ("rolling 30 days", limits.rolling_30_days),
            ]
            .iter()
            .filter_map(|(name, limit)| describe_limit(limit).map(|text| format!("{name} {text}")))
            .collect();
            (!windows.is_empty()).then(|| format!("{rail} {direction}: {}", windows.join(", ")))
        })
        .collect();
    if tables.is_empty() {
        "none".to_owned()
    } else {
        tables.join("; ")
    }
}

/// What returns lead to (`[returns]`): the review count and the codes changed from the default.
fn returns(settings: &Settings) -> String {
    let returns = &settings.returns;
    let default = ReturnPolicy::default();
    let changed: Vec<String> = returns
        .policy
        .entries()
        .filter(|(code, consequence)| default.consequence(code) != *consequence)
        .map(|(code, consequence)| format!("{} {consequence}", code.code()))
        .collect();
    let policy = if changed.is_empty() {
        "the default return policy".to_owned()
    } else {
        format!("the default return policy but {}", changed.join(", "))
    };
    format!(
        "a link's deposits go to review after {} insufficient-funds returns in 60 days; {policy}",
        returns.r01_review_after
    )
}

/// Milliseconds in the largest whole unit: `3 days`, `90 s`, `1500 ms`.
fn duration(ms: u64) -> String {
    for (unit_ms, one, many) in [
        (86_400_000, "day", "days"),
        (3_600_000, "hour", "hours"),
        (60_000, "minute", "minutes"),
        (1_000, "second", "seconds"),
    ] {
        if ms >= unit_ms && ms.is_multiple_of(unit_ms) {
            let count = ms / unit_ms;
            return format!("{count} {}", if count == 1 { one } else { many });
        }
    }
    format!("{ms} ms")
}

fn events_out(settings: &Settings) -> String {
    match &settings.nats_url {
        Some(url) => format!(
            "NATS JetStream at {}, stream {}, subjects {}.>, {} payloads",
            shown_url(url),
            settings.nats_stream,
            settings.nats_subject_prefix,
            settings.nats_payload
        ),
        None => "off".to_owned(),
    }
}

/// A URL as `--check` shows it: without its user info (a password, or a token alone as NATS takes
/// it), its query or its fragment.
fn shown_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_len = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, shown_url};

    #[test]
    fn a_duration_is_shown_in_its_largest_whole_unit() {
        assert_eq!(duration(259_200_000), "3 days");
        assert_eq!(duration(86_400_000), "1 day");
        assert_eq!(duration(5_400_000), "90 minutes");
        assert_eq!(duration(1_000), "1 second");
        assert_eq!(duration(1_500), "1500 ms");
    }

    #[test]
    fn a_shown_url_has_no_user_info_query_or_fragment() {
        assert_eq!(shown_url("nats://s3cret@nats:4222"), "nats://nats:4222");
        assert_eq!(
            shown_url("nats://user:pa@ss@nats:4222/x"),
            "nats://nats:4222/x"
        );
        assert_eq!(
            shown_url("http://collector:4317/?token=s3cret#f"),
            "http://collector:4317/"
        );
        assert_eq!(
            shown_url(" https://production.plaid.com "),
            "https://production.plaid.com"
        );
    }
}
