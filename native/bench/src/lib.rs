//! The ImapMigration benchmark: a floor copier and the driver that runs ImapMigration, mbsync,
//! dsync, offlineimap3 and the floor on the same data against one throwaway Dovecot.
//!
//! Modules:
//! - [`floor`]: the minimal pipelined MULTIAPPEND copier (binary `imapmig-floor`).
//! - [`datasets`]: the deterministic data sets (one, many, big10k, big50k, big100mb), generated
//!   by the testkit.
//! - [`tools`]: how each tool is started, timed and checked.
//! - [`measure`]: wall time and peak RSS of the copying processes.
//! - [`report`]: medians, ratios, the table and the JSON file.
//! - [`scale`]: the `scale` set, one batch of 200 mailboxes on a PostgreSQL store run by 1, 2
//!   and 4 worker processes: speed-up, where adding workers stops helping, and why.
//!
//! With `--baseline-bin` our tools also run from a second build, in the same rounds on the
//! same data, so a change can be timed against the code before it in one run.
//!
//! Latency runs go through the testkit's `DelayProxy`. Timings are reported, never asserted:
//! the bench fails only when an ImapMigration run did not copy everything byte for byte, or a
//! scale run did not copy each user in exactly one pass.
#![deny(unsafe_code)]

pub mod datasets;
pub mod floor;
pub mod measure;
pub mod report;
pub mod scale;
pub mod tools;
