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
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("cannot {action}: {source}")]
    Net {
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// An external command (dovecot, doveadm, openssl) failed.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// Dovecot did not come up; `log_tail` is the end of its log file.
    #[error("dovecot did not start: {message}\n--- dovecot.log (tail) ---\n{log_tail}")]
    Start { message: String, log_tail: String },
    /// The caller asked for something that does not exist or makes no sense.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A protocol exchange (IMAP probe, HTTP) did not go as expected.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// JSON (state file, snapshot) could not be read or written.
    #[error("cannot {action}: {source}")]
    Json {
        action: String,
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
