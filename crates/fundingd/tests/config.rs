//! `fundingd --config FILE --check`: a bad configuration gets one line naming the setting at fault
//! (exit 2); config/example.toml checks OK without binding, connecting or creating anything, and
//! says what would start in lines a person reads, without a secret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("fundingd-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `fundingd --config FILE --check` in `dir`, with no `FUNDING_…` variable but `env`.
fn check(dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fundingd"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("FUNDING_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.arg("--check").output().unwrap()
}

const PROVIDERS: &str = r#"
encryption_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
insecure_no_auth = true
[plaid]
base_url = "https://production.plaid.com"
client_id = "id"
secret = "plaid-secret"
[alpaca]
base_url = "https://broker-api.alpaca.markets"
key_id = "key"
secret = "alpaca-secret"
"#;

const HASH_A: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

#[test]
fn each_bad_configuration_gets_one_line_naming_the_setting() {
    let duplicate_tokens = format!(
        "[[clients]]\nname = \"a\"\ntoken_sha256 = \"{HASH_A}\"\nscopes = [\"read\"]\n\
         [[clients]]\nname = \"b\"\ntoken_sha256 = \"{}\"\nscopes = [\"read\"]\n",
        HASH_A.to_uppercase()
    );
    let unknown_scope =
        format!("[[clients]]\nname = \"a\"\ntoken_sha256 = \"{HASH_A}\"\nscopes = [\"write\"]\n");
    let cases: Vec<(String, &str)> = vec![
        ("foo = 1\n".into(), "unknown setting `foo`"),
        ("[plaid]\nbogus = 1\n".into(), "unknown setting `plaid.bogus`"),
        ("listen = \"nope\"\n".into(), "listen is not an address"),
        ("metrics_listen = 9090\n".into(), "metrics_listen is not an address"),
        (
            PROVIDERS.replace("client_id = \"id\"", "client_id = \"\""),
            "plaid.client_id is empty",
        ),
        (
            PROVIDERS.replace("secret = \"alpaca-secret\"", ""),
            "alpaca.key_id is set but alpaca.secret is not",
        ),
        (
            PROVIDERS.replace("client_id = \"id\"\n", ""),
            "plaid.client_id is required",
        ),
        (
            PROVIDERS.replace("https://production.plaid.com", "production.plaid.com"),
            "plaid.base_url is not an http(s) URL",
        ),
        (
            "[plaid]\nbase_url = \"https://production.plaid.com\"\nclient_id = \"id\"\nsecret = \"s\"\n"
                .into(),
            "[plaid] is configured but [alpaca] is not",
        ),
        ("work_lease_ms = 10\n".into(), "work_lease_ms must be at least 30"),
        (
            "work_lease_ms = \"soon\"\n".into(),
            "work_lease_ms must be a whole number",
        ),
        (
            "reconcile_pass_size = 0\n".into(),
            "reconcile_pass_size must be between 1 and 10000",
        ),
        (
            "reconcile_calls_per_second = 5000\n".into(),
            "reconcile_calls_per_second must be at most 1000",
        ),
        (
            "reconcile_stuck_after_ms = 100000000000\n".into(),
            "reconcile_stuck_after_ms must be at most",
        ),
        ("log_format = \"xml\"\n".into(), "log_format must be \"pretty\" or \"json\""),
        (
            "database_url = \"mysql://db/funding\"\n".into(),
            "database_url must start with sqlite: or postgres://",
        ),
        (
            "database_url = \"postgres://funding:hunter2@db/funding\"\n".into(),
            "refusing to start in sandbox mode on a PostgreSQL database without --sandbox",
        ),
        (
            PROVIDERS.replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "bm9wZQ=="),
            "encryption_key must be 32 bytes in base64",
        ),
        (
            format!("old_encryption_keys = [\"bm9wZQ==\"]\n{PROVIDERS}"),
            "old_encryption_keys[0] must be 32 bytes in base64",
        ),
        (duplicate_tokens, "clients `a` and `b` have the same token_sha256"),
        (unknown_scope, "client a: unknown scope \"write\""),
        (
            "[[clients]]\nname = \"a\"\ntoken_sha256 = \"abc\"\nscopes = []\n".into(),
            "clients[0].token_sha256 (client `a`) must be 64 hex digits",
        ),
        ("listen = \n".into(), "TOML parse error"),
    ];
    let dir = Scratch::new();
    let mut failures = Vec::new();
    for (index, (toml, expected)) in cases.iter().enumerate() {
        let file = dir.0.join(format!("bad-{index}.toml"));
        std::fs::write(&file, toml).unwrap();
        let output = check(&dir.0, Some(&file), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<&str> = stderr.lines().collect();
        let ok = output.status.code() == Some(2)
            && lines.len() == 1
            && lines[0].starts_with("fundingd: bad configuration: ")
            && lines[0].contains(expected)
            && !stderr.contains("hunter2")
            && !stderr.contains("bm9wZQ")
            && !stderr.contains("Error {");
        if !ok {
            failures.push(format!(
                "case {index} ({expected}): exit {:?}, stderr {stderr:?}",
                output.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!dir.0.join("var").exists(), "--check creates nothing");
}

#[test]
fn an_unknown_environment_setting_names_its_variable() {
    let dir = Scratch::new();
    let output = check(&dir.0, None, &[("FUNDING_WORK_LEASE_MS", "5")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "fundingd: bad configuration: work_lease_ms must be at least 30"
    );
    let output = check(&dir.0, None, &[("FUNDING_FOO", "1")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        "fundingd: bad configuration: unknown setting `foo` (from the environment variable FUNDING_FOO)"
    );
}

#[test]
fn the_example_configuration_checks_ok() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml");
    let dir = Scratch::new();
    // The example names /etc/funding/key; the test gives a private key file of its own.
    let key = dir.0.join("funding.key");
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let output = check(
        &dir.0,
        Some(&example),
        &[
            ("FUNDING_ENCRYPTION_KEY_FILE", key.to_str().unwrap()),
            ("FUNDING_PLAID__SECRET", "plaid-secret-from-env"),
            (
                "FUNDING_DATABASE_URL",
                "postgres://funding:hunter2@db.internal:5432/funding?sslmode=require",
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout {stdout}\nstderr {stderr}");
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    assert!(
        stdout.contains("postgres://funding:[REDACTED]@db.internal:5432/funding"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stdout.contains("plaid-secret"));
    // Lines a person reads, not Rust's Debug of a value.
    for expected in [
        "configuration OK: providers mode (plaid=production.plaid.com, alpaca=broker-api.alpaca.markets), database postgres://funding:[REDACTED]@db.internal:5432/funding?sslmode=require",
        "  mode: real providers: Plaid at https://production.plaid.com, Alpaca at https://broker-api.alpaca.markets",
        "  database: PostgreSQL at postgres://funding:[REDACTED]@db.internal:5432/funding?sslmode=require",
        "  gRPC: 0.0.0.0:50051, plaintext",
        "  callers: 2 clients with bearer tokens (onboarding-app, portfolio-service)",
        "  metrics: http://0.0.0.0:9090/metrics",
        "  Plaid webhooks: POST http://0.0.0.0:8080/plaid/webhook",
        "  events out: off",
        "  risk: balance check off, owner-name check off, reviews expire after 3 days, links needing re-authentication allowed",
        "  risk limits: none",
        "  returns: a link's deposits go to review after 3 insufficient-funds returns in 60 days; the default return policy",
        "  traces: off",
    ] {
        assert!(
            stdout.lines().any(|line| line == expected),
            "{expected:?} missing from\n{stdout}"
        );
    }
    assert!(
        stdout.contains("  encryption key: key ") && stdout.contains(key.to_str().unwrap()),
        "{stdout}"
    );
    for debug in ["Providers(", "ProviderHosts", "Some(", "{ ", "[\""] {
        assert!(
            !stdout.contains(debug),
            "a Debug value ({debug}) in\n{stdout}"
        );
    }
}

#[test]
fn the_check_names_events_and_traces_without_their_credentials() {
    let dir = Scratch::new();
    let output = check(
        &dir.0,
        None,
        &[
            ("FUNDING_NATS_URL", "nats://s3cret-token@nats.internal:4222"),
            (
                "FUNDING_OTLP_ENDPOINT",
                "http://collector.internal:4317/?api_key=s3cret",
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {:?}", output.stderr);
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(
        stdout.contains("  events out: NATS JetStream at nats://nats.internal:4222, stream FUNDING, subjects funding.v1.>, protobuf payloads"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  traces: OTLP to http://collector.internal:4317/"),
        "{stdout}"
    );
}

#[test]
fn the_defaults_check_ok_as_sandbox_mode_and_create_nothing() {
    let dir = Scratch::new();
    let output = check(&dir.0, None, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {:?}", output.stderr);
    assert_eq!(
        stdout.trim_end(),
        "configuration OK: sandbox mode, database sqlite:./var/funding.db
  mode: sandbox: the built-in emulator of Plaid and Alpaca
  database: SQLite at sqlite:./var/funding.db
  gRPC: 127.0.0.1:50051, plaintext
  callers: anyone, without authentication (sandbox mode on loopback)
  encryption key: sandbox key file ./var/funding.key (created on first start)
  metrics: off
  Plaid webhooks: a loopback port the emulator sends to
  events out: off
  risk: balance check off, owner-name check off, reviews expire after 3 days, links needing re-authentication allowed
  risk limits: none
  returns: a link's deposits go to review after 3 insufficient-funds returns in 60 days; the default return policy
  traces: off"
    );
    assert!(!dir.0.join("var").exists(), "no database, no key file");
}

#[test]
fn risk_and_returns_are_checked_naming_the_key_and_shown() {
    let dir = Scratch::new();
    let file = dir.0.join("risk.toml");
    let full = "[risk]\nbalance_check = \"refuse\"\nbalance_unavailable = \"review\"\n\
        name_check = \"review\"\nname_match_threshold = 80\nreview_expiry_ms = 86400000\n\
        refuse_on_needs_reauth = true\n[risk.limits.alpaca.deposit]\nper_transfer_soft = \"2500.00\"\n\
        per_transfer_hard = \"5000\"\ndaily_hard = \"10000.50\"\n[returns]\nr01_review_after = 2\n\
        [returns.policy]\nR16 = \"none\"\n";
    std::fs::write(&file, full).unwrap();
    // The environment overrides the file, as for every setting.
    let env = [("FUNDING_RISK__LIMITS__PLAID__DEBIT__DAILY_SOFT", "700.25")];
    let output = check(&dir.0, Some(&file), &env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {:?}", output.stderr);
    for expected in [
        "  risk: balance check refuse (balance unavailable: review), owner-name check review below 80, reviews expire after 1 day, links needing re-authentication refused",
        "  risk limits: alpaca deposit: per transfer soft 2500.00 hard 5000.00, daily hard 10000.50; plaid debit: daily soft 700.25",
        "  returns: a link's deposits go to review after 2 insufficient-funds returns in 60 days; the default return policy but R16 none",
    ] {
        assert!(
            stdout.lines().any(|l| l == expected),
            "{expected:?} missing from\n{stdout}"
        );
    }
    let limits = |lines: &str| format!("[risk.limits.alpaca.deposit]\n{lines}");
    let cases: Vec<(String, &str)> = vec![
        (
            "[risk]\nbalance_check = \"maybe\"\n".into(),
            "risk.balance_check: must be one of refuse, review, off, not \"maybe\" (in ",
        ),
        (
            "[risk]\nname_match_threshold = 101\n".into(),
            "risk.name_match_threshold must be between 0 and 100",
        ),
        (
            "[risk]\nreview_expiry_ms = 10\n".into(),
            "risk.review_expiry_ms must be between 1000",
        ),
        (
            limits("daily_soft = \"2000.00\"\ndaily_hard = \"1000.00\"\n"),
            "risk.limits.alpaca.deposit.daily_soft (2000.00) is above daily_hard (1000.00)",
        ),
        (
            limits("daily_hard = \"2000\"\nrolling_30_days_hard = \"1000\"\n"),
            "risk.limits.alpaca.deposit.daily_hard (2000.00) is above rolling_30_days_hard",
        ),
        (
            limits("daily_hard = \"12.345\"\n"),
            "risk.limits.alpaca.deposit.daily_hard: \"12.345\" must have at most two fraction digits",
        ),
        (
            limits("daily_hard = \"0\"\n"),
            "risk.limits.alpaca.deposit.daily_hard: \"0\" must be greater than 0.00",
        ),
        (
            limits("daily = \"1.00\"\n"),
            "unknown setting `risk.limits.alpaca.deposit.daily`",
        ),
        (
            "[returns]\nr01_review_after = 0\n".into(),
            "returns.r01_review_after must be at least 1",
        ),
        (
            "[returns.policy]\nR99 = \"none\"\n".into(),
            "returns.policy: \"R99\" is not an ACH return code",
        ),
        (
            "[returns.policy]\nR16 = \"shrug\"\n".into(),
            "returns.policy: R16: \"shrug\" is not a consequence",
        ),
    ];
    for (index, (toml, expected)) in cases.iter().enumerate() {
        let file = dir.0.join(format!("bad-{index}.toml"));
        std::fs::write(&file, toml).unwrap();
        let output = check(&dir.0, Some(&file), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{toml}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("fundingd: bad configuration: "),
            "{stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from {stderr:?}"
        );
    }
}

/// A PEM block of `label` around bytes that are no DER at all.
fn fake_pem(label: &str) -> String {
    format!(
        "-----BEGIN {label}-----\nc3VwZXItc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END {label}-----\n"
    )
}

#[test]
fn bad_tls_and_limit_settings_get_one_line_naming_the_setting() {
    let dir = Scratch::new();
    let write = |name: &str, text: &str| std::fs::write(dir.0.join(name), text).unwrap();
    write("garbage.pem", "super-secret-key-material\n");
    write("cert.pem", &fake_pem("CERTIFICATE"));
    write("key.pem", &fake_pem("PRIVATE KEY"));
    std::fs::create_dir_all(dir.0.join("a-directory")).unwrap();
    let tls = |lines: &str| format!("[tls]\n{lines}");
    let cases: Vec<(String, &str)> = vec![
        (
            tls("cert_file = \"cert.pem\"\n"),
            "tls.cert_file is set but tls.key_file is not",
        ),
        (
            tls("key_file = \"key.pem\"\n"),
            "tls.key_file is set but tls.cert_file is not",
        ),
        (
            tls("client_ca_file = \"cert.pem\"\n"),
            "tls.client_ca_file is set but tls.cert_file and tls.key_file are not",
        ),
        (tls("bogus = 1\n"), "unknown setting `tls.bogus`"),
        (
            tls("cert_file = \"missing.pem\"\nkey_file = \"key.pem\"\n"),
            "cannot read tls.cert_file missing.pem",
        ),
        (
            tls("cert_file = \"a-directory\"\nkey_file = \"key.pem\"\n"),
            "cannot read tls.cert_file a-directory",
        ),
        (
            tls("cert_file = \"garbage.pem\"\nkey_file = \"key.pem\"\n"),
            "tls.cert_file garbage.pem holds no PEM certificate",
        ),
        (
            tls("cert_file = \"cert.pem\"\nkey_file = \"garbage.pem\"\n"),
            "tls.key_file garbage.pem holds no PEM private key",
        ),
        (
            tls("cert_file = \"cert.pem\"\nkey_file = \"missing.key\"\n"),
            "cannot read tls.key_file missing.key",
        ),
        (
            tls(
                "cert_file = \"cert.pem\"\nkey_file = \"key.pem\"\nclient_ca_file = \"garbage.pem\"\n",
            ),
            "tls.client_ca_file garbage.pem holds no PEM certificate",
        ),
        (
            tls("cert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n"),
            "tls.cert_file and tls.key_file do not make a usable TLS identity",
        ),
        (
            "[limits]\nmax_concurrent_streams = 0\n".into(),
            "limits.max_concurrent_streams must be at least 1",
        ),
        (
            "[limits]\nmax_request_bytes = 10\n".into(),
            "limits.max_request_bytes must be at least 1024",
        ),
        (
            "[limits]\nwrite_burst = 0\n".into(),
            "limits.write_burst must be at least 1 while limits.writes_per_minute is on",
        ),
        (
            "[limits]\ncalls_per_minute = -5\n".into(),
            "limits.calls_per_minute must be",
        ),
        (
            "inbox_sweep_interval_ms = 0\n".into(),
            "inbox_sweep_interval_ms must be at least 1",
        ),
        (
            "inbox_foreign_grace_ms = 0\n".into(),
            "inbox_foreign_grace_ms must be at least 1",
        ),
        (
            "inbox_retention_ms = 60000\n".into(),
            "inbox_retention_ms must be at least 3600000",
        ),
    ];
    let mut failures = Vec::new();
    for (index, (toml, expected)) in cases.iter().enumerate() {
        let file = dir.0.join(format!("bad-{index}.toml"));
        std::fs::write(&file, toml).unwrap();
        let output = check(&dir.0, Some(&file), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<&str> = stderr.lines().collect();
        let ok = output.status.code() == Some(2)
            && lines.len() == 1
            && lines[0].starts_with("fundingd: bad configuration: ")
            && lines[0].contains(expected)
            && !stderr.contains("super-secret")
            && !stderr.contains("c3VwZXItc2Vj");
        if !ok {
            failures.push(format!(
                "case {index} ({expected}): exit {:?}, stderr {stderr:?}",
                output.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
