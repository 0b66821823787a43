//! Start-up settings of the emulator: where each provider listens, how fast the simulated lifecycles
//! move, which credentials are accepted, and where Plaid webhooks go. Delays and the webhook URL
//! can be changed later at run time through [`crate::SandboxControl`].

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default address of the Plaid emulator (`--plaid-listen`).
pub const DEFAULT_PLAID_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8701);
/// Default address of the Alpaca Broker emulator (`--alpaca-listen`).
pub const DEFAULT_ALPACA_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8702);

/// Everything [`crate::spawn`] needs to start the emulator. `Debug` never prints the secrets.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Address of the Plaid listener; port 0 picks a free port.
    pub plaid_listen: SocketAddr,
    /// Address of the Alpaca Broker listener; port 0 picks a free port.
    pub alpaca_listen: SocketAddr,
    /// Time an ACH relationship stays QUEUED before it becomes APPROVED (and CANCEL_REQUESTED
    /// before CANCELED).
    pub relationship_approval_delay: Duration,
    /// Time between the steps of a transfer: QUEUED → SENT_TO_CLEARING → COMPLETE.
    pub transfer_step_delay: Duration,
    /// Interval of the `:heartbeat` comment lines on the event stream.
    pub heartbeat_interval: Duration,
    /// Lifetime of a Plaid public token, measured on the emulator clock.
    pub public_token_ttl: Duration,
    /// Accepted Plaid `(client_id, secret)`; `None` accepts any non-empty pair.
    pub plaid_credentials: Option<(String, String)>,
    /// Accepted Alpaca `(key_id, secret)` for HTTP Basic; `None` accepts any non-empty pair.
    pub alpaca_credentials: Option<(String, String)>,
    /// Where the signed `BANK_TRANSFERS_EVENTS_UPDATE` webhooks go after every new bank transfer
    /// event (an absolute http or https URL); `None` sends none. Changeable at run time with
    /// [`crate::SandboxControl::set_plaid_webhook_url`].
    pub plaid_webhook_url: Option<String>,
}

/// `(id, "***")` for a credential pair.
fn redacted(credentials: Option<&(String, String)>) -> Option<(&str, &str)> {
    credentials.map(|(id, _)| (id.as_str(), "***"))
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("plaid_listen", &self.plaid_listen)
            .field("alpaca_listen", &self.alpaca_listen)
            .field(
                "relationship_approval_delay",
                &self.relationship_approval_delay,
            )
            .field("transfer_step_delay", &self.transfer_step_delay)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("public_token_ttl", &self.public_token_ttl)
            .field(
                "plaid_credentials",
                &redacted(self.plaid_credentials.as_ref()),
            )
            .field(
                "alpaca_credentials",
                &redacted(self.alpaca_credentials.as_ref()),
            )
            .field("plaid_webhook_url", &self.plaid_webhook_url)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            plaid_listen: DEFAULT_PLAID_LISTEN,
            alpaca_listen: DEFAULT_ALPACA_LISTEN,
            relationship_approval_delay: Duration::from_secs(1),
            transfer_step_delay: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(10),
            public_token_ttl: Duration::from_secs(30 * 60),
            plaid_credentials: None,
            alpaca_credentials: None,
            plaid_webhook_url: None,
        }
    }
}

impl SandboxConfig {
    /// Both listeners on `127.0.0.1:0` (free ports) and zero lifecycle delays: what tests want.
    pub fn ephemeral() -> Self {
        let loopback = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            plaid_listen: loopback,
            alpaca_listen: loopback,
            relationship_approval_delay: Duration::ZERO,
            transfer_step_delay: Duration::ZERO,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secrets() {
        let config = SandboxConfig {
            plaid_credentials: Some(("client".into(), "plaid-secret".into())),
            alpaca_credentials: Some(("key".into(), "alpaca-secret".into())),
            ..SandboxConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(printed.contains("client") && printed.contains("key"));
        assert!(!printed.contains("plaid-secret") && !printed.contains("alpaca-secret"));
    }
}
