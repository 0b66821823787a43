//! The call log: one [`RecordedCall`] per provider request the emulator received (control
//! requests under `/_sandbox` are not recorded). It keeps no bodies, headers or query strings, so
//! nothing secret is ever stored; tests use it to prove that a call did or did not happen.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which emulated provider a request went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    /// The Plaid API emulator.
    Plaid,
    /// The Alpaca Broker API emulator.
    Alpaca,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Host::Plaid => "plaid",
            Host::Alpaca => "alpaca",
        })
    }
}

/// One request as the emulator saw it, with the status it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// Provider the request went to.
    pub host: Host,
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Request path without the query string (`/item/public_token/exchange`).
    pub path: String,
    /// HTTP status of the answer (after any injected fault).
    pub status: u16,
}

impl RecordedCall {
    /// True when this call matches `method` and `path` exactly.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path == path
    }
}
