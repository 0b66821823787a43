//! Key files. Sandbox mode reads its key file if it exists, otherwise creates it with a fresh key,
//! readable by the owner only (0600), atomically (a concurrent creator never sees a half-written
//! file). Outside sandbox mode a key file is only read, never created, and refused when its group or
//! others may read it.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{KeyInit, OsRng};

use super::{Cipher, CipherError};

pub(crate) fn load_or_create(path: &Path) -> Result<Cipher, CipherError> {
    let key_file_error = |error: io::Error| CipherError::KeyFile {
        path: path.to_path_buf(),
        error,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path);
            return Cipher::from_base64(&text);
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(key_file_error(error)),
    }
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    match create_new(path, Cipher::key_file_contents(&key).as_bytes()) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new encryption key file");
            Ok(Cipher::from_key_bytes(&key))
        }
        // Someone else created it first: theirs is the key.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(key_file_error)?;
            Cipher::from_base64(&text)
        }
        Err(error) => Err(key_file_error(error)),
    }
}

/// Reads the key in an existing file, refusing a file that its group or others may read.
pub(crate) fn load_private(path: &Path) -> Result<Cipher, CipherError> {
    let metadata = fs::metadata(path).map_err(|error| CipherError::KeyFile {
        path: path.to_path_buf(),
        error,
    })?;
    if let Some(mode) = shared_mode(&metadata) {
        return Err(CipherError::KeyFileShared {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(|error| CipherError::KeyFile {
        path: path.to_path_buf(),
        error,
    })?;
    Cipher::from_base64(&text)
}

/// The file's permission bits when its group or others may read, write or run it.
fn shared_mode(metadata: &fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

/// A key file others can read is worth a warning (it is still used: sandbox mode must start).
fn warn_if_shared(path: &Path) {
    if let Ok(metadata) = fs::metadata(path)
        && shared_mode(&metadata).is_some()
    {
        tracing::warn!(path = %path.display(), "the encryption key file is readable by others; chmod 600 it");
    }
}

/// Writes `contents` to a private temporary file next to `path`, then links it into place; the link
/// fails with `AlreadyExists` if `path` appeared meanwhile.
fn create_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let temporary = std::path::PathBuf::from(temporary);
    let result = write_private(&temporary, contents).and_then(|()| fs::hard_link(&temporary, path));
    // The temporary name goes whether or not the link worked.
    let _ = fs::remove_file(&temporary);
    result
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::super::Slot;
    use super::*;

    const ROW_A: Slot<'static> = Slot {
        table: "bank_links",
        column: "access_token",
        row_id: b"row-a",
    };

    #[test]
    fn a_missing_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/funding.key");
        let created = Cipher::load_or_create(&path).unwrap();
        let sealed = created.seal(ROW_A, b"secret").unwrap();
        let loaded = Cipher::load_or_create(&path).unwrap();
        assert_eq!(loaded.open(ROW_A, &sealed).unwrap(), b"secret");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_key_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("funding.key");
        std::fs::write(&path, "hello").unwrap();
        assert!(matches!(
            Cipher::load_or_create(&path),
            Err(CipherError::InvalidKey)
        ));
    }

    #[test]
    fn a_private_key_file_is_read_and_a_missing_one_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("funding.key");
        let created = Cipher::load_or_create(&path).unwrap();
        let sealed = created.seal(ROW_A, b"secret").unwrap();
        let loaded = Cipher::load_private(&path).unwrap();
        assert_eq!(loaded.open(ROW_A, &sealed).unwrap(), b"secret");

        let missing = dir.path().join("missing.key");
        assert!(matches!(
            Cipher::load_private(&missing),
            Err(CipherError::KeyFile { .. })
        ));
        assert!(!missing.exists(), "outside sandbox mode nothing is created");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_its_group_or_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("funding.key");
        Cipher::load_or_create(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = Cipher::load_private(&path).unwrap_err();
            assert!(
                matches!(error, CipherError::KeyFileShared { mode: found, .. } if found == mode),
                "{mode:o}: {error}"
            );
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        Cipher::load_private(&path).expect("owner-only is accepted");
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("funding.key");
        let ciphers: Vec<Cipher> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Cipher::load_or_create(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = ciphers[0].seal(ROW_A, b"secret").unwrap();
        for cipher in &ciphers {
            assert_eq!(cipher.open(ROW_A, &sealed).unwrap(), b"secret");
        }
    }
}
