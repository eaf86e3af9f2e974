//! The engine's error type: what went wrong copying one user, with the side and the action, and
//! the stable ABI code ([`crate::ErrorCode`]) each maps to.

use std::fmt;
use std::path::PathBuf;

use imapmigration_imap as imap;
use imapmigration_store as store;

use crate::ErrorCode;

/// Which server an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server mail is copied from.
    Source,
    /// The server mail is copied to (never a Maildir target: its errors are `Maildir`).
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Errors of [`super::sync_user`] and the parsers the cmdlets call ahead of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server rejected the credentials (or the OAuth2 token could not be obtained).
    #[error("cannot log in to the {side} server: {source}")]
    Auth {
        /// The server that refused the login.
        side: Side,
        /// The IMAP layer's error: the server's refusal (its text and response code) or why
        /// no OAuth2 token was obtained.
        #[source]
        source: imap::Error,
    },
    /// Connecting (TCP, TLS) to a server failed.
    #[error("cannot connect to the {side} server: {source}")]
    Connect {
        /// The server that could not be reached.
        side: Side,
        /// What failed on the way to the login: the TCP connection, the TLS handshake, a
        /// timeout, the greeting, or a capability the session needs (STARTTLS).
        #[source]
        source: imap::Error,
    },
    /// An IMAP command failed.
    #[error("cannot {action} on the {side} server: {source}")]
    Imap {
        /// The server the command was sent to.
        side: Side,
        /// What the engine was doing, as a verb phrase for "cannot ..." (`examine folder`,
        /// `store flags`).
        action: String,
        /// The IMAP layer's error, with the server's words when it refused (`NO`, `BAD`, `BYE`).
        #[source]
        source: imap::Error,
    },
    /// A server completed a command with OK but did not answer what was asked: a UID FETCH
    /// that left out requested messages, sent others or sent one twice, a LIST naming no
    /// folder. Nothing is planned or reported on such an answer; like a dropped connection,
    /// it is tried again on a new one, then reported.
    #[error("the {side} server answered {command} wrongly: {detail}")]
    Protocol {
        /// The server that answered.
        side: Side,
        /// The command (`UID FETCH BODY.PEEK[]`, `LIST`).
        command: String,
        /// What was wrong with the answer, with the UIDs concerned.
        detail: String,
    },
    /// A folder pass ended with messages the source listed for it neither confirmed on the
    /// target nor recorded as skipped items: the pass is not complete, whatever else held.
    #[error(
        "{missing} of the {listed} messages listed for the pass are neither on the target nor skipped (uids {uids})"
    )]
    Incomplete {
        /// Messages the source listed for the pass (to copy or to skip).
        listed: u64,
        /// Those without a confirmed copy or a skipped item.
        missing: u64,
        /// The first few missing source UIDs, comma-separated.
        uids: String,
    },
    /// The state store failed.
    #[error("cannot {action}: {source}")]
    Store {
        /// What the engine was reading or recording (`record folder`, `commit messages`).
        action: String,
        /// The store's error; a database error is worth retrying (see [`Error::is_retryable`]).
        #[source]
        source: store::Error,
    },
    /// Writing the Maildir target failed.
    #[error("cannot {action} {path}: {source}")]
    Maildir {
        /// What was being done, as a verb phrase before the path (`deliver into`, `list`).
        action: String,
        /// The folder's directory, or the user's Maildir root.
        path: PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// Copying one folder failed; the cause is inside.
    #[error("cannot copy folder {folder}: {source}")]
    Folder {
        /// The source folder, as reports show it: its path below the mailbox root, joined
        /// with `/`.
        folder: String,
        /// What went wrong in it; never itself a `Folder`, nor an error that ends the whole
        /// user (authentication, limits, cancellation), which stay unwrapped.
        #[source]
        source: Box<Error>,
    },
    /// More items were refused by the target than `-BadItemLimit` allows.
    #[error("the target refused {count} items, more than the bad item limit of {limit}")]
    BadItemLimitExceeded {
        /// The batch's `-BadItemLimit`.
        limit: u64,
        /// Items the target refused in this pass, over all folders, when the limit was passed.
        count: u64,
    },
    /// More items were over the size limit than `-LargeItemLimit` allows.
    #[error(
        "{count} items are larger than the maximum message size, more than the large item limit of {limit}"
    )]
    LargeItemLimitExceeded {
        /// The batch's `-LargeItemLimit`.
        limit: u64,
        /// Items over `-MaxMessageSize` in this pass, over all folders, when the limit was
        /// passed.
        count: u64,
    },
    /// The cancellation token fired; the state is consistent and a later pass resumes.
    #[error("the synchronization was cancelled")]
    Cancelled,
    /// `-ContentFilter` cannot be read.
    #[error("invalid content filter: {0}")]
    InvalidFilter(String),
    /// `-IncludeFolders` / `-ExcludeFolders` cannot be read.
    #[error("invalid folder selection: {0}")]
    InvalidFolderSelection(String),
    /// A job argument is unusable (not a user id, no credentials, ...).
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// An invariant broke (a task panicked, a channel closed early).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn imap(side: Side, action: impl Into<String>, source: imap::Error) -> Self {
        Error::Imap {
            side,
            action: action.into(),
            source,
        }
    }

    pub(crate) fn store(action: impl Into<String>, source: store::Error) -> Self {
        Error::Store {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn maildir(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Maildir {
            action: action.into(),
            path: path.into(),
            source,
        }
    }

    /// Classifies a failed login/connect of one side.
    pub(crate) fn connecting(side: Side, source: imap::Error) -> Self {
        match source {
            imap::Error::Auth { .. } | imap::Error::OAuth { .. } => Error::Auth { side, source },
            other => Error::Connect {
                side,
                source: other,
            },
        }
    }

    pub(crate) fn in_folder(self, folder: &str) -> Self {
        match self {
            e @ (Error::Cancelled
            | Error::Auth { .. }
            | Error::Folder { .. }
            | Error::BadItemLimitExceeded { .. }
            | Error::LargeItemLimitExceeded { .. }) => e,
            other => Error::Folder {
                folder: folder.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The innermost IMAP error, if any.
    pub fn imap_source(&self) -> Option<&imap::Error> {
        match self {
            Error::Auth { source, .. }
            | Error::Connect { source, .. }
            | Error::Imap { source, .. } => Some(source),
            Error::Folder { source, .. } => source.imap_source(),
            _ => None,
        }
    }

    /// The side an error concerns, when it concerns a server.
    pub fn side(&self) -> Option<Side> {
        match self {
            Error::Auth { side, .. }
            | Error::Connect { side, .. }
            | Error::Imap { side, .. }
            | Error::Protocol { side, .. } => Some(*side),
            Error::Folder { source, .. } => source.side(),
            Error::BadItemLimitExceeded { .. } => Some(Side::Target),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed without anyone changing anything: dropped
    /// connections, timeouts, servers asking us to back off. Authentication failures, refusals
    /// and limits are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { source, .. } | Error::Imap { source, .. } => source.is_retryable(),
            Error::Folder { source, .. } => source.is_retryable(),
            Error::Store { source, .. } => matches!(source, store::Error::Database { .. }),
            // A new connection (and a fresh listing) may well get a complete answer.
            Error::Protocol { .. } | Error::Incomplete { .. } => true,
            _ => false,
        }
    }

    /// How long the server asked us to wait before trying again, if it said so (Exchange
    /// Online's "Suggested Backoff Time").
    pub fn throttle_hint(&self) -> Option<std::time::Duration> {
        self.imap_source().and_then(imap::Error::throttle_hint)
    }

    /// The stable ABI code this error reports (a user's `ErrorType`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Auth { .. } => ErrorCode::AuthenticationFailed,
            Error::Connect { source, .. } | Error::Imap { source, .. } => imap_code(source),
            Error::Folder { source, .. } => source.code(),
            Error::Protocol { .. } | Error::Incomplete { .. } => ErrorCode::Protocol,
            Error::Store { .. } | Error::Maildir { .. } | Error::Internal(_) => ErrorCode::Internal,
            // The target refused the items: the server's refusal, counted.
            Error::BadItemLimitExceeded { .. } => ErrorCode::ServerRefused,
            Error::LargeItemLimitExceeded { .. } => ErrorCode::Unsupported,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::InvalidFilter(_) | Error::InvalidFolderSelection(_) | Error::InvalidJob(_) => {
                ErrorCode::InvalidArgument
            }
        }
    }
}

/// The one mapping of an IMAP failure to an ABI code, for a migration pass and for the api's
/// reachability check alike (docs/design.md, "The C ABI").
///
/// A `BYE` is the server closing the session on purpose (shutting down, too many connections,
/// our address refused): it answered, so it is `ServerRefused`, not `EndpointUnreachable`,
/// though a pass still retries it ([`imap::Error::is_retryable`] decides that, not the code).
/// A missing capability (STARTTLS, a SASL mechanism) is `Unsupported`; refusing to send a
/// password in clear text is `TlsError`, since TLS is what the endpoint lacks.
pub fn imap_code(e: &imap::Error) -> ErrorCode {
    match e {
        imap::Error::Auth { .. } | imap::Error::OAuth { .. } => ErrorCode::AuthenticationFailed,
        imap::Error::Connect { .. } | imap::Error::Timeout { .. } | imap::Error::Io { .. } => {
            ErrorCode::EndpointUnreachable
        }
        imap::Error::Tls { .. } | imap::Error::Insecure { .. } => ErrorCode::TlsError,
        imap::Error::No { .. } | imap::Error::Bad { .. } | imap::Error::Bye { .. } => {
            ErrorCode::ServerRefused
        }
        imap::Error::Unsupported { .. } => ErrorCode::Unsupported,
        imap::Error::Protocol(_) | imap::Error::Malformed { .. } => ErrorCode::Protocol,
        imap::Error::InvalidInput(_) => ErrorCode::InvalidArgument,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retry() {
        let auth = Error::connecting(
            Side::Source,
            imap::Error::Auth {
                user: "u".into(),
                mechanism: "LOGIN".into(),
                code: Some("AUTHENTICATIONFAILED".into()),
                text: "Authentication failed.".into(),
            },
        );
        assert_eq!(auth.code(), "AuthenticationFailed");
        assert_eq!(auth.side(), Some(Side::Source));
        assert!(!auth.is_retryable());
        let drop = Error::imap(
            Side::Target,
            "append",
            imap::Error::Io {
                action: "reading".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            },
        )
        .in_folder("INBOX");
        assert!(drop.is_retryable());
        assert_eq!(drop.code(), "EndpointUnreachable");
        assert!(
            drop.to_string()
                .starts_with("cannot copy folder INBOX: cannot append on the target")
        );
        assert_eq!(Error::Cancelled.in_folder("x").code(), "Cancelled");
        assert_eq!(
            Error::BadItemLimitExceeded { limit: 1, count: 2 }.code(),
            "ServerRefused"
        );
    }

    /// The reachability check (api) and a pass share this mapping; these are the cases the two
    /// once disagreed on.
    #[test]
    fn imap_failures_map_to_one_code_each() {
        let bye = imap::Error::Bye {
            code: None,
            text: "too many connections".into(),
        };
        assert_eq!(imap_code(&bye), ErrorCode::ServerRefused);
        // A BYE is still retried by a pass: the code does not decide that.
        assert!(Error::connecting(Side::Source, bye).is_retryable());
        let no_starttls = imap::Error::Unsupported {
            what: "STARTTLS".into(),
        };
        assert_eq!(imap_code(&no_starttls), ErrorCode::Unsupported);
        let clear_text = imap::Error::Insecure {
            action: "log in".into(),
            reason: "the connection is not encrypted".into(),
        };
        assert_eq!(imap_code(&clear_text), ErrorCode::TlsError);
        let tls = imap::Error::Tls {
            host: "h".into(),
            message: "unknown issuer".into(),
        };
        assert_eq!(
            Error::connecting(Side::Target, tls).code(),
            ErrorCode::TlsError
        );
        let garbage = imap::Error::Protocol("unexpected line".into());
        assert_eq!(imap_code(&garbage), ErrorCode::Protocol);
    }
}
