//! The settings' sections: the providers (`[plaid]`, `[alpaca]`), the callers (`[[clients]]`),
//! `[tls]`, `[limits]` and the emulator's pace in sandbox mode (`[sandbox]`).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

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
