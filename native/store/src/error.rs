//! The store's error type.

use std::path::PathBuf;

/// Errors of the state store. Messages are lowercase and name the failed action.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation on the state directory failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A SQLite statement failed.
    #[error("cannot {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer ImapMigration with a schema this build cannot read.
    #[error(
        "the state database has schema version {found} but this ImapMigration supports up to version {supported}: update ImapMigration"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// An object with this name already exists (names compare case-insensitively).
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// No object matched the identity (a name, an email address or a GUID).
    #[error("{kind} {identity} was not found")]
    NotFound {
        kind: &'static str,
        identity: String,
    },
    /// The endpoint cannot be removed while batches refer to it.
    #[error("cannot remove endpoint {endpoint}: it is used by batch(es) {}", batches.join(", "))]
    InUse {
        endpoint: String,
        batches: Vec<String>,
    },
    /// The key file exists but is not usable.
    #[error("cannot use key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    /// Sealed bytes could not be opened: wrong key file, or the data is damaged.
    #[error("cannot unseal secret: {reason}")]
    Unseal { reason: &'static str },
    /// A value read from the database does not have the expected shape.
    #[error("cannot read {what} from the state database: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A caller passed a value the store cannot accept.
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the failed action to a SQLite error.
pub(crate) trait DbContext<T> {
    fn ctx(self, action: &'static str) -> Result<T>;
}

impl<T> DbContext<T> for rusqlite::Result<T> {
    fn ctx(self, action: &'static str) -> Result<T> {
        self.map_err(|source| Error::Database { action, source })
    }
}
