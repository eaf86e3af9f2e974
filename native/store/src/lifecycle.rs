//! The status model of batches and users, written once.
//!
//! The statuses themselves are the enums of [`crate::types`] ([`BatchStatus`], [`UserStatus`],
//! [`StatusSummary`]), spelled as Exchange spells them (docs/compatibility.md §8). This module
//! holds every rule over them as pure functions:
//! - what an admin's action does in each status, or why it is refused ([`batch::on_action`],
//!   [`batch::on_set`], [`user::on_action`]), and what the batch therefore offers
//!   ([`batch::supported_actions`]);
//! - how the worker moves batches and users along ([`batch::worker_step`], [`batch::on_event`],
//!   [`user::on_event`]) and which users each step touches ([`user::requeued_by`],
//!   [`user::interrupted`], [`user::stopped_with_batch`], [`user::runnable`]);
//! - the roll-ups Exchange shows beside a status (`StatusSummary`, `State`).
//!
//! The api checks an action here before it records it, the worker asks here what a status
//! becomes, the DTOs print `SupportedActions`, `State` and `StatusSummary` from here, and the
//! store builds the status lists of its queries from these functions. docs/design.md
//! ("Statuses") is [`render_markdown`]'s output, checked by a test.
//!
//! Why pure functions over `(status, action or event)`: the same rule was once written in the
//! api, the worker, the DTOs and the SQL, and the copies drifted apart (a user stopped in an
//! idle batch and one stopped by the worker ended in different statuses). Here a rule can be
//! tested over every status without a database or a worker.

pub mod batch;
mod render;
pub mod user;

#[cfg(test)]
mod tests;

use std::fmt;

pub use render::render_markdown;

#[cfg(doc)]
use crate::types::{BatchStatus, StatusSummary, UserStatus};

/// Exchange's MigrationState, the `State` of batches and users. Exchange does not document how
/// it follows from the status; ours is docs/compatibility.md §8.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationState {
    /// Not started yet (a batch never started; a user waiting for a slot).
    Waiting,
    /// Running, synced, or on its way to another status.
    Active,
    /// Stopped by an admin.
    Stopped,
    /// Completed (our Complete extension).
    Completed,
    /// Failed.
    Failed,
    /// Unusable; can only be removed.
    Corrupted,
}

impl MigrationState {
    /// Exchange's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Waiting => "Waiting",
            MigrationState::Active => "Active",
            MigrationState::Stopped => "Stopped",
            MigrationState::Completed => "Completed",
            MigrationState::Failed => "Failed",
            MigrationState::Corrupted => "Corrupted",
        }
    }
}

impl fmt::Display for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Joins names as prose: `A`, `A or B`, `A, B or C`.
pub(crate) fn or_list<T: fmt::Display>(items: &[T]) -> String {
    let names: Vec<String> = items.iter().map(ToString::to_string).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Every status reachable from `start` through `successors`, in the order first reached.
fn reachable<S: Copy + PartialEq>(start: Vec<S>, successors: impl Fn(S) -> Vec<S>) -> Vec<S> {
    let mut reached = start;
    let mut i = 0;
    while let Some(&from) = reached.get(i) {
        for to in successors(from) {
            if !reached.contains(&to) {
                reached.push(to);
            }
        }
        i += 1;
    }
    reached
}
