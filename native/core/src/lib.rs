//! ImapMigration core: the migration engine, the C ABI the PowerShell module calls, and the
//! background worker that runs batches.
//!
//! # Architecture
//! ```text
//! entry points   ffi       the C ABI: mig_call / mig_free / mig_abi_version
//!                cli       the binary (main.rs): the worker daemon, `migrate`
//!       |
//!       v        api       one function per JSON operation; returns quickly
//!                worker    one per state directory; runs what the api recorded
//!       |
//!       v        engine    copies one user's mailbox: plan, stream, append, verify, resume
//!                process   the worker lock; starting the worker detached
//!       |
//!       v        imap      crate imapmigration_imap: TLS, SASL, pipelined APPEND, checked FETCH
//!                store     crate imapmigration_store: SQLite state, CSV, sealed secrets
//! ```
//! Dependency rule: entry points `ffi` and the binary (`main.rs`, `cli`; nothing imports
//! them) -> `console` (the web console the binary serves; it uses only `api`) -> `api`,
//! `worker` (neither uses the other) -> `engine`, `process` (neither uses the
//! other) -> the crates `imap`, `store` (which depend on nothing of ours). A module may use any
//! layer below its own, none beside or above it. Crate-root items (`VERSION`, `ABI_VERSION`,
//! `ErrorCode` in `error_code.rs`) are usable by all and use only each other and the crates.
//! `native/core/tests/layering.rs` checks this rule and each crate's dependencies.
//!
//! # Threading
//! The library builds one multi-threaded tokio runtime on first use ([`api`]'s runtime) for the
//! few operations that do network I/O (endpoint verification). Calls may come from any number of
//! host threads at once; each opens its own short-lived store connection (SQLite WAL lets the
//! cmdlets read while the worker writes). Long work never runs inside a call: the worker process
//! does it.
//!
//! # ABI
//! See [`ffi`]: one JSON request/response entry point, its free function and a version number;
//! every export has a panic boundary.
#![deny(unsafe_code)]

pub mod api;
pub mod console;
pub mod engine;
pub mod error_code;
pub mod ffi;
pub mod process;
pub mod worker;

pub use error_code::ErrorCode;

/// This build's version, shared by the library and the worker binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the three exported C symbols and of the request/response envelope (see [`ffi`]).
/// At the crate root because `system.version` reports it too, and the api must not import the
/// entry point that calls it.
pub const ABI_VERSION: u32 = 1;
