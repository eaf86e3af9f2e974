//! ImapMigration core: the migration engine, the C ABI the PowerShell module calls, and the
//! background worker that runs batches.
//!
//! # Architecture
//! ```text
//! ffi (C ABI: mig_call / mig_free / mig_abi_version)
//!  └─ api (one function per JSON operation; returns quickly)
//!      └─ store (imapmigration_store: SQLite state, CSV, sealed secrets)
//! worker (one per state directory; runs what the api recorded)
//!  └─ engine (copies one user's mailbox: plan, stream, append, verify, resume)
//!      ├─ imap (imapmigration_imap: TLS, SASL, pipelined APPEND, checked FETCH)
//!      └─ store
//! ```
//! Dependency rule: `ffi` -> `api`/`worker` -> `engine` -> (`imap`, `store`). `store` knows
//! nothing of IMAP, `imap` nothing of the store; both are separate crates so the rule holds at
//! build time.
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
pub mod engine;
pub mod ffi;
pub mod worker;

/// This build's version, shared by the library and the worker binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
