//! The processes under test: the built `fundingd` binary (a process of its own, so its peak RSS is
//! its own: `/proc/<pid>/status` VmHWM) in providers mode against the emulator this harness runs,
//! with a bearer token of every scope; and the baseline echo server (this binary, re-run).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use funding_client::FundingClient;
use funding_client::v1;
use funding_sandbox::SandboxHandle;

/// The bearer token the callers send; fundingd is configured with its SHA-256.
pub const TOKEN: &str = "funding-bench-token";
const TOKEN_SHA256: &str = "33a59121769d9ad6f862861878eef9933fc711345a1cee29f9954c6fbdb4ac43";
/// A fixed test key (base64 of 32 bytes): the bench's databases are thrown away.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const PLAID_CLIENT_ID: &str = "funding-bench";
pub const PLAID_SECRET: &str = "funding-bench-secret";

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Where the `fundingd` binary is: `--fundingd`, or beside this binary (built first if missing,
/// with this binary's profile, so `cargo run [--release] -p funding-bench` is enough).
pub fn fundingd_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let me = std::env::current_exe().context("where is funding-bench")?;
    let dir = me.parent().context("funding-bench has no directory")?;
    let beside = dir.join("fundingd");
    let release = dir.file_name().is_some_and(|name| name == "release");
    eprintln!(
        "funding-bench: building fundingd ({})",
        if release { "release" } else { "debug" }
    );
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-p", "fundingd", "--bin", "fundingd"]);
    if release {
        build.arg("--release");
    }
    let status = build.status();
    match status {
        Ok(status) if status.success() => {}
        _ if beside.exists() => {
            eprintln!("funding-bench: cargo build failed; using the fundingd already built")
        }
        _ => bail!("cannot build fundingd; build it (cargo build -p fundingd) or pass --fundingd"),
    }
    Ok(beside)
}

/// One fundingd process.
pub struct Fundingd {
    child: Child,
    pub address: String,
    pub log: PathBuf,
}

/// What differs between fundingd configurations of the bench.
pub struct FundingdOptions<'a> {
    pub name: &'a str,
    pub database_url: &'a str,
    /// More top-level settings (TOML lines), e.g. the reconciler's.
    pub extra: &'a str,
}

fn config_text(
    listen: u16,
    webhook: u16,
    options: &FundingdOptions<'_>,
    emulator: &SandboxHandle,
) -> String {
    format!(
        r#"listen = "127.0.0.1:{listen}"
webhook_listen = "127.0.0.1:{webhook}"
database_url = "{database_url}"
encryption_key = "{KEY}"
log_format = "json"
{extra}

[plaid]
base_url = "{plaid}"
client_id = "{PLAID_CLIENT_ID}"
secret = "{PLAID_SECRET}"

[alpaca]
base_url = "{alpaca}"
key_id = "funding-bench"
secret = "funding-bench-secret"

# Capacity is measured, not the per-caller policy: one caller here stands for many services.
[limits]
calls_per_minute = 0
writes_per_minute = 0

[[clients]]
name = "funding-bench"
token_sha256 = "{TOKEN_SHA256}"
scopes = ["links:write", "transfers:write", "bank_transfers:write", "read"]
"#,
        database_url = options.database_url,
        extra = options.extra,
        plaid = emulator.plaid_url(),
        alpaca = emulator.alpaca_url(),
    )
}

fn clean_command(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("FUNDING_") {
            command.env_remove(name);
        }
    }
    // fundingd logs at `info`, as deployed; `FUNDING_BENCH_RUST_LOG` overrides it for a look
    // inside (the variable is read here, before the `FUNDING_` ones are removed above).
    let filter = std::env::var("FUNDING_BENCH_RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    command.env("RUST_LOG", filter).env("NO_COLOR", "1");
    command
}

impl Fundingd {
    /// Runs the migrations alone (`fundingd migrate`), so that rows can be seeded first.
    pub fn migrate(
        binary: &Path,
        dir: &Path,
        options: &FundingdOptions<'_>,
        emulator: &SandboxHandle,
    ) -> anyhow::Result<()> {
        let config = dir.join(format!("{}.toml", options.name));
        std::fs::write(
            &config,
            config_text(free_port()?, free_port()?, options, emulator),
        )?;
        let output = clean_command(binary)
            .arg("--config")
            .arg(&config)
            .arg("migrate")
            .stdin(Stdio::null())
            .output()
            .context("cannot run fundingd migrate")?;
        if !output.status.success() {
            bail!(
                "fundingd migrate failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Starts fundingd and waits until it answers; the emulator's webhooks go to it.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        options: &FundingdOptions<'_>,
        emulator: &SandboxHandle,
    ) -> anyhow::Result<Self> {
        let listen = free_port()?;
        let webhook = free_port()?;
        let config = dir.join(format!("{}.toml", options.name));
        std::fs::write(&config, config_text(listen, webhook, options, emulator))?;
        let log = dir.join(format!("{}.log", options.name));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = clean_command(binary)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut fundingd = Self {
            child,
            address: format!("http://127.0.0.1:{listen}"),
            log,
        };
        emulator
            .control()
            .set_plaid_webhook_url(Some(&format!("http://127.0.0.1:{webhook}/plaid/webhook")))
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        for _ in 0..600 {
            if fundingd.answers().await {
                return Ok(fundingd);
            }
            if let Some(status) = fundingd.child.try_wait()? {
                bail!(
                    "fundingd exited at start ({status}): {}",
                    fundingd.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fundingd.kill();
        bail!("fundingd never answered: {}", fundingd.log_tail())
    }

    async fn answers(&self) -> bool {
        let Ok(client) = FundingClient::connect(self.address.clone(), Some(TOKEN)).await else {
            return false;
        };
        let answer = client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest {
                id: uuid::Uuid::new_v4().to_string(),
            })
            .await;
        matches!(answer, Err(status) if status.code() == tonic::Code::NotFound)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// (VmRSS, VmHWM) in MiB, from `/proc/<pid>/status`.
    pub fn memory_mib(&self) -> (f64, f64) {
        memory_mib(self.pid())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or("").to_owned()
    }

    /// SIGTERM (a graceful stop), then SIGKILL if it is still there after 10 s.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Fundingd {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (100 ticks a second).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// (VmRSS, VmHWM) of a process in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The baseline server, this binary run as `funding-bench echo-server`.
pub struct EchoServer {
    child: Child,
    pub address: String,
}

impl EchoServer {
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let me = std::env::current_exe()?;
        let child = Command::new(me)
            .args(["echo-server", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the echo server")?;
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if let Ok(client) = FundingClient::connect(server.address.clone(), None).await
                && client
                    .transfers()
                    .get_transfer(v1::GetTransferRequest::default())
                    .await
                    .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the echo server never answered")
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
