//! Real processes for the crash tests and the chaos run: a seeded generator, so a failing run
//! replays from its printed seed, and [`Replica`], one `fundingd` process with its own config
//! file and log that can be SIGKILLed, SIGSTOPped, SIGCONTinued and restarted on the same address.
//! With `TEST_LOG=1` ([`crate::test_log`]) each replica's log lines are also written to stderr as
//! they come, prefixed with its name.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1;

/// A small deterministic generator (xorshift64), so a failing run replays from its printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// From `seed` (0 is taken as 1: xorshift needs a bit set).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// From `FUNDING_CHAOS_SEED`, or the clock; the seed is printed either way.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("FUNDING_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(clock_seed);
        eprintln!("{test}: FUNDING_CHAOS_SEED={seed}");
        Self::new(seed)
    }

    /// The next number of the sequence (not an iterator: it never ends).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// An index into a slice of `len` (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        (self.next() % (len.max(1) as u64)) as usize
    }

    /// A new generator whose sequence depends on this one's next number (one per task, so a
    /// task's choices do not depend on how the tasks interleave).
    pub fn fork(&mut self) -> Self {
        Self::new(self.next() ^ 0x9E37_79B9_7F4A_7C15)
    }
}

/// A seed from the clock, for runs that were not given one.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// One `fundingd` process.
pub struct Replica {
    pub name: String,
    /// `http://127.0.0.1:<port>`, its gRPC address.
    pub address: String,
    pub log: PathBuf,
    program: PathBuf,
    config: PathBuf,
    /// Extra environment (e.g. the role of a multi-role binary).
    envs: Vec<(OsString, OsString)>,
    child: Option<Child>,
}

impl Replica {
    /// A replica that runs `program --config <config>`, logging to `log` and serving on
    /// `address`; not started yet.
    pub fn new(
        name: &str,
        program: impl Into<PathBuf>,
        config: PathBuf,
        log: PathBuf,
        address: String,
    ) -> Self {
        Self {
            name: name.to_owned(),
            address,
            log,
            program: program.into(),
            config,
            envs: Vec::new(),
            child: None,
        }
    }

    /// Also sets `key=value` in the process's environment.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Whether the process runs (was started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process (again) and waits until it answers; panics with its log if it exits or
    /// never answers.
    pub async fn start(&mut self) {
        if let Err(error) = self.try_start().await {
            panic!("{error}");
        }
    }

    /// Starts the process (again) and waits until it answers.
    pub async fn try_start(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|error| format!("{}: cannot open its log: {error}", self.name))?;
        let test_log = crate::test_log();
        let (stdout, stderr) = if test_log {
            (Stdio::piped(), Stdio::piped())
        } else {
            (
                log.try_clone().map_err(|error| error.to_string())?.into(),
                log.try_clone().map_err(|error| error.to_string())?.into(),
            )
        };
        let mut command = Command::new(&self.program);
        command
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("FUNDING_") {
                command.env_remove(name);
            }
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .map_err(|error| format!("{}: cannot start: {error}", self.name))?;
        if test_log {
            for output in [
                child
                    .stdout
                    .take()
                    .map(|o| Box::new(o) as Box<dyn Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|e| Box::new(e) as Box<dyn Read + Send>),
            ]
            .into_iter()
            .flatten()
            {
                let log = log.try_clone().map_err(|error| error.to_string())?;
                tee(output, log, self.name.clone());
            }
        }
        self.child = Some(child);
        for _ in 0..400 {
            if self.answers().await {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "{} exited at start ({status}): {}",
                    self.name,
                    self.log_text()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{} never answered: {}", self.name, self.log_text()))
    }

    async fn answers(&self) -> bool {
        let Ok(client) = FundingClient::connect(self.address.clone(), None).await else {
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

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status()
                .expect("kill runs");
            assert!(status.success());
        }
    }

    /// SIGSTOP: the process stops where it is, renewing nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Copies a process's output line by line to its log file and to stderr (`[name] line`), until the
/// process closes it (exits or is killed). Straight to the process's stderr, as zero2prod's
/// TEST_LOG does: the test harness captures only `print!`/`eprint!`.
fn tee(output: Box<dyn Read + Send>, mut log: std::fs::File, name: String) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let _ = log.write_all(&line);
            let mut shown = format!("[{name}] ").into_bytes();
            shown.extend_from_slice(&line);
            let _ = std::io::stderr().write_all(&shown);
            line.clear();
        }
    });
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// Runs `command` to its end and collects its output on tokio's blocking pool, so that the
/// runtime's thread goes on running what the test has spawned on it meanwhile. A [`TestApp`]
/// runs the service on the test's runtime (one thread under `#[tokio::test]`): a command run on
/// that thread froze the service, and a SQLite write transaction it had open held the write lock
/// until the command ended (`fundingd rotate-key` beside it then met "database is locked" on every
/// try, for minutes).
///
/// [`TestApp`]: crate::TestApp
pub async fn output_off_runtime(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("the command runs")
}
