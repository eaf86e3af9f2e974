//! Secrets in memory ([`SecretString`]) and at rest ([`Sealed`], [`Sealer`]).
//!
//! In memory, the store uses the workspace's one secret type, `secrecy`'s [`SecretString`]
//! (zeroized on drop, redacted in `Debug`, no `Display`, no `Serialize`), re-exported from the
//! crate root like the imap crate does, so a password unsealed here is the type the IMAP login
//! takes.
//!
//! Passwords and client secrets are sealed with XChaCha20-Poly1305 under a 32-byte key kept in
//! `<home>/secret.key` (mode 0600). The key protects the database file when it is copied
//! elsewhere (backups, support bundles); it does not protect against someone who can read the
//! whole state directory as the owning user.
//!
//! Sealed layout: `version (1 byte) || nonce (24 bytes) || ciphertext || tag (16 bytes)`. The
//! version byte and a fixed context string are bound as associated data so a future format can
//! be told apart and a blob cannot be reinterpreted under another version.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
pub use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::paths;

/// Length of the key in `secret.key`.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Current sealed-format version (first byte of every sealed blob).
pub const SEAL_VERSION: u8 = 1;
const AAD_CONTEXT: &[u8] = b"imapmigration secret v1";

/// Sealed bytes as stored in the database (`users.password`, `endpoints.admin_secret`).
/// `Debug` shows only the length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl Sealed {
    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Seals and unseals secrets with the key of one state directory.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// Loads `<home>/secret.key`, creating the directory and the key (32 random bytes, mode
    /// 0600) on first use.
    ///
    /// The key is created atomically: written to a private temporary file, flushed, then linked
    /// into place with a call that fails if the name exists, so two processes starting at once
    /// agree on one key and an existing key is never overwritten (losing it would make every
    /// stored password unreadable).
    pub fn open(home: &Path) -> Result<Sealer> {
        paths::ensure_dir(home)?;
        let path = paths::key_path(home);
        let key = match read_key(&path)? {
            Some(key) => key,
            None => create_key(&path)?,
        };
        Ok(Sealer::from_key(&key))
    }

    /// A sealer over a given key (tests, or keys kept elsewhere).
    pub fn from_key(key: &[u8; KEY_LEN]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Seals a secret under a fresh random nonce. The secret is registered with
    /// [`crate::redact`], as is every secret [`Sealer::unseal`] opens.
    pub fn seal(&self, secret: &SecretString) -> Sealed {
        crate::redact::remember(secret);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad();
        #[allow(
            clippy::expect_used,
            reason = "XChaCha20-Poly1305 encryption only fails for plaintexts over ~256 GiB"
        )]
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("secret too large to seal");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Sealed(out)
    }

    /// Opens sealed bytes. Fails on an unknown version, truncated data, a different key or
    /// any tampering.
    pub fn unseal(&self, sealed: &[u8]) -> Result<SecretString> {
        let (&version, rest) = sealed.split_first().ok_or(Error::Unseal {
            reason: "the sealed value is empty",
        })?;
        if version != SEAL_VERSION {
            return Err(Error::Unseal {
                reason: "unknown sealed format version",
            });
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Unseal {
                reason: "the sealed value is truncated",
            });
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = aad();
        // Zeroizing: the plaintext buffer is wiped however this returns; the secret gets a copy.
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::Unseal {
                reason: "wrong secret.key or damaged data",
            })?;
        let secret = std::str::from_utf8(&plain)
            .map(SecretString::from)
            .map_err(|_| Error::Unseal {
                reason: "the sealed value is not UTF-8",
            })?;
        crate::redact::remember(&secret);
        Ok(secret)
    }
}

fn aad() -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + AAD_CONTEXT.len());
    aad.push(SEAL_VERSION);
    aad.extend_from_slice(AAD_CONTEXT);
    aad
}

fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| Error::KeyFile {
                path: path.to_path_buf(),
                reason: format!("expected {KEY_LEN} bytes, found {}", bytes.len()),
            })?;
            warn_if_readable_by_others(path);
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            action: "read key file",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn create_key(path: &Path) -> Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let tmp = temp_name(path);
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            action,
            path: p,
            source,
        }
    };
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        // Unix: 0600. Windows: the file inherits the state directory's ACL (see
        // paths::ensure_dir); an explicit owner-only DACL would take the windows-acl crate.
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&tmp).map_err(io("create key file", &tmp))?;
        let written = file
            .write_all(&key)
            .and_then(|()| file.sync_all())
            .map_err(io("write key file", &tmp));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    // hard_link refuses to replace an existing name, unlike rename: whoever links first wins
    // and everybody else reads that key.
    let linked = std::fs::hard_link(&tmp, path);
    let result = match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| Error::KeyFile {
                path: path.to_path_buf(),
                reason: "the key file vanished while it was being created".into(),
            })
        }
        Err(_) if !path.exists() => {
            // File systems without hard links: rename is still atomic, only the
            // never-overwrite guarantee weakens to this existence check.
            std::fs::rename(&tmp, path).map_err(io("install key file", path))?;
            Ok(key)
        }
        Err(source) => Err(Error::Io {
            action: "install key file",
            path: path.to_path_buf(),
            source,
        }),
    };
    let _ = std::fs::remove_file(&tmp);
    if result.is_ok() {
        sync_parent(path);
        tracing::info!(path = %path.display(), "created a new secret.key");
    }
    result
}

fn temp_name(path: &Path) -> PathBuf {
    let mut suffix = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{}.tmp-{}-{suffix}", paths::KEY_FILE, std::process::id());
    path.with_file_name(name)
}

/// Makes the new directory entry durable; failure only weakens crash safety, so it is ignored.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "secret.key is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let s = SecretString::from("hunter2");
        assert_eq!(format!("{s:?}"), "SecretBox<str>([REDACTED])");
        assert_eq!(s.expose_secret(), "hunter2");
        // Compiles only while SecretString has no Display: with one, both impls would apply
        // and the call below would be ambiguous. `{s}` cannot print a secret by mistake.
        trait AmbiguousIfDisplay<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
        struct IsDisplay;
        impl<T: ?Sized + fmt::Display> AmbiguousIfDisplay<IsDisplay> for T {}
        <SecretString as AmbiguousIfDisplay<_>>::check();
        assert_eq!(format!("{:?}", Sealed(vec![1, 2, 3])), "Sealed(3 bytes)");
    }

    #[test]
    fn seal_roundtrip_and_no_plaintext() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sealer = Sealer::open(tmp.path()).expect("open");
        let secret = SecretString::from("Plaintext-Passw0rd-ÄÖÜ");
        let a = sealer.seal(&secret);
        let b = sealer.seal(&secret);
        assert_ne!(a, b, "fresh nonce per seal");
        assert_eq!(a.0[0], SEAL_VERSION);
        assert!(
            !a.0.windows(secret.expose_secret().len())
                .any(|w| w == secret.expose_secret().as_bytes())
        );
        assert_eq!(
            sealer.unseal(&a.0).expect("unseal").expose_secret(),
            secret.expose_secret()
        );
    }

    #[test]
    fn unseal_rejects_damage_and_other_keys() {
        let sealer = Sealer::from_key(&[7u8; KEY_LEN]);
        let other = Sealer::from_key(&[8u8; KEY_LEN]);
        let sealed = sealer.seal(&SecretString::from("x"));
        assert!(other.unseal(&sealed.0).is_err());
        let mut bad = sealed.0.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(sealer.unseal(&bad).is_err());
        let mut bad_version = sealed.0.clone();
        bad_version[0] = 99;
        assert!(sealer.unseal(&bad_version).is_err());
        assert!(sealer.unseal(&[]).is_err());
        assert!(sealer.unseal(&sealed.0[..10]).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = Sealer::open(tmp.path()).expect("open");
        let key1 = std::fs::read(paths::key_path(tmp.path())).expect("read key");
        assert_eq!(key1.len(), KEY_LEN);
        let b = Sealer::open(tmp.path()).expect("reopen");
        let key2 = std::fs::read(paths::key_path(tmp.path())).expect("read key");
        assert_eq!(key1, key2, "an existing key is never replaced");
        let sealed = a.seal(&SecretString::from("s"));
        assert_eq!(b.unseal(&sealed.0).expect("unseal").expose_secret(), "s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(paths::key_path(tmp.path()))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary key files are removed");
    }

    #[test]
    fn concurrent_first_use_agrees_on_one_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().to_path_buf();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let home = home.clone();
                std::thread::spawn(move || Sealer::open(&home).expect("open"))
            })
            .collect();
        let sealers: Vec<Sealer> = handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect();
        let sealed = sealers[0].seal(&SecretString::from("same"));
        for s in &sealers {
            assert_eq!(s.unseal(&sealed.0).expect("unseal").expose_secret(), "same");
        }
    }

    #[test]
    fn wrong_length_key_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(paths::key_path(tmp.path()), b"short").expect("write");
        let err = Sealer::open(tmp.path()).expect_err("must fail");
        assert!(matches!(err, Error::KeyFile { .. }), "{err}");
    }
}
