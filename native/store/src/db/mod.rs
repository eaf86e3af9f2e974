//! The SQLite store: opening, migrations and the transaction helpers every table module uses.

mod batches;
mod console;
mod endpoints;
mod misc;
mod reports;
mod schema;
pub(crate) mod sql;
mod sync;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::error::{DbContext, Error, Result};
use crate::paths;
use crate::pg::conn::{Failure, PgConn};
use crate::secret::{Sealed, Sealer, SecretString};
use crate::types::{Timestamp, format_timestamp, parse_timestamp};

pub use batches::{BatchFilter, BatchUpdate};
pub use console::{ConsoleListener, ConsoleTokenKind};
pub use endpoints::EndpointUpdate;
pub use misc::UserCounts;
pub use reports::{ReportFiles, ReportKind};
pub(crate) use sql::{Db, DbError, DbResult, Optional, Row};
pub use sync::SyncCounts;
pub use users::{AddedUsers, UserFilter, UserUpdate};

/// The schema version this build writes and understands (`meta.schema_version`).
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per SQLite connection (rusqlite's default is 16; the store has
/// more statements than that on its hot paths).
const STATEMENT_CACHE: usize = 128;

/// How often a PostgreSQL transaction that lost a serialization race is run again.
const PG_RETRIES: usize = 5;

/// Handle on `<home>/state.db` plus the sealer of `<home>/secret.key`.
///
/// Cheap to open (the schema check is one read when the database is current) and safe to use
/// from several processes at once: WAL lets readers proceed while one writer commits, and every
/// write here is a single short `BEGIN IMMEDIATE` transaction so writers queue on the lock up
/// front instead of failing midway with `SQLITE_BUSY` on lock upgrade.
pub struct Store {
    backend: Backend,
    sealer: Sealer,
    home: PathBuf,
    /// What opening took away from other users (see [`Store::tightened`]).
    tightened: Vec<PathBuf>,
}

/// Where the tables are.
enum Backend {
    /// `<home>/state.db`.
    Sqlite(Mutex<Connection>),
    /// A shared PostgreSQL database ([`crate::location`]).
    Postgres(Box<PgConn>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("home", &self.home).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the state directory, its key and the store it is configured
    /// for ([`crate::location`]): `state.db` (the default), brought up to [`SCHEMA_VERSION`],
    /// or a PostgreSQL database, brought up to [`crate::pg::PG_SCHEMA_VERSION`] and checked to
    /// open with this state directory's key ([`crate::pg::PgStore::open`]).
    ///
    /// Fails with [`Error::SchemaTooNew`] (or [`Error::PgSchemaTooNew`]) when a newer
    /// ImapMigration has upgraded the database, and with an error naming the setting when the
    /// configured PostgreSQL store is unreachable or refuses the login.
    pub fn open(home: &Path) -> Result<Store> {
        if let crate::location::StoreLocation::Postgres(pg) =
            crate::location::StoreLocation::resolve(home)?
        {
            let (conn, sealer) = crate::pg::PgStore::open(home, &pg)?.into_parts();
            let tightened = paths::secure_state_dir(home);
            return Ok(Store {
                backend: Backend::Postgres(Box::new(conn)),
                sealer,
                home: home.to_path_buf(),
                tightened,
            });
        }
        paths::ensure_dir(home)?;
        let sealer = Sealer::open(home)?;
        let path = paths::db_path(home);
        paths::create_private_file(&path)?;
        let tightened = paths::secure_state_dir(home);
        let mut conn = Connection::open(&path).ctx("open the state database")?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(Store {
            backend: Backend::Sqlite(Mutex::new(conn)),
            sealer,
            home: home.to_path_buf(),
            tightened,
        })
    }

    /// Whether this store is a shared PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// On a PostgreSQL store, the registered workers with the users each holds
    /// ([`crate::pg::PgWorker`]), alive while the heartbeat is younger than `lease_secs`;
    /// `None` on SQLite, which has no leases.
    pub fn pg_workers(&self, lease_secs: i64) -> Result<Option<Vec<crate::pg::PgWorker>>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pg) => crate::pg::workers_on(pg, lease_secs).map(Some),
        }
    }

    /// The paths of the state directory that other users could read and that opening made
    /// owner-only ([`paths::secure_state_dir`]); empty when all was in order. The caller warns
    /// the admin with it.
    pub fn tightened(&self) -> &[PathBuf] {
        &self.tightened
    }

    /// The state directory this store lives in.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The sealer over this state directory's key.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Seals a secret for storage.
    pub fn seal(&self, secret: &SecretString) -> Sealed {
        self.sealer.seal(secret)
    }

    /// Opens a sealed value read from this store.
    pub fn unseal(&self, sealed: &Sealed) -> Result<SecretString> {
        self.sealer.unseal(sealed.as_bytes())
    }

    /// The schema version recorded in the database (of its backend's schema: SQLite's
    /// [`SCHEMA_VERSION`] or PostgreSQL's [`crate::pg::PG_SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(_) => {
                let conn = self.conn();
                read_schema_version(&conn)
            }
            Backend::Postgres(_) => self
                .meta("schema_version")?
                .unwrap_or_default()
                .trim()
                .parse()
                .map_err(|_| Error::Corrupt {
                    what: "meta.schema_version",
                    reason: "not an integer".into(),
                }),
        }
    }

    /// A `meta` value (`schema_version`, `app_version`).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read("read meta", |db| {
            db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .ctx("read meta")
        })
    }

    /// Locks the SQLite connection. A panic while the lock was held cannot leave a
    /// transaction open (rusqlite rolls back when the `Transaction` drops during unwinding), so
    /// a poisoned lock is safe to reuse.
    ///
    /// # Panics
    /// On a PostgreSQL store: only SQLite-specific code (and its tests) calls this.
    #[allow(clippy::panic)]
    fn conn(&self) -> MutexGuard<'_, Connection> {
        match &self.backend {
            Backend::Sqlite(conn) => conn.lock().unwrap_or_else(|p| p.into_inner()),
            Backend::Postgres(_) => panic!("the SQLite connection of a PostgreSQL store"),
        }
    }

    /// Runs the reads of `f` on one consistent view: the SQLite connection (under its lock),
    /// or one PostgreSQL `REPEATABLE READ READ ONLY` transaction.
    fn read<T: Send>(
        &self,
        action: &'static str,
        f: impl FnOnce(&Db<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(_) => {
                let conn = self.conn();
                f(&Db::Sqlite(&conn))
            }
            Backend::Postgres(pg) => {
                let location = pg.location().to_string();
                pg.with_session(action, |client, statements| {
                    let tx = client
                        .build_transaction()
                        .isolation_level(postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()?;
                    let db = Db::Pg(sql::PgTx {
                        tx: std::cell::RefCell::new(tx),
                        statements: std::cell::RefCell::new(statements),
                    });
                    let out = f(&db).map_err(|e| Failure::Store(sql::pg_location(e, &location)))?;
                    if let Db::Pg(tx) = db {
                        tx.tx.into_inner().commit()?;
                    }
                    Ok(out)
                })
            }
        }
    }

    /// Runs `f` in one transaction and commits it; any error rolls back. On SQLite that is
    /// `BEGIN IMMEDIATE` (writers queue up front); on PostgreSQL a `REPEATABLE READ`
    /// transaction, run again (up to [`PG_RETRIES`] times) when it lost a race with another
    /// writer, so a read-modify-write never overwrites a change it did not see.
    fn write<T: Send>(
        &self,
        action: &'static str,
        mut f: impl FnMut(&Db<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(_) => {
                let mut conn = self.conn();
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .ctx(action)?;
                let out = f(&Db::Sqlite(&tx))?;
                tx.commit().ctx(action)?;
                Ok(out)
            }
            Backend::Postgres(pg) => {
                let location = pg.location().to_string();
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let out = pg.with_session(action, |client, statements| {
                        let tx = client
                            .build_transaction()
                            .isolation_level(postgres::IsolationLevel::RepeatableRead)
                            .start()?;
                        let db = Db::Pg(sql::PgTx {
                            tx: std::cell::RefCell::new(tx),
                            statements: std::cell::RefCell::new(statements),
                        });
                        let out =
                            f(&db).map_err(|e| Failure::Store(sql::pg_location(e, &location)))?;
                        if let Db::Pg(tx) = db {
                            tx.tx.into_inner().commit()?;
                        }
                        Ok(out)
                    });
                    match out {
                        Err(e) if attempt < PG_RETRIES && is_serialization_failure(&e) => {
                            tracing::debug!(action, attempt, "PostgreSQL transaction retried");
                        }
                        other => return other,
                    }
                }
            }
        }
    }
}

/// Whether PostgreSQL refused a transaction because a concurrent one changed what it read
/// (`40001`) or the two deadlocked (`40P01`): running it again is the remedy.
fn is_serialization_failure(e: &Error) -> bool {
    use postgres::error::SqlState;
    match e {
        Error::Postgres { source, .. } => matches!(
            source.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        ),
        _ => false,
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("set busy timeout on the state database")?;
    let mode = switch_to_wal(conn).ctx("switch the state database to WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            mode,
            "the state database did not switch to WAL (network file system?)"
        );
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        .ctx("configure the state database")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// `PRAGMA journal_mode=WAL`, tried again while another connection holds the lock. SQLite
/// answers SQLITE_BUSY at once, without the busy handler, when two connections of a new
/// database both hold a shared lock and want to change its journal mode (waiting could
/// deadlock), so several processes opening one state directory for the first time at once
/// would otherwise fail here. Bounded by [`BUSY_TIMEOUT`].
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut wait = std::time::Duration::from_millis(5);
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() + wait < deadline =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn read_schema_version(conn: &Connection) -> Result<i64> {
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |r| r.get(0),
        )
        .ctx("read the schema version")?;
    if !has_meta {
        return Ok(0);
    }
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .ctx("read the schema version")?;
    match value {
        None => Ok(0),
        Some(v) => v.trim().parse().map_err(|_| Error::Corrupt {
            what: "meta.schema_version",
            reason: format!("not an integer: {v:?}"),
        }),
    }
}

fn check_version(found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the missing migrations and records `schema_version` and `app_version`.
fn migrate(conn: &mut Connection) -> Result<()> {
    let app_version = env!("CARGO_PKG_VERSION");
    // Fast path without the write lock: the usual open of a current database.
    let found = read_schema_version(conn)?;
    check_version(found)?;
    if found == SCHEMA_VERSION {
        let recorded: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'app_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("read the app version")?;
        if recorded.as_deref() == Some(app_version) {
            return Ok(());
        }
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("migrate the state database")?;
    // Another process may have migrated between the check above and taking the lock.
    let found = read_schema_version(&tx)?;
    check_version(found)?;
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(from = i, to = i + 1, "migrating the state database");
        tx.execute_batch(sql).ctx("migrate the state database")?;
    }
    let upsert = "INSERT INTO meta (key, value) VALUES (?1, ?2)
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    tx.execute(upsert, ["schema_version", &SCHEMA_VERSION.to_string()])
        .ctx("record the schema version")?;
    tx.execute(upsert, ["app_version", app_version])
        .ctx("record the app version")?;
    tx.commit().ctx("migrate the state database")?;
    Ok(())
}

// ---- conversions shared by the table modules --------------------------------------------

pub(crate) fn ts(t: &Timestamp) -> String {
    format_timestamp(t)
}

pub(crate) fn opt_ts(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(format_timestamp)
}

pub(crate) fn uid(id: &Uuid) -> String {
    id.to_string()
}

fn conversion(i: usize, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, e.into())
}

pub(crate) fn get_uuid(row: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    let s: String = row.get(i)?;
    Uuid::parse_str(&s).map_err(|e| conversion(i, e))
}

pub(crate) fn get_opt_uuid(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    let s: Option<String> = row.get(i)?;
    s.map(|s| Uuid::parse_str(&s).map_err(|e| conversion(i, e)))
        .transpose()
}

pub(crate) fn get_ts(row: &Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    let s: String = row.get(i)?;
    parse_timestamp(&s).ok_or_else(|| conversion(i, format!("not an RFC 3339 timestamp: {s:?}")))
}

pub(crate) fn get_opt_ts(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<String> = row.get(i)?;
    s.map(|s| {
        parse_timestamp(&s)
            .ok_or_else(|| conversion(i, format!("not an RFC 3339 timestamp: {s:?}")))
    })
    .transpose()
}

pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let s: String = row.get(i)?;
    serde_json::from_str(&s).map_err(|e| conversion(i, e))
}

pub(crate) fn get_sealed(row: &Row<'_>, i: usize) -> rusqlite::Result<Sealed> {
    Ok(Sealed(row.get(i)?))
}

pub(crate) fn get_opt_sealed(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Sealed>> {
    Ok(row.get::<Option<Vec<u8>>>(i)?.map(Sealed))
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    // Invariant: the values serialized here are Vec<String>/Vec<ValidationWarning>/Value,
    // whose serialization cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The SQL literals of status names for an `IN (...)` list built from a lifecycle rule
/// (`'Queued', 'Starting'`). The names are our enums' fixed ASCII spellings, so quoting them
/// cannot break out of the literal.
pub(crate) fn sql_in(names: impl IntoIterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = names
        .into_iter()
        .map(|name| {
            debug_assert!(name.chars().all(|c| c.is_ascii_alphanumeric()));
            format!("'{name}'")
        })
        .collect();
    quoted.join(", ")
}

/// Parses a GUID identity (plain, hyphenated, braced or URN form) into the stored form.
pub(crate) fn identity_guid(identity: &str) -> Option<String> {
    Uuid::parse_str(identity.trim()).ok().map(|u| u.to_string())
}

/// Maps a UNIQUE constraint violation to [`Error::AlreadyExists`].
pub(crate) fn unique_violation(
    e: impl Into<DbError>,
    kind: &'static str,
    name: &str,
    action: &'static str,
) -> Error {
    let e = e.into();
    if e.is_unique_violation() {
        return Error::AlreadyExists {
            kind,
            name: name.to_owned(),
        };
    }
    e.into_error(action)
}

#[cfg(test)]
mod tests;

/// Overwrites `dst` when an update carries a value.
pub(crate) fn set<T>(dst: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *dst = v;
    }
}
