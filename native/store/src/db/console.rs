//! The web console's state: one-time login tokens, sessions and the address the console is
//! served on. Only SHA-256 digests of tokens and session ids are kept; the clear values exist
//! in the admin's URL and cookie alone.

use rusqlite::params;

use super::{Optional, Store, get_ts, ts};
use crate::error::{DbContext, Result};
use crate::types::Timestamp;

/// Schema version 2: the console's tables.
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE console_tokens (
  digest TEXT PRIMARY KEY,            -- hex SHA-256 of the token or session id
  kind TEXT NOT NULL,                 -- login (one-time link) | session (cookie)
  created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE console_listener (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  address TEXT NOT NULL,              -- host:port as bound
  tls INTEGER NOT NULL, pid INTEGER NOT NULL, bound_at TEXT NOT NULL);
"#;

/// What a console token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleTokenKind {
    /// A one-time login token of `Open-MigrationConsole`'s URL: taken by its first use.
    Login,
    /// A session id of a logged-in browser (the session cookie).
    Session,
}

impl ConsoleTokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Session => "session",
        }
    }
}

/// The address the console is served on, as the serving worker recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleListener {
    /// `host:port` as bound (the real port when port 0 was configured).
    pub address: String,
    /// Whether the console speaks HTTPS.
    pub tls: bool,
    /// The serving process.
    pub pid: u32,
    /// When it was bound.
    pub bound_at: Timestamp,
}

impl Store {
    /// Records a token digest that is valid until `expires_at`; expired tokens are purged.
    pub fn console_token_insert(
        &self,
        digest: &str,
        kind: ConsoleTokenKind,
        now: &Timestamp,
        expires_at: &Timestamp,
    ) -> Result<()> {
        self.write("record console token", |tx| {
            tx.execute(
                "DELETE FROM console_tokens WHERE expires_at <= ?1",
                [ts(now)],
            )
            .ctx("purge console tokens")?;
            tx.execute(
                "INSERT INTO console_tokens (digest, kind, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![digest, kind.as_str(), ts(now), ts(expires_at)],
            )
            .ctx("record console token")?;
            Ok(())
        })
    }

    /// Takes a one-time token: deletes it and returns whether it existed unexpired.
    pub fn console_token_take(
        &self,
        digest: &str,
        kind: ConsoleTokenKind,
        now: &Timestamp,
    ) -> Result<bool> {
        self.write("take console token", |tx| {
            let n = tx
                .execute(
                    "DELETE FROM console_tokens WHERE digest = ?1 AND kind = ?2 AND expires_at > ?3",
                    params![digest, kind.as_str(), ts(now)],
                )
                .ctx("take console token")?;
            Ok(n > 0)
        })
    }

    /// The expiry of an unexpired token, without using it up.
    pub fn console_token_expiry(
        &self,
        digest: &str,
        kind: ConsoleTokenKind,
        now: &Timestamp,
    ) -> Result<Option<Timestamp>> {
        self.read("read", |conn| {
            conn.query_row(
                "SELECT expires_at FROM console_tokens \
             WHERE digest = ?1 AND kind = ?2 AND expires_at > ?3",
                params![digest, kind.as_str(), ts(now)],
                |r| get_ts(r, 0),
            )
            .optional()
            .ctx("read console token")
        })
    }

    /// Deletes a token (a session at logout); returns whether it existed.
    pub fn console_token_delete(&self, digest: &str) -> Result<bool> {
        self.write("delete console token", |tx| {
            Ok(tx
                .execute("DELETE FROM console_tokens WHERE digest = ?1", [digest])
                .ctx("delete console token")?
                > 0)
        })
    }

    /// Deletes every token of `kind` (all sessions when the admin password changes).
    pub fn console_tokens_clear(&self, kind: ConsoleTokenKind) -> Result<usize> {
        self.write("clear console tokens", |tx| {
            tx.execute(
                "DELETE FROM console_tokens WHERE kind = ?1",
                [kind.as_str()],
            )
            .ctx("clear console tokens")
        })
    }

    /// Records (`Some`) or clears (`None`) the address the console is served on.
    pub fn console_listener_set(&self, listener: Option<&ConsoleListener>) -> Result<()> {
        self.write("record console address", |tx| {
            tx.execute("DELETE FROM console_listener", params![])
                .ctx("clear console address")?;
            if let Some(l) = listener {
                tx.execute(
                    "INSERT INTO console_listener (id, address, tls, pid, bound_at) \
                     VALUES (1, ?1, ?2, ?3, ?4)",
                    params![l.address, l.tls, l.pid, ts(&l.bound_at)],
                )
                .ctx("record console address")?;
            }
            Ok(())
        })
    }

    /// The address the console was last recorded as served on.
    pub fn console_listener_get(&self) -> Result<Option<ConsoleListener>> {
        self.read("read", |conn| {
            conn.query_row(
                "SELECT address, tls, pid, bound_at FROM console_listener WHERE id = 1",
                params![],
                |r| {
                    Ok(ConsoleListener {
                        address: r.get(0)?,
                        tls: r.get(1)?,
                        pid: r.get(2)?,
                        bound_at: get_ts(r, 3)?,
                    })
                },
            )
            .optional()
            .ctx("read console address")
        })
    }
}
