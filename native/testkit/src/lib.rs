//! Test harness for ImapMigration: a throwaway Dovecot on 127.0.0.1 and everything the
//! integration tests, the Pester suites, the demo and the benchmark need around it.
//!
//! Modules:
//! - [`dovecot`]: start and stop a Dovecot 2.3 instance from a generated config (plain port with
//!   STARTTLS, implicit-TLS port, test CA, passwd-file users, master user `admin`, oauth2 passdb),
//!   or serve an existing Maildir tree with [`Dovecot::serve_maildir`].
//! - [`cyrus`], [`cyrus_client`]: a throwaway Cyrus IMAP 3.6 (Debian's imapd run by its master
//!   with a private config), seeded and read back over IMAP.
//! - [`oauth`]: the tiny HTTP/1.1 token + introspection server the oauth2 passdb talks to.
//! - [`maildir`]: writing Maildir++ folders and messages straight to disk (seeding), folder-name
//!   encoding (modified UTF-7 + listescape), flag letters.
//! - [`snapshot`]: reading a Maildir++ tree back into a comparable [`Snapshot`].
//! - [`mail`]: deterministic message and mailbox generators (bench profile "one", "small", "many").
//! - [`proxy`]: [`DelayProxy`] (WAN latency) and [`FaultProxy`] (cut connections) on 127.0.0.1.
//! - [`strict`]: [`StrictProxy`], which fails a test when the client sends what the server did
//!   not advertise (with [`ServerProfile`] lists).
//! - [`hostile`]: [`HostileImap`], a scripted IMAP source that omits, adds or garbles FETCH
//!   and LIST answers, on 127.0.0.1.
//! - [`postgres`]: a throwaway PostgreSQL 15 cluster on 127.0.0.1 (run as the `postgres` user
//!   when root) for the store's PostgreSQL backend.
//! - [`probe`]: a minimal blocking IMAP client and an `openssl s_client` wrapper for smoke checks.
//!
//! Everything here is synchronous and uses std threads, so it works from any test, with or
//! without a tokio runtime. The crate depends on nothing else of ours.
//!
//! Running as root (the CI and dev containers): Dovecot refuses uid 0 for mail, so all mail is
//! owned by `nobody:nogroup` (65534) and every file the seeders write is chowned to it.
#![deny(unsafe_code)]

pub mod cyrus;
pub mod cyrus_client;
pub mod dovecot;
pub mod error;
pub mod hostile;
pub mod mail;
pub mod maildir;
pub mod oauth;
pub mod postgres;
pub mod probe;
pub mod proxy;
pub mod refuse;
pub mod smtp;
pub mod snapshot;
pub mod strict;

mod certs;
mod util;

pub use cyrus::{CYRUS_ADMIN, CYRUS_ADMIN_PASSWORD, Cyrus, CyrusOptions, cyrus_available};
pub use cyrus_client::CyrusClient;
pub use dovecot::{
    Dovecot, DovecotOptions, InstanceInfo, MailboxStatus, ServerProfile, SpecialUseNames,
};
pub use error::{Error, Result};
pub use hostile::{HostileImap, HostileMode};
pub use maildir::{MessageRef, SeedFolder, SeedMessage, landed_in_maildir};
pub use oauth::OAuthServer;
pub use postgres::{PG_PASSWORD, PG_SUPERUSER, Postgres, postgres_available};
pub use proxy::{DelayProxy, FaultProxy};
pub use refuse::{CHANGED_HEADER, Refusal, RefusingProxy};
pub use smtp::{ReceivedMessage, SmtpSink};
pub use snapshot::{MessageView, Snapshot, maildir_snapshot};
pub use strict::{StrictProxy, Traffic, Violation};

/// Login name of the master user every instance has.
pub const MASTER_USER: &str = "admin";
/// Password of [`MASTER_USER`].
pub const MASTER_PASSWORD: &str = "adminpass";
/// `auth_master_user_separator`: `alice*admin` logs in as alice with the master password.
pub const MASTER_SEPARATOR: &str = "*";
/// The uid and gid that own all mail (`nobody:nogroup` on Debian).
pub const MAIL_UID: u32 = 65534;
/// See [`MAIL_UID`].
pub const MAIL_GID: u32 = 65534;
