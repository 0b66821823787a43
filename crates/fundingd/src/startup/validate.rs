//! The start-up checks of the settings that need no port, database or provider ([`validate`], what
//! `fundingd --check` and `rotate-key` run too), and who may call ([`auth`]: the `[[clients]]`, or
//! open mode where that is allowed).

use std::sync::Arc;

use anyhow::{Context, bail};
use funding_grpc::{Auth, ClientKey, Scope};
use tonic::transport::ServerTlsConfig;

use crate::safety;
use crate::settings::Settings;

/// What the start-up checks of the settings give: the mode the database must belong to, how
/// callers are authenticated, where the key comes from, and gRPC's TLS (none: plaintext).
pub(crate) struct Validated {
    pub(crate) deployment: funding_store::DeploymentMode,
    pub(crate) auth: Auth,
    pub(crate) key: safety::Key,
    pub(crate) tls: Option<ServerTlsConfig>,
}

/// Every check of the settings that needs no port, database or provider (what `fundingd --check`
/// runs): each setting on its own, sandbox safety (DESIGN §10), the clients, the keys, the TLS
/// files. Creates nothing (sandbox mode's key file is only named).
pub(crate) fn validate(settings: &Settings) -> anyhow::Result<Validated> {
    settings.validate()?;
    let sandbox_mode = settings.is_sandbox();
    // Sandbox mode beyond the defaults must be asked for; the mode the database must belong to.
    safety::refuse_unintended_sandbox(settings)?;
    let deployment = safety::deployment_mode(settings)?;
    let auth = auth(settings, sandbox_mode)?;
    let key = safety::key(settings, sandbox_mode)?;
    let tls = crate::tls::server_config(&settings.tls)?;
    Ok(Validated {
        deployment,
        auth,
        key,
        tls,
    })
}

fn auth(settings: &Settings, sandbox_mode: bool) -> anyhow::Result<Auth> {
    if !settings.clients.is_empty() {
        // One token, one caller: two clients with the same hash would make the caller ambiguous.
        let mut hashes: std::collections::BTreeMap<String, &str> = Default::default();
        for client in &settings.clients {
            let hash = client.token_sha256.trim().to_ascii_lowercase();
            if let Some(first) = hashes.insert(hash, &client.name) {
                bail!(
                    "clients `{first}` and `{}` have the same token_sha256: give each client its own token",
                    client.name
                );
            }
        }
        let mut keys = Vec::new();
        for client in &settings.clients {
            let mut scopes = std::collections::BTreeSet::new();
            for name in &client.scopes {
                let scope = Scope::parse(name)
                    .with_context(|| format!("client {}: unknown scope {name:?}", client.name))?;
                scopes.insert(scope);
            }
            keys.push(
                ClientKey::from_hex_hash(&client.name, &client.token_sha256, scopes)
                    .map_err(anyhow::Error::msg)?,
            );
        }
        return Ok(Auth::Tokens(Arc::new(keys)));
    }
    if sandbox_mode && settings.listen.ip().is_loopback() {
        return Ok(Auth::Open);
    }
    if settings.insecure_no_auth {
        tracing::warn!("serving WITHOUT authentication (--insecure-no-auth)");
        return Ok(Auth::Open);
    }
    bail!(
        "no clients are configured: outside sandbox mode on loopback, configure [[clients]] or pass --insecure-no-auth"
    )
}
