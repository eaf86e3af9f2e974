//! The error type of the IMAP layer.
//!
//! Server refusals keep the server's words: a tagged `NO` becomes [`Error::No`], a tagged
//! `BAD` [`Error::Bad`], an untagged `BYE` [`Error::Bye`], each with the response code
//! (RFC 3501 §7.1, RFC 5530) and the human-readable text.

use std::io;
use std::time::Duration;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking IMAP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// Host name or address from the server configuration.
        host: String,
        /// TCP port that was dialled.
        port: u16,
        /// The operating system's reason (refused, unreachable, no such host, ...).
        #[source]
        source: io::Error,
    },
    /// TLS setup or handshake failed (untrusted certificate, wrong host name, bad CA file, ...).
    #[error("tls with {host} failed: {message}")]
    Tls {
        /// Host name the certificate was checked against.
        host: String,
        /// rustls' description of the failure.
        message: String,
    },
    /// A phase of the connection stalled past its limit ([`crate::Timeouts`]).
    #[error("{action} within {}", secs(after))]
    Timeout {
        /// What did not happen, naming the server ("imap.example.com:993 sent no greeting").
        action: String,
        /// The limit that ran out.
        after: Duration,
    },
    /// The server rejected the credentials. Carries the server's reply, never the secret.
    #[error("authentication as {user} with {mechanism} failed: {text}")]
    Auth {
        /// The login name (or SASL authentication identity) that was refused.
        user: String,
        /// `LOGIN`, or the SASL mechanism name (`PLAIN`, `XOAUTH2`).
        mechanism: String,
        /// The response code without brackets (`AUTHENTICATIONFAILED`, RFC 5530); `None`
        /// when the server sent none.
        code: Option<String>,
        /// The server's text; for SASL, followed by the decoded error challenge in
        /// parentheses when the server sent one (XOAUTH2's JSON status).
        text: String,
    },
    /// A command was answered with a tagged `NO`.
    #[error("server refused {command}: {}", refusal_text(code.as_deref(), text))]
    No {
        /// The command verb with its mailbox name where it has one (`SELECT INBOX`,
        /// `UID FETCH`); never its arguments' secret parts.
        command: String,
        /// The response code without brackets (`NONEXISTENT`, `OVERQUOTA`, RFC 5530);
        /// `None` when the server sent none.
        code: Option<String>,
        /// The server's human-readable text after the code.
        text: String,
    },
    /// A command was answered with a tagged `BAD`.
    #[error("server rejected {command} as invalid: {}", refusal_text(code.as_deref(), text))]
    Bad {
        /// The command verb with its mailbox name where it has one, as for [`Error::No`].
        command: String,
        /// The response code without brackets; `None` when the server sent none.
        code: Option<String>,
        /// The server's human-readable text after the code.
        text: String,
    },
    /// The server closed the session with an untagged `BYE`.
    #[error("server closed the connection: {}", refusal_text(code.as_deref(), text))]
    Bye {
        /// The response code without brackets (`UNAVAILABLE`, ...); `None` when the server
        /// sent none.
        code: Option<String>,
        /// The server's human-readable text after the code.
        text: String,
    },
    /// The connection dropped or an I/O operation on it failed.
    #[error("connection failed while {action}: {source}")]
    Io {
        /// What was under way, as a phrase after "while" ("reading a response").
        action: String,
        /// The I/O error the socket or TLS stream reported.
        #[source]
        source: io::Error,
    },
    /// The server does not offer something we need (STARTTLS, CONDSTORE, a SASL mechanism).
    #[error("server does not support {what}")]
    Unsupported {
        /// The missing capability, phrased to follow "server does not support".
        what: String,
    },
    /// We refused to proceed because it would expose a secret (e.g. a password in clear text).
    #[error("refusing to {action}: {reason}")]
    Insecure {
        /// What was refused, phrased to follow "refusing to" ("send credentials").
        action: String,
        /// Why it would be unsafe ("the connection is not encrypted").
        reason: String,
    },
    /// The server sent something we cannot make sense of.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A response to a command that cannot be parsed (a garbled FETCH or LIST line). Never
    /// skipped: a skipped FETCH line is a message silently not copied, a skipped LIST line a
    /// folder. Worth retrying on a new connection; a server that keeps sending it fails.
    #[error("server answered {command} with a response that cannot be parsed: {line}")]
    Malformed {
        /// The command the response belongs to (`UID FETCH`, `LIST`).
        command: String,
        /// The server's line as received (its first 200 characters, lossily decoded).
        line: String,
    },
    /// An argument cannot be expressed on the wire (CR/LF in a name, a bad UID set, ...).
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// Obtaining an OAuth2 access token failed.
    #[error("cannot obtain oauth2 token from {url}: {message}")]
    OAuth {
        /// The token endpoint that was asked.
        url: String,
        /// What failed: the HTTP status with the first 500 characters of the endpoint's
        /// reply, or the request or decoding error. Never the client secret.
        message: String,
    },
}

fn refusal_text(code: Option<&str>, text: &str) -> String {
    match code {
        Some(c) => format!("[{c}] {text}"),
        None => text.to_string(),
    }
}

/// `30 s`, `0.5 s`, `60.3 s` (to a tenth of a second).
fn secs(d: &Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

impl Error {
    /// Whether the server answered the command with a refusal (`NO`, `BAD`), rather than the
    /// connection failing on the way.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::No { .. } | Error::Bad { .. })
    }

    /// Whether retrying later (on a new connection) may succeed: connection drops, timeouts,
    /// `BYE`, and refusals the server marks as temporary (`[UNAVAILABLE]`, `[INUSE]` from
    /// RFC 5530, `[THROTTLED]`, or Exchange Online's "Suggested Backoff Time").
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Io { .. }
            | Error::Bye { .. }
            | Error::Malformed { .. } => true,
            Error::No { code, text, .. } | Error::Auth { code, text, .. } => {
                is_temporary_code(code.as_deref()) || throttle_in_text(text).is_some()
            }
            _ => false,
        }
    }

    /// How long the server asks us to wait, if it said so (Exchange Online:
    /// "Request is throttled. Suggested Backoff Time: 2000 milliseconds").
    pub fn throttle_hint(&self) -> Option<Duration> {
        match self {
            Error::No { text, .. }
            | Error::Bad { text, .. }
            | Error::Bye { text, .. }
            | Error::Auth { text, .. } => throttle_in_text(text),
            _ => None,
        }
    }

    /// The response code of a server refusal, if any (`ALREADYEXISTS`, `OVERQUOTA`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::No { code, .. }
            | Error::Bad { code, .. }
            | Error::Bye { code, .. }
            | Error::Auth { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// [`Error::Malformed`] for `frame`, a response to `command`.
    pub(crate) fn malformed(command: &str, frame: &[u8]) -> Self {
        let line = String::from_utf8_lossy(frame);
        let line = line.trim_end();
        Error::Malformed {
            command: command.to_string(),
            line: line.chars().take(200).collect(),
        }
    }

    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }
}

fn is_temporary_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    let atom = code.split_whitespace().next().unwrap_or_default();
    ["UNAVAILABLE", "INUSE", "THROTTLED", "LIMIT"]
        .iter()
        .any(|c| atom.eq_ignore_ascii_case(c))
}

/// Finds "Suggested Backoff Time: N milliseconds" (Exchange Online's wording) in a reply.
fn throttle_in_text(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("backoff time")?;
    let rest = &lower[at + "backoff time".len()..];
    let rest = rest.trim_start_matches([':', ' ']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = rest[digits.len()..].trim_start();
    if unit.starts_with("ms") || unit.starts_with("milli") {
        Some(Duration::from_millis(n))
    } else if unit.starts_with('s') {
        Some(Duration::from_secs(n))
    } else {
        Some(Duration::from_millis(n))
    }
}

/// Why the server refused one message of a pipelined APPEND (a tagged `NO` or `BAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRefusal {
    /// `NO` or `BAD`.
    pub kind: RefusalKind,
    /// The response code without brackets, e.g. `TOOBIG`, `OVERQUOTA` (RFC 5530).
    pub code: Option<String>,
    /// The server's text.
    pub text: String,
}

/// Which tagged status a refusal came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Tagged `NO`: the server understood the APPEND and declined it (quota, size, ...).
    No,
    /// Tagged `BAD`: the server found the command or its literal malformed.
    Bad,
}

impl std::fmt::Display for ServerRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            RefusalKind::No => "NO",
            RefusalKind::Bad => "BAD",
        };
        write!(
            f,
            "{kind} {}",
            refusal_text(self.code.as_deref(), &self.text)
        )
    }
}

impl ServerRefusal {
    /// Whether retrying this message later may succeed (`[UNAVAILABLE]`, throttling).
    pub fn is_retryable(&self) -> bool {
        is_temporary_code(self.code.as_deref()) || throttle_in_text(&self.text).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_hint_reads_exchange_wording() {
        let e = Error::No {
            command: "APPEND".into(),
            code: None,
            text: "Request is throttled. Suggested Backoff Time: 2000 milliseconds".into(),
        };
        assert_eq!(e.throttle_hint(), Some(Duration::from_millis(2000)));
        assert!(e.is_retryable());
    }

    #[test]
    fn unavailable_is_retryable_but_plain_no_is_not() {
        let e = Error::No {
            command: "SELECT".into(),
            code: Some("UNAVAILABLE".into()),
            text: "try later".into(),
        };
        assert!(e.is_retryable());
        let e = Error::No {
            command: "SELECT".into(),
            code: Some("NONEXISTENT".into()),
            text: "no such mailbox".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(e.throttle_hint(), None);
        assert_eq!(
            e.to_string(),
            "server refused SELECT: [NONEXISTENT] no such mailbox"
        );
    }

    #[test]
    fn connection_errors_are_retryable() {
        let e = Error::io("reading", io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(e.is_retryable());
        assert!(!Error::Protocol("x".into()).is_retryable());
    }

    #[test]
    fn a_timeout_names_what_did_not_happen_and_the_limit() {
        let e = Error::Timeout {
            action: "imap.example.com:993 sent no greeting".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            e.to_string(),
            "imap.example.com:993 sent no greeting within 30 s"
        );
        let e = Error::Timeout {
            action: "x sent nothing".into(),
            after: Duration::from_micros(60_328_326),
        };
        assert_eq!(e.to_string(), "x sent nothing within 60.3 s");
        assert!(e.is_retryable());
    }

    #[test]
    fn malformed_response_is_retryable_and_quotes_the_server() {
        let e = Error::malformed("UID FETCH", b"* 3 FETCH (UID 3 BODY[] garbage\r\n");
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "server answered UID FETCH with a response that cannot be parsed: * 3 FETCH (UID 3 BODY[] garbage"
        );
        let long = vec![b'x'; 1000];
        let Error::Malformed { line, .. } = Error::malformed("LIST", &long) else {
            panic!()
        };
        assert_eq!(line.len(), 200);
    }
}
