//! State store of ImapMigration.
//!
//! This crate owns everything ImapMigration keeps on disk except mail: the state directory
//! ([`paths`]), the state database with its schema and forward migrations ([`Store`]): the
//! embedded SQLite file by default, or a PostgreSQL database shared by several hosts when
//! configured ([`location`], [`pg`]), the sealed secrets kept in it ([`secret`]), the intake of Exchange-format IMAP CSV files
//! ([`csv_import`]), the one redaction step for texts from servers, CSV files and errors
//! ([`redact`]) and the domain types and statuses shared by the engine, the worker and the
//! FFI layer ([`types`]), and the rules that move batches and users between those statuses
//! ([`lifecycle`]).
//!
//! Dependency rule: this crate knows nothing of IMAP and nothing of the FFI. Rows and types are
//! kept 1:1 with the schema in `docs/design.md`; turning them into Exchange-shaped JSON is the
//! FFI layer's job.
//!
//! Concurrency: the database is opened in WAL mode so the cdylib loaded by PowerShell can read
//! while the worker writes. Every write is one short `BEGIN IMMEDIATE` transaction, and writers
//! wait up to `busy_timeout` (10 s) for each other. A [`Store`] is `Send + Sync` (it wraps a
//! `Mutex<Connection>`) and cheap to open, so each process or request may open its own.
//!
//! Every query is written once and runs on either backend (`db/sql.rs`); on PostgreSQL a write
//! is one `REPEATABLE READ` transaction, run again when it lost a race with another writer.
#![deny(unsafe_code)]

pub mod csv_import;
mod db;
mod error;
pub mod lifecycle;
pub mod location;
pub mod paths;
pub mod pg;
pub mod redact;
pub mod secret;
pub mod types;

pub use db::{
    AddedUsers, BatchFilter, BatchUpdate, ConsoleListener, ConsoleTokenKind, EndpointUpdate,
    ReportFiles, ReportKind, SCHEMA_VERSION, Store, SyncCounts, UserCounts, UserFilter, UserUpdate,
};
pub use error::{Error, Result};
pub use secret::{ExposeSecret, Sealed, Sealer, SecretString};
pub use types::*;
