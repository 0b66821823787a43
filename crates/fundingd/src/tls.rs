//! TLS for gRPC, from `[tls]`: the server's certificate chain and private key (PEM), and optionally a
//! client CA, which makes every connection present a certificate it signed (mutual TLS). rustls on
//! aws-lc-rs (the backend reqwest's rustls already builds). Every problem with the files is one line
//! naming the setting, found at start-up and by `--check`; a key's bytes are never repeated.

use std::path::Path;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::settings::TlsSettings;

/// The server's TLS configuration, or `None` for plaintext; checked as the server will use it.
pub(crate) fn server_config(settings: &TlsSettings) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert_file), Some(key_file)) = (&settings.cert_file, &settings.key_file) else {
        return Ok(None);
    };
    let cert = read("tls.cert_file", cert_file)?;
    let certificates = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("tls.cert_file {} is not PEM", cert_file.display()))?;
    if certificates.is_empty() {
        bail!(
            "tls.cert_file {} holds no PEM certificate",
            cert_file.display()
        );
    }
    let key = read("tls.key_file", key_file)?;
    // The parser's error could quote the file; only the setting and the path are named.
    if PrivateKeyDer::from_pem_slice(&key).is_err() {
        bail!(
            "tls.key_file {} holds no PEM private key",
            key_file.display()
        );
    }
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca_file) = &settings.client_ca_file {
        let ca = read("tls.client_ca_file", ca_file)?;
        let roots = CertificateDer::pem_slice_iter(&ca)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("tls.client_ca_file {} is not PEM", ca_file.display()))?;
        if roots.is_empty() {
            bail!(
                "tls.client_ca_file {} holds no PEM certificate",
                ca_file.display()
            );
        }
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    install_crypto_provider();
    // Builds the rustls configuration now (tonic builds it here too), so that a key that does not
    // match its certificate is refused at start-up and by --check, not at the first connection.
    if let Err(error) = tonic::transport::Server::builder().tls_config(config.clone()) {
        bail!(
            "tls.cert_file and tls.key_file do not make a usable TLS identity: {}",
            innermost(&error)
        );
    }
    Ok(Some(config))
}

/// rustls needs one process-wide crypto provider when more than one is compiled in (sqlx's rustls
/// brings ring): aws-lc-rs, as reqwest's. A provider installed before is kept.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn read(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {setting} {}", path.display()))
}

/// The last cause of an error chain: rustls's own words ("private key does not match…").
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
