//! Encryption of secrets at rest. A [`Cipher`] seals a value with XChaCha20-Poly1305 under a fresh
//! random 24-byte nonce, and binds the ciphertext to where it is stored (table, column, row id) through
//! the associated data: a ciphertext copied into another row or column no longer opens.
//!
//! A cipher holds a *current* key, which seals, and any number of *old* keys, which only open (key
//! rotation: `fundingd rotate-key`). Every key has a public id, [`Cipher::key_id`]: 8 hex digits
//! derived from the key by the AEAD itself (the first 4 bytes of its tag over an empty message under
//! a fixed nonce and domain), so the id reveals nothing of the key. The stored form is
//!
//! - format 2 (written now): `2 ‖ key id length (1 byte) ‖ key id ‖ nonce (24 bytes) ‖ ciphertext
//!   and tag`, the version and key id part of the associated data; opened by the key of that id, and
//!   [`OpenError::UnknownKey`] (naming the id) when no configured key has it;
//! - format 1 (written before key ids): `1 ‖ nonce ‖ ciphertext and tag`; tried with the current
//!   key, then every old key.
//!
//! The key never shows in `Debug` and no error carries a key or a plaintext.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

mod key_file;

/// The format of a sealed value without a key id (before key rotation existed); still opened.
const FORMAT_V1: u8 = 1;
/// The format of a sealed value that names its key.
const FORMAT_V2: u8 = 2;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// Prefix of the associated data, so that these ciphertexts mean nothing to any other use of the key.
const AAD_DOMAIN: &[u8] = b"funding-store/v1";
/// What a key's id is derived from (the AEAD's tag over nothing, under this associated data).
const KEY_ID_DOMAIN: &[u8] = b"funding-store/key-id";

/// Why a key could not be loaded. Never carries the key itself.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("the encryption key must be the base64 (standard alphabet) of exactly 32 bytes")]
    InvalidKey,
    /// The file cannot be read (or created); the I/O error is part of the message, not a source,
    /// so that a chain of contexts names it once.
    #[error("encryption key file {path}: {error}")]
    KeyFile {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(
        "encryption key file {path} is open to its group or others (mode {mode:o}): chmod 600 it"
    )]
    KeyFileShared { path: std::path::PathBuf, mode: u32 },
}

/// A sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Wrong key, wrong place, or damaged bytes.
    #[error("the ciphertext cannot be decrypted with this key in this place")]
    Undecryptable,
    /// Sealed under a key this cipher does not hold (neither current nor old); the key's id.
    #[error("sealed under encryption key {0}, which is not configured")]
    UnknownKey(String),
}

/// The store's error for a value in `column` of `table` row `id` that does not open: which key it
/// needs when it names one that is not configured, never what it holds.
pub(crate) fn open_failure(
    table: &str,
    id: impl fmt::Display,
    column: &str,
    error: &OpenError,
) -> funding_core::ports::StoreError {
    let what = match error {
        OpenError::Undecryptable => {
            format!("{column} cannot be decrypted with the configured keys")
        }
        OpenError::UnknownKey(key_id) => format!(
            "{column} is sealed under encryption key {key_id}, which is not configured (add it to old_encryption_keys)"
        ),
    };
    crate::error::corrupt(table, id, &what)
}

/// Where a sealed value lives; it is part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a [u8],
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            AAD_DOMAIN.len() + self.table.len() + self.column.len() + self.row_id.len() + 3,
        );
        for part in [
            AAD_DOMAIN,
            self.table.as_bytes(),
            self.column.as_bytes(),
            self.row_id,
        ] {
            aad.extend_from_slice(part);
            aad.push(0);
        }
        aad
    }
}

/// One key and its public id.
struct Key {
    id: String,
    aead: XChaCha20Poly1305,
}

impl Key {
    fn new(aead: XChaCha20Poly1305) -> Key {
        let tag = aead
            .encrypt(
                XNonce::from_slice(&[0u8; NONCE_LEN]),
                Payload {
                    msg: &[],
                    aad: KEY_ID_DOMAIN,
                },
            )
            .unwrap_or_default();
        let id = tag.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Key { id, aead }
    }
}

/// The keys that encrypt secrets at rest: the current one (seals and opens) and old ones (open
/// only). Cheap to clone.
#[derive(Clone)]
pub struct Cipher {
    current: Arc<Key>,
    old: Arc<[Arc<Key>]>,
}

/// The parts of a stored value.
struct Sealed<'a> {
    /// `None` for format 1.
    key_id: Option<&'a [u8]>,
    /// What the associated data adds to the slot's (the header of format 2).
    header: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

fn parse(stored: &[u8]) -> Option<Sealed<'_>> {
    let (version, rest) = stored.split_first()?;
    let (key_id, header_len, rest) = match *version {
        FORMAT_V1 => (None, 0, rest),
        FORMAT_V2 => {
            let (len, rest) = rest.split_first()?;
            let len = usize::from(*len);
            if rest.len() < len {
                return None;
            }
            let (id, rest) = rest.split_at(len);
            (Some(id), 2 + len, rest)
        }
        _ => return None,
    };
    if rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Some(Sealed {
        key_id,
        header: &stored[..header_len],
        nonce,
        ciphertext,
    })
}

impl Cipher {
    /// A cipher from a base64-encoded 32-byte key (surrounding whitespace ignored).
    pub fn from_base64(encoded: &str) -> Result<Cipher, CipherError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CipherError::InvalidKey)?;
        if bytes.len() != KEY_LEN {
            return Err(CipherError::InvalidKey);
        }
        let aead =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| CipherError::InvalidKey)?;
        Ok(Cipher::from_aead(aead))
    }

    /// A cipher under a fresh random key.
    pub fn generate() -> Cipher {
        Self::from_key_bytes(&XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    fn from_key_bytes(key: &chacha20poly1305::Key) -> Cipher {
        Cipher::from_aead(XChaCha20Poly1305::new(key))
    }

    fn from_aead(aead: XChaCha20Poly1305) -> Cipher {
        Cipher {
            current: Arc::new(Key::new(aead)),
            old: Arc::from(Vec::new()),
        }
    }

    /// The public id of the current key (8 hex digits), which every value it seals carries.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// The ids of the old (open-only) keys.
    pub fn old_key_ids(&self) -> Vec<&str> {
        self.old.iter().map(|key| key.id.as_str()).collect()
    }

    /// This cipher, also opening what `old`'s keys (its current and old ones) sealed. Keys already
    /// held are not added twice.
    #[must_use]
    pub fn with_old_key(self, old: &Cipher) -> Cipher {
        let mut keys: Vec<Arc<Key>> = self.old.to_vec();
        for key in std::iter::once(&old.current).chain(old.old.iter()) {
            if key.id != self.current.id && !keys.iter().any(|held| held.id == key.id) {
                keys.push(key.clone());
            }
        }
        Cipher {
            current: self.current,
            old: Arc::from(keys),
        }
    }

    /// The id of the key `stored` was sealed under, when it names one (format 2), as text.
    pub(crate) fn sealed_key_id(stored: &[u8]) -> Option<String> {
        parse(stored)
            .and_then(|sealed| sealed.key_id)
            .map(|id| String::from_utf8_lossy(id).escape_debug().to_string())
    }

    /// Seals `plaintext` for `slot` under the current key.
    pub(crate) fn seal(&self, slot: Slot<'_>, plaintext: &[u8]) -> Result<Vec<u8>, OpenError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let id = self.current.id.as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| OpenError::Undecryptable)?;
        let mut stored = Vec::with_capacity(2 + id.len() + NONCE_LEN + plaintext.len() + 16);
        stored.push(FORMAT_V2);
        stored.push(id_len);
        stored.extend_from_slice(id);
        let mut aad = slot.associated_data();
        aad.extend_from_slice(&stored);
        let sealed = self
            .current
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Undecryptable)?;
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        Ok(stored)
    }

    /// Opens what [`seal`](Self::seal) stored for the same `slot`, under whichever held key sealed
    /// it.
    pub(crate) fn open(&self, slot: Slot<'_>, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let sealed = parse(stored).ok_or(OpenError::Undecryptable)?;
        let mut aad = slot.associated_data();
        aad.extend_from_slice(sealed.header);
        let decrypt = |key: &Key| {
            key.aead
                .decrypt(
                    XNonce::from_slice(sealed.nonce),
                    Payload {
                        msg: sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .ok()
        };
        let mut keys = std::iter::once(&self.current).chain(self.old.iter());
        match sealed.key_id {
            // Before key ids: any held key may have sealed it.
            None => keys
                .find_map(|key| decrypt(key))
                .ok_or(OpenError::Undecryptable),
            Some(id) => {
                let key = keys.find(|key| key.id.as_bytes() == id).ok_or_else(|| {
                    OpenError::UnknownKey(String::from_utf8_lossy(id).escape_debug().to_string())
                })?;
                decrypt(key).ok_or(OpenError::Undecryptable)
            }
        }
    }

    /// Seals `plaintext` in the format written before key ids (format 1), for tests of what older
    /// versions stored.
    #[cfg(test)]
    pub(crate) fn seal_v1(&self, slot: Slot<'_>, plaintext: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = slot.associated_data();
        let sealed = self
            .current
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut stored = vec![FORMAT_V1];
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        stored
    }

    /// Reads the base64 key in `path`, or creates the file with a fresh key (mode 0600 on unix) when it
    /// does not exist. For sandbox mode; production passes its key through configuration.
    pub fn load_or_create(path: impl AsRef<std::path::Path>) -> Result<Cipher, CipherError> {
        key_file::load_or_create(path.as_ref())
    }

    /// Reads the base64 key in an existing `path`; never creates it. Refused with
    /// [`CipherError::KeyFileShared`] when its group or others may read it (unix mode & 0o077).
    /// For keys given as a file outside sandbox mode.
    pub fn load_private(path: impl AsRef<std::path::Path>) -> Result<Cipher, CipherError> {
        key_file::load_private(path.as_ref())
    }

    /// The key as base64, for the key file only.
    fn key_file_contents(key: &chacha20poly1305::Key) -> String {
        let mut text = STANDARD.encode(key);
        text.push('\n');
        text
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cipher(XChaCha20Poly1305, key id {}, old key ids {:?}, keys: [REDACTED])",
            self.current.id,
            self.old_key_ids()
        )
    }
}

#[cfg(test)]
mod tests;
