//! IMAP client layer of ImapMigration.
//!
//! Modules, by concern:
//! - `transport`: TCP/TLS stream, response framing, I/O timeouts (no IMAP semantics)
//! - `compress`: COMPRESS=DEFLATE (RFC 4978) under the framing
//! - `response`: classifying one response (imap-proto, plus fallbacks for what it cannot parse)
//! - `wire`: building command lines from typed arguments (atoms, quoted strings, literals,
//!   dates, flags); no I/O
//! - `sequence`, `search`: UID sets and SEARCH keys as values that format themselves
//! - `session`: connect, STARTTLS, login, the command/response loop
//! - `mailbox`: NAMESPACE, LIST/SPECIAL-USE, EXAMINE/SELECT, CREATE
//! - `messages`: UID FETCH (status-checked, streaming), UID SEARCH, UID STORE
//! - `append`: pipelined APPEND and MULTIAPPEND with LITERAL+ and APPENDUID
//! - `auth`, `oauth`, `tls`, `mutf7`, `secret`, `error`
//!
//! Callers pass values (a [`UidSet`], a [`SearchKey`], flag names), never command syntax.
//! This crate knows nothing of the store or the engine. Every command checks its tagged
//! completion: NO/BAD are errors carrying the server's words, never empty results.
#![deny(unsafe_code)]

mod append;
mod auth;
mod compress;
mod config;
mod error;
mod mailbox;
mod messages;
pub mod mutf7;
mod oauth;
mod response;
mod search;
mod secret;
mod sequence;
mod session;
mod tls;
mod transport;
mod wire;

pub use append::{AppendOutcome, Appender, MULTIAPPEND_MAX_MESSAGES};
pub use auth::{Credentials, StaticToken, TokenSource, master_user_login};
pub use config::{Security, ServerConfig, Timeouts};
pub use error::{Error, RefusalKind, Result, ServerRefusal};
pub use mailbox::{
    Folder, MailboxInfo, Namespace, Namespaces, SpecialUse, filter_flags_for_target,
};
pub use messages::{BodyEvent, FetchedBody, FlagOp, MessageMeta, StoredSize};
pub use oauth::ClientCredentialsTokens;
pub use search::SearchKey;
pub use secret::{ExposeSecret, SecretString};
pub use sequence::UidSet;
pub use session::{Capabilities, Session, connect, probe};
pub use tls::install_default_provider;
pub use wire::is_valid_flag;
