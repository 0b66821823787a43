//! The start-up refusals that keep sandbox mode away from real money (DESIGN §10) and keys private:
//! sandbox mode beyond the defaults must be asked for with `--sandbox`; the mode a database is opened
//! in (sandbox, or the provider hosts) is what [`Store::check_deployment`](funding_store::Store::check_deployment)
//! compares with the mode the database was created in; and the encryption key comes from the settings
//! or a private key file (created only in sandbox mode, and only once the database is known to be a
//! sandbox one).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use funding_store::{Cipher, DeploymentMode, ProviderHosts};
use secrecy::ExposeSecret as _;

use crate::settings::Settings;

/// Where sandbox mode keeps its key when no key or key file is given.
const SANDBOX_KEY_FILE: &str = "./var/funding.key";

/// Refuses sandbox mode beyond the defaults (a SQLite database and a loopback listen address) unless
/// it was asked for, and `--sandbox` together with real providers. One line that says what to set.
pub(crate) fn refuse_unintended_sandbox(settings: &Settings) -> anyhow::Result<()> {
    let sandbox = settings.is_sandbox();
    if settings.explicit_sandbox && !sandbox {
        bail!(
            "--sandbox (explicit_sandbox) was given but [plaid] and [alpaca] are configured: drop --sandbox for real providers, or the provider settings for the emulator"
        );
    }
    if !sandbox || settings.explicit_sandbox {
        return Ok(());
    }
    let url = settings.database_url.trim_start();
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let exposed = !settings.listen.ip().is_loopback();
    let place = match (postgres, exposed) {
        (false, false) => return Ok(()),
        (true, false) => "on a PostgreSQL database".to_owned(),
        (false, true) => format!("on the non-loopback address {}", settings.listen),
        (true, true) => format!(
            "on a PostgreSQL database and the non-loopback address {}",
            settings.listen
        ),
    };
    bail!(
        "refusing to start in sandbox mode {place} without --sandbox: pass --sandbox (or FUNDING_EXPLICIT_SANDBOX=true) for the emulator, or configure [plaid] and [alpaca] for real providers"
    )
}

/// The mode this start opens its database in: sandbox, or the hosts of the two providers' base URLs.
pub(crate) fn deployment_mode(settings: &Settings) -> anyhow::Result<DeploymentMode> {
    match (&settings.plaid, &settings.alpaca) {
        (Some(plaid), Some(alpaca)) => Ok(DeploymentMode::Providers(ProviderHosts::new(
            &host_of(&plaid.base_url).context("plaid.base_url")?,
            &host_of(&alpaca.base_url).context("alpaca.base_url")?,
        ))),
        _ => Ok(DeploymentMode::Sandbox),
    }
}

/// `host` or `host:port` of a base URL; never its user info, path or query.
fn host_of(base_url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = base_url
        .trim()
        .parse()
        .ok()
        .filter(|uri: &http::Uri| uri.scheme().is_some())
        .context("must be an absolute http(s) URL")?;
    let authority = uri.authority().context("must name a host")?;
    Ok(match authority.port_u16() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    })
}

/// Where the key that seals tokens at rest comes from.
pub(crate) enum Key {
    /// `encryption_key`, or the private key file outside sandbox mode: read and checked already,
    /// with the old keys.
    Ready(Cipher),
    /// Sandbox mode's key file, read or created (0600) once the database is known to be a sandbox
    /// one, so that a refused start creates nothing; and the old keys.
    SandboxFile(PathBuf, Vec<Cipher>),
}

/// The key source the settings name: `encryption_key`, or `encryption_key_file`. Outside sandbox mode
/// the file is only read, and refused unless private to its owner; in sandbox mode it defaults to
/// `./var/funding.key`, created when missing. The old keys (`old_encryption_keys`,
/// `old_encryption_key_files`) only open; their files are only read, and must be private.
pub(crate) fn key(settings: &Settings, sandbox_mode: bool) -> anyhow::Result<Key> {
    let old = old_keys(settings)?;
    let with_old = |cipher: Cipher| {
        old.iter()
            .fold(cipher, |cipher, old| cipher.with_old_key(old))
    };
    match (&settings.encryption_key, &settings.encryption_key_file) {
        (Some(_), Some(_)) => {
            bail!("give encryption_key or encryption_key_file, not both")
        }
        (Some(key), None) => Ok(Key::Ready(with_old(
            Cipher::from_base64(key.expose_secret())
                .context("encryption_key must be 32 bytes in base64")?,
        ))),
        (None, Some(path)) if !sandbox_mode => Ok(Key::Ready(with_old(
            Cipher::load_private(path).with_context(|| {
                format!("cannot use the encryption key file {}", path.display())
            })?,
        ))),
        (None, None) if !sandbox_mode => {
            bail!("encryption_key or encryption_key_file is required outside sandbox mode")
        }
        (None, file) => Ok(Key::SandboxFile(
            file.clone()
                .unwrap_or_else(|| PathBuf::from(SANDBOX_KEY_FILE)),
            old,
        )),
    }
}

/// The decrypt-only keys the settings list.
fn old_keys(settings: &Settings) -> anyhow::Result<Vec<Cipher>> {
    let mut keys = Vec::new();
    for (index, key) in settings.old_encryption_keys.iter().enumerate() {
        keys.push(
            Cipher::from_base64(key.expose_secret())
                .ok()
                .with_context(|| {
                    format!("old_encryption_keys[{index}] must be 32 bytes in base64")
                })?,
        );
    }
    for path in &settings.old_encryption_key_files {
        keys.push(Cipher::load_private(path).with_context(|| {
            format!("cannot use the old encryption key file {}", path.display())
        })?);
    }
    Ok(keys)
}

impl Key {
    /// The cipher to open the database with before its mode is checked: the key when it is known,
    /// otherwise a throwaway one (migrating and checking the mode touch no secret).
    pub(crate) fn provisional(&self) -> Cipher {
        match self {
            Key::Ready(cipher) => cipher.clone(),
            Key::SandboxFile(..) => Cipher::generate(),
        }
    }

    /// The cipher for good, reading or creating sandbox mode's key file.
    pub(crate) fn settle(self) -> anyhow::Result<Cipher> {
        match self {
            Key::Ready(cipher) => Ok(cipher),
            Key::SandboxFile(path, old) => {
                let cipher = Cipher::load_or_create(&path).with_context(|| {
                    format!(
                        "cannot read or create the sandbox key at {}",
                        path.display()
                    )
                })?;
                Ok(old
                    .iter()
                    .fold(cipher, |cipher, old| cipher.with_old_key(old)))
            }
        }
    }
}

/// The settled cipher the settings give, as startup gets it (tests).
#[cfg(test)]
fn cipher(settings: &Settings, sandbox_mode: bool) -> anyhow::Result<Cipher> {
    key(settings, sandbox_mode)?.settle()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{AlpacaSettings, PlaidSettings};
    use std::path::Path;

    /// A fresh directory under the system's temporary one, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!("fundingd-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn providers(plaid: &str, alpaca: &str) -> Settings {
        Settings {
            plaid: Some(PlaidSettings {
                base_url: plaid.into(),
                client_id: "id".into(),
                secret: Some("secret".to_owned().into()),
                request_timeout_ms: None,
                webhook_url: None,
                client_name: None,
            }),
            alpaca: Some(AlpacaSettings {
                base_url: alpaca.into(),
                key_id: "key".into(),
                secret: Some("secret".to_owned().into()),
                request_timeout_ms: None,
            }),
            ..Settings::default()
        }
    }

    #[test]
    fn the_defaults_are_sandbox_mode_without_the_flag() {
        refuse_unintended_sandbox(&Settings::default()).unwrap();
    }

    #[test]
    fn sandbox_mode_on_postgres_or_beyond_loopback_needs_the_flag() {
        for settings in [
            Settings {
                database_url: "postgres://funding:secret@db/funding".into(),
                ..Settings::default()
            },
            Settings {
                listen: "0.0.0.0:50051".parse().unwrap(),
                ..Settings::default()
            },
        ] {
            let message = refuse_unintended_sandbox(&settings)
                .unwrap_err()
                .to_string();
            assert!(message.contains("--sandbox"), "{message}");
            assert!(message.contains("[plaid] and [alpaca]"), "{message}");
            assert!(
                !message.contains('\n') && !message.contains("secret"),
                "{message}"
            );
            refuse_unintended_sandbox(&Settings {
                explicit_sandbox: true,
                ..settings
            })
            .expect("asked for, it is allowed");
        }
    }

    #[test]
    fn real_providers_need_no_flag_and_refuse_it() {
        let settings = Settings {
            database_url: "postgres://db/funding".into(),
            listen: "0.0.0.0:50051".parse().unwrap(),
            ..providers(
                "https://production.plaid.com",
                "https://broker-api.alpaca.markets",
            )
        };
        refuse_unintended_sandbox(&settings).unwrap();
        let both = Settings {
            explicit_sandbox: true,
            ..settings
        };
        assert!(refuse_unintended_sandbox(&both).is_err());
    }

    #[test]
    fn the_deployment_mode_names_the_provider_hosts_only() {
        assert_eq!(
            deployment_mode(&Settings::default()).unwrap(),
            DeploymentMode::Sandbox
        );
        assert_eq!(
            deployment_mode(&providers(
                "https://user:pw@Production.Plaid.com/base?x=1",
                "http://127.0.0.1:9"
            ))
            .unwrap(),
            DeploymentMode::Providers(ProviderHosts::new("production.plaid.com", "127.0.0.1:9"))
        );
        assert!(deployment_mode(&providers("production.plaid.com", "http://a")).is_err());
    }

    #[test]
    fn outside_sandbox_mode_a_key_file_is_read_never_created() {
        let dir = Scratch::new();
        let path = dir.path().join("funding.key");
        let settings = Settings {
            encryption_key_file: Some(path.clone()),
            ..Settings::default()
        };
        cipher(&settings, false).expect_err("a missing key file is an error");
        assert!(!path.exists(), "and is not created");
        cipher(&settings, true).expect("sandbox mode creates it");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "created private");
        }
        cipher(&settings, false).expect("a private key file is used");
    }

    #[cfg(unix)]
    #[test]
    fn outside_sandbox_mode_a_shared_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = Scratch::new();
        let path = dir.path().join("funding.key");
        let settings = Settings {
            encryption_key_file: Some(path.clone()),
            ..Settings::default()
        };
        cipher(&settings, true).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = format!("{:#}", cipher(&settings, false).unwrap_err());
        assert!(message.contains("chmod 600"), "{message}");
        cipher(&settings, true).expect("sandbox mode only warns");
    }

    #[test]
    fn outside_sandbox_mode_a_key_is_required_and_only_one() {
        assert!(cipher(&Settings::default(), false).is_err());
        let both = Settings {
            encryption_key: Some(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                    .to_owned()
                    .into(),
            ),
            encryption_key_file: Some("funding.key".into()),
            ..Settings::default()
        };
        assert!(cipher(&both, false).is_err());
    }

    #[test]
    fn old_keys_are_added_open_only_and_a_bad_one_is_named() {
        let current = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let old = "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";
        let settings = Settings {
            encryption_key: Some(current.to_owned().into()),
            old_encryption_keys: vec![old.to_owned().into()],
            ..Settings::default()
        };
        let loaded = cipher(&settings, false).unwrap();
        assert_eq!(
            loaded.key_id(),
            Cipher::from_base64(current).unwrap().key_id()
        );
        assert_eq!(
            loaded.old_key_ids(),
            vec![Cipher::from_base64(old).unwrap().key_id()]
        );
        let bad = Settings {
            old_encryption_keys: vec![old.to_owned().into(), "bm9wZQ==".to_owned().into()],
            ..settings
        };
        let message = format!("{:#}", cipher(&bad, false).unwrap_err());
        assert!(message.contains("old_encryption_keys[1]"), "{message}");
        assert!(!message.contains("bm9wZQ"), "{message}");
    }
}
