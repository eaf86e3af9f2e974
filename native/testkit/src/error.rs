//! The one error type of the testkit.

use std::path::PathBuf;

/// Result alias for the testkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while running or inspecting a test server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system or socket operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The failed operation as a verb phrase before the path ("create directory").
        action: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("cannot {action}: {source}")]
    Net {
        /// The failed operation as a verb phrase ("bind a proxy port", "connect to 127.0.0.1:143").
        action: String,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// An external command (dovecot, doveadm, openssl) failed.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command {
        /// The program and its arguments as they would be typed.
        command: String,
        /// The exit status, or `not started` when the program could not be run.
        status: String,
        /// Its standard error, trimmed; the spawn error when it did not start.
        stderr: String,
    },
    /// Dovecot did not come up; `log_tail` is the end of its log file.
    #[error("dovecot did not start: {message}\n--- dovecot.log (tail) ---\n{log_tail}")]
    Start {
        /// What went wrong: the binary missing or failing, the master exiting, or the plain
        /// port not accepting within 10 s.
        message: String,
        /// The last 30 lines of dovecot.log; empty when Dovecot never ran.
        log_tail: String,
    },
    /// Cyrus did not come up; `log_tail` is the end of master's output.
    #[error("cyrus did not start: {message}\n--- master.log (tail) ---\n{log_tail}")]
    CyrusStart {
        /// What went wrong: a program missing, master exiting, or the port not accepting.
        message: String,
        /// The last 30 lines of master's output (Cyrus itself logs to syslog).
        log_tail: String,
    },
    /// PostgreSQL did not come up; `log_tail` is the end of its server log.
    #[error("postgresql did not start: {message}\n--- postgres.log (tail) ---\n{log_tail}")]
    PostgresStart {
        /// What went wrong: a program missing, initdb or pg_ctl failing, or the port not
        /// accepting.
        message: String,
        /// The last 30 lines of postgres.log; empty when the server never ran.
        log_tail: String,
    },
    /// The caller asked for something that does not exist or makes no sense.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A protocol exchange (IMAP probe, HTTP) did not go as expected.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// JSON (state file, snapshot) could not be read or written.
    #[error("cannot {action}: {source}")]
    Json {
        /// The failed operation as a verb phrase ("parse <path>").
        action: String,
        /// serde_json's error, with line and column when parsing.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn net(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let action = action.into();
        move |source| Error::Net { action, source }
    }
}
