//! The standalone binary's credentials: with `--plaid-client-id/--plaid-secret` and
//! `--alpaca-key-id/--alpaca-secret`, wrong ones get Plaid's `INVALID_API_KEYS` (400) and Alpaca's
//! 401; without them any non-empty pair passes. The binary runs on free ports and is killed when
//! the test ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Bound on how long the binary may take to print where it listens.
const START_WAIT: Duration = Duration::from_secs(30);

struct Running {
    child: Child,
    plaid: String,
    alpaca: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_funding-sandbox"));
    command
        .args([
            "--plaid-listen",
            "127.0.0.1:0",
            "--alpaca-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FUNDING_SANDBOX_") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts the binary and reads its two URLs; a thread keeps draining its output.
fn start(args: &[&str]) -> Running {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = lines.send(line);
        }
    });
    let mut running = Running {
        child,
        plaid: String::new(),
        alpaca: String::new(),
    };
    while running.plaid.is_empty() || running.alpaca.is_empty() {
        let line = received
            .recv_timeout(START_WAIT)
            .expect("the binary prints where it listens");
        let url = line.rsplit(' ').next().unwrap_or_default().to_owned();
        if line.starts_with("funding-sandbox: Plaid ") && url.starts_with("http://") {
            running.plaid = url;
        } else if line.starts_with("funding-sandbox: Alpaca ") && url.starts_with("http://") {
            running.alpaca = url;
        }
    }
    running
}

async fn plaid(running: &Running, id: &str, secret: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/sandbox/public_token/create", running.plaid))
        .json(&json!({"client_id": id, "secret": secret, "institution_id": "ins_109508", "initial_products": ["auth"]}))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn alpaca(running: &Running, key: &str, secret: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/accounts/{}/transfers",
            running.alpaca,
            Uuid::new_v4()
        ))
        .basic_auth(key, Some(secret))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn configured_credentials_refuse_any_other_pair_with_each_providers_error() {
    let running = start(&[
        "--plaid-client-id",
        "plaid-id",
        "--plaid-secret",
        "plaid-secret",
        "--alpaca-key-id",
        "alpaca-key",
        "--alpaca-secret",
        "alpaca-secret",
    ]);
    let (status, body) = plaid(&running, "plaid-id", "plaid-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (id, secret) in [("plaid-id", "wrong"), ("other", "plaid-secret")] {
        let (status, body) = plaid(&running, id, secret).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let request_id = body["request_id"].as_str().unwrap();
        assert_eq!(request_id.len(), 15);
        assert_eq!(
            body,
            json!({
                "display_message": null,
                "documentation_url": "https://plaid.com/docs/?ref=error#invalid-input-errors",
                "error_code": "INVALID_API_KEYS",
                "error_message": "invalid client_id or secret provided",
                "error_type": "INVALID_INPUT",
                "request_id": request_id,
                "suggested_action": null,
            })
        );
    }

    let (status, body) = alpaca(&running, "alpaca-key", "alpaca-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (key, secret) in [("alpaca-key", "wrong"), ("other", "alpaca-secret")] {
        let (status, body) = alpaca(&running, key, secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"code": 40110000, "message": "request is not authorized"})
        );
    }
}

#[tokio::test]
async fn without_configured_credentials_any_pair_passes() {
    let running = start(&[]);
    let (status, body) = plaid(&running, "anyone", "anything").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alpaca(&running, "anyone", "anything").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn half_a_credential_pair_is_a_usage_error() {
    for args in [
        &["--plaid-client-id", "id"][..],
        &["--alpaca-secret", "secret"][..],
    ] {
        let output = command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("required"), "{args:?}: {stderr}");
    }
}
