//! The result of a run: the summary on stdout, what went wrong on stderr, and the exit code.

use std::process::ExitCode;

use imapmigration_store::{BatchRecord, BatchStatus, UserRecord, UserStatus, redact};

/// Every user synced (skipped items are reported, not failures) and every CSV row imported.
pub(super) const OK: u8 = 0;
/// Some user did not end synced, or a CSV row was refused.
pub(super) const INCOMPLETE: u8 = 1;
/// Nothing could start: usage, input (the CSV, no valid row) or a server that cannot be
/// reached. clap uses 2 for usage errors too.
pub(super) const NOT_STARTED: u8 = 2;

/// The exit code of a run that ended with `users` in the batch `b`, and the reasons for a
/// non-zero one (one line each, for stderr). `interrupted`: a signal stopped the run.
pub(super) fn outcome(
    b: &BatchRecord,
    users: &[UserRecord],
    interrupted: bool,
) -> (u8, Vec<String>) {
    let mut why = Vec::new();
    if interrupted {
        why.push(format!(
            "interrupted while the batch {} was {}; run the same command again to continue",
            b.name,
            b.status.as_str()
        ));
    }
    for u in users.iter().filter(|u| !done(u.status)) {
        why.push(format!(
            "{} is {}{}",
            u.email,
            u.status.as_str(),
            u.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    for w in &b.validation_warnings {
        why.push(format!(
            "row {} ({}) was not imported: {}",
            w.row_index, w.email_address, w.message
        ));
    }
    let code = if why.is_empty() { OK } else { INCOMPLETE };
    (code, why)
}

/// The statuses a user may end a run in for the run to count as a success.
fn done(s: UserStatus) -> bool {
    matches!(s, UserStatus::Synced | UserStatus::Completed)
}

/// Writes `why` to stderr and turns `code` into the process's exit code.
pub(super) fn exit(code: u8, why: &[String]) -> ExitCode {
    for w in why {
        eprintln!("error: {}", redact::clean(w));
    }
    ExitCode::from(code)
}

/// The result on stdout: one line per user (address, status, messages synced and skipped, last
/// error), then the batch's totals. `elapsed` is in seconds.
#[allow(
    clippy::print_stdout,
    reason = "the summary is the subcommand's output"
)]
pub(super) fn print(name: &str, status: BatchStatus, elapsed: f64, users: &[UserRecord]) {
    let (mut items, mut bytes, mut skipped) = (0u64, 0u64, 0u64);
    println!(
        "{:<40} {:<20} {:>10} {:>10}  error",
        "EmailAddress", "Status", "Synced", "Skipped"
    );
    for u in users {
        items += u.items_synced;
        bytes += u.bytes_synced;
        skipped += u.items_skipped;
        println!(
            "{:<40} {:<20} {:>10} {:>10}  {}",
            redact::clean(&u.email),
            u.status.as_str(),
            u.items_synced,
            u.items_skipped,
            redact::clean(u.last_error.as_deref().unwrap_or(""))
        );
    }
    let name = redact::clean(name);
    println!(
        "batch {name}: {} in {elapsed:.1} s; {items} messages ({:.1} MB) on the target, {skipped} skipped",
        status.as_str(),
        bytes as f64 / 1e6
    );
}
