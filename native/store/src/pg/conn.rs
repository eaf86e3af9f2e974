//! One PostgreSQL connection, used on a thread of its own.
//!
//! The `postgres` crate's blocking client runs a private tokio runtime and panics when it is
//! used from a thread that is already inside one, and the engine calls the store from async
//! code. So every call runs its closure on a short-lived scoped thread that borrows the
//! connection: the caller's thread only waits for it, which is safe anywhere, and the closure
//! may borrow the caller's data. A connection that was lost (the database restarted) is opened
//! again by the next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::error::{Error, Result};
use crate::location::PgLocation;

/// How long connecting may take before the store reports the database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A statement prepared on the current connection, with the store's parameter numbering.
pub(crate) struct PgStatement {
    pub(crate) statement: postgres::Statement,
    /// For each `$n` of the statement (in order), the index of the caller's parameter.
    pub(crate) params: Vec<usize>,
}

/// The connection and the statements prepared on it, keyed by the store's SQL text.
pub(crate) struct PgSession {
    client: Option<Client>,
    statements: HashMap<String, Arc<PgStatement>>,
}

pub(crate) struct PgConn {
    session: Mutex<PgSession>,
    config: postgres::Config,
    location: PgLocation,
}

impl PgConn {
    /// Connects (so a wrong or unreachable database fails here).
    pub(crate) fn open(location: &PgLocation) -> Result<PgConn> {
        let mut config: postgres::Config =
            location.url().parse().map_err(|_| Error::StoreConfig {
                setting: location.setting.to_string(),
                reason: "the connection string cannot be parsed".into(),
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("imapmigration");
        let conn = PgConn {
            session: Mutex::new(PgSession {
                client: None,
                statements: HashMap::new(),
            }),
            config,
            location: location.clone(),
        };
        conn.call("connect", |c| c.simple_query("SELECT 1").map(|_| ()))?;
        Ok(conn)
    }

    pub(crate) fn location(&self) -> &PgLocation {
        &self.location
    }

    /// Runs `f` with the connection and waits for the result.
    pub(crate) fn call<T: Send>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error> + Send,
    ) -> Result<T> {
        self.try_call(action, move |c| f(c).map_err(Failure::Pg))
    }

    /// [`Self::call`] for closures that may fail with a store error of their own.
    pub(crate) fn try_call<T: Send>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, Failure> + Send,
    ) -> Result<T> {
        self.with_session(action, move |c, _| f(c))
    }

    /// Runs `f` with the connection (opened again first if it was lost) and the statements
    /// prepared on it, on a thread of its own: the blocking client must not run inside the
    /// caller's async runtime. Calls are serialised.
    pub(crate) fn with_session<T: Send>(
        &self,
        action: &'static str,
        f: impl FnOnce(
            &mut Client,
            &mut HashMap<String, Arc<PgStatement>>,
        ) -> std::result::Result<T, Failure>
        + Send,
    ) -> Result<T> {
        let mut guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let session = &mut *guard;
        let config = &self.config;
        let out = std::thread::scope(|scope| {
            let job = std::thread::Builder::new()
                .name("imapmigration-pg".into())
                .spawn_scoped(scope, move || {
                    if session.client.as_ref().is_some_and(Client::is_closed) {
                        session.client = None;
                    }
                    if session.client.is_none() {
                        session.statements.clear();
                        session.client = Some(config.connect(NoTls)?);
                    }
                    match session.client.as_mut() {
                        Some(c) => f(c, &mut session.statements),
                        None => Err(Failure::Lost),
                    }
                });
            match job {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err(_) => Err(Failure::Lost),
            }
        });
        out.map_err(|f| self.error(action, f))
    }

    /// A call's failure as a store error naming the location.
    pub(crate) fn error(&self, action: &'static str, f: Failure) -> Error {
        match f {
            Failure::Pg(source) => Error::Postgres {
                action,
                location: self.location.to_string(),
                source,
            },
            Failure::Store(e) => e,
            Failure::Lost => Error::StoreConfig {
                setting: self.location.setting.to_string(),
                reason: format!("the PostgreSQL connection thread could not run ({action})"),
            },
        }
    }
}

/// Why a call failed.
pub(crate) enum Failure {
    Pg(postgres::Error),
    Store(Error),
    Lost,
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Pg(e)
    }
}
