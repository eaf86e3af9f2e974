//! The store's error type.

use std::path::PathBuf;

/// Errors of the state store. Messages are lowercase and name the failed action.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation on the state directory failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The failed operation as a verb phrase before the path ("read key file").
        action: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A SQLite statement failed.
    #[error("cannot {action}: {source}")]
    Database {
        /// The store operation that ran the statement ("update user", "list batches").
        action: &'static str,
        /// SQLite's error (busy, constraint, I/O, ...).
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer ImapMigration with a schema this build cannot read.
    #[error(
        "the state database has schema version {found} but this ImapMigration supports up to version {supported}: update ImapMigration"
    )]
    SchemaTooNew {
        /// `meta.schema_version` of the database.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// An object with this name already exists (names compare case-insensitively).
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// What kind of object: `endpoint`, `batch` or `user`.
        kind: &'static str,
        /// The name (or email address) that is taken, as the caller gave it.
        name: String,
    },
    /// No object matched the identity (a name, an email address or a GUID).
    #[error("{kind} {identity} was not found")]
    NotFound {
        /// What kind of object: `endpoint`, `batch`, `user` or `folder`.
        kind: &'static str,
        /// The identity that matched nothing, as the caller gave it.
        identity: String,
    },
    /// The endpoint cannot be removed while batches refer to it.
    #[error("cannot remove endpoint {endpoint}: it is used by batch(es) {}", batches.join(", "))]
    InUse {
        /// The endpoint's name.
        endpoint: String,
        /// Names of the batches that use it as source or target.
        batches: Vec<String>,
    },
    /// The key file exists but is not usable.
    #[error("cannot use key file {path}: {reason}")]
    KeyFile {
        /// Where the key file is (`<home>/secret.key`).
        path: PathBuf,
        /// What is wrong with it (its length, or that it vanished while being created).
        reason: String,
    },
    /// Sealed bytes could not be opened: wrong key file, or the data is damaged.
    #[error("cannot unseal secret: {reason}")]
    Unseal {
        /// Which check failed (empty, truncated, unknown version, wrong key or damaged, not
        /// UTF-8); never any of the secret.
        reason: &'static str,
    },
    /// A value read from the database does not have the expected shape.
    #[error("cannot read {what} from the state database: {reason}")]
    Corrupt {
        /// Which value (`meta.schema_version`, `config value`).
        what: &'static str,
        /// What is wrong with it, with the key or value that failed.
        reason: String,
    },
    /// The store configuration (`IMAPMIGRATION_STORE` or `<home>/store.conf`) is not usable.
    #[error("invalid store setting in {setting}: {reason}")]
    StoreConfig {
        /// Which setting: the environment variable or the file.
        setting: String,
        /// What is wrong with it; never the password.
        reason: String,
    },
    /// A PostgreSQL operation failed (connecting, a statement, a lost connection).
    #[error("cannot {action} on the PostgreSQL store {location}: {source}")]
    Postgres {
        /// The store operation ("connect", "claim a user").
        action: &'static str,
        /// The connection string without its password and the setting it came from.
        location: String,
        /// The driver's error (it never includes the password).
        #[source]
        source: postgres::Error,
    },
    /// The shared PostgreSQL store was upgraded by a newer ImapMigration than this one.
    #[error(
        "the PostgreSQL store {location} has schema version {found} but this ImapMigration supports up to version {supported}: update ImapMigration on this host to the version the other workers run"
    )]
    PgSchemaTooNew {
        /// `meta.schema_version` of the database.
        found: i64,
        /// The newest PostgreSQL schema version this build knows.
        supported: i64,
        /// The connection string without its password and the setting it came from.
        location: String,
    },
    /// The key file does not open the secrets sealed in the shared store.
    #[error(
        "key file {} does not match the secrets sealed in the PostgreSQL store {location}: copy the deployment's secret.key to this host",
        path.display()
    )]
    KeyMismatch {
        /// `<home>/secret.key` of this host.
        path: PathBuf,
        /// The connection string without its password and the setting it came from.
        location: String,
    },
    /// A caller passed a value the store cannot accept.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Why it cannot be accepted.
        reason: String,
    },
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
