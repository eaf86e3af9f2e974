//! Which batch a `migrate` run works on, and what a run does to a batch that exists already.
//!
//! The same command run again continues the same batch: its name is `--name`, or one derived
//! from the inputs that decide what is migrated where (the CSV file, the source server, the
//! target), so a run killed at any point is resumed by running it again, with or without
//! `--name`. The engine's state rows make the continued pass copy only what is missing.

use std::path::Path;

use imapmigration_store::lifecycle::batch as rules;
use imapmigration_store::{BatchAction, BatchRecord, BatchStatus};
use sha2::{Digest, Sha256};

use super::url::Url;

/// The batch name of a run without `--name`: `cli-` and 12 hex digits of SHA-256 over the CSV
/// file's canonical path, the source (scheme, host, port) and the target (`maildir:<path>`
/// as given, an IMAP URL as scheme, host and port, or the state directory's own store).
pub(super) fn derived_name(csv: &Path, source: &Url, target: &Target) -> String {
    let csv = std::fs::canonicalize(csv).unwrap_or_else(|_| csv.to_owned());
    let mut h = Sha256::new();
    h.update(csv.as_os_str().as_encoded_bytes());
    h.update(b"\n");
    h.update(endpoint_key(source));
    h.update(b"\n");
    match target {
        Target::Home => h.update(b"home"),
        Target::Maildir(p) => h.update(format!("maildir:{}", p.display())),
        Target::Imap(u) => h.update(endpoint_key(u)),
    }
    let digest = hex::encode(h.finalize());
    format!("cli-{}", &digest[..12])
}

fn endpoint_key(u: &Url) -> String {
    let scheme = if u.tls { "imaps" } else { "imap" };
    format!(
        "{scheme}://{}:{}",
        u.host.to_ascii_lowercase(),
        u.port_or_default()
    )
}

/// Where the mail goes.
pub(super) enum Target {
    /// The embedded Maildir store of the state directory.
    Home,
    /// `--target maildir:<path>`.
    Maildir(std::path::PathBuf),
    /// `--target imap(s)://...`.
    Imap(Url),
}

/// What a run asks of a batch that exists: `Ok(None)` to let it continue as it stands (a run
/// was interrupted mid-pass; the scheduler re-queues the users it left), `Ok(Some(action))` to
/// request an action first, `Err` when the batch cannot be continued by `migrate`.
///
/// - never started, stopped, failed, synced with errors: Start (re-queues the failed and
///   stopped users; the others are synced already or still queued);
/// - synced: Start when a user waits to be started, else SyncNow (an incremental pass copies
///   what arrived since);
/// - running (`Starting`, `Syncing`, `Completing`...): nothing, the run continues it;
/// - completed, being removed, corrupted: refused.
pub(super) fn resume_action(
    b: &BatchRecord,
    users_to_start: bool,
) -> Result<Option<BatchAction>, String> {
    if rules::never_started(b) {
        return Ok(Some(BatchAction::Start));
    }
    if rules::running(b.status) && b.status != BatchStatus::Removing {
        return Ok(None);
    }
    let action = match b.status {
        BatchStatus::Synced if !users_to_start => BatchAction::SyncNow,
        s if rules::completed(s) => {
            return Err(format!(
                "the batch {} is {s}; a completed batch is not migrated again: give another --name",
                b.name
            ));
        }
        _ => BatchAction::Start,
    };
    rules::on_batch_action(b, action, users_to_start)
        .map(|_| Some(action))
        .map_err(|r| r.message(&b.name))
}
