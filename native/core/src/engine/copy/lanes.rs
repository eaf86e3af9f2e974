//! Extra APPEND connections into one folder.
//!
//! A target without LITERAL+ makes each message wait one round trip for the server's `+`; one
//! without MULTIAPPEND commits its mailbox once per message. Over one connection a folder then
//! copies at one message per round trip (or per commit). The user's spare target connections
//! (`SyncOptions::connections_per_user` less the folder workers' own) append into the folder
//! in parallel, each taking groups of messages off the same reader. Each lane writes its rows
//! in state 0 before sending and commits them once the server confirmed, exactly as a single
//! connection does, so an interrupted pass verifies them the same way.
//!
//! A server that refuses a connection (its per-user limit is lower than ours) costs that lane
//! only: the folder goes on over the connections it has, and the user's budget shrinks by one
//! for the rest of the pass, so the refusal is not repeated for every folder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use imapmigration_imap as imap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::super::UserJob;
use super::super::error::{Error, Side};
use super::super::run::connect;
use super::context::Ctx;

/// Messages per lane below which another lane is not worth its login.
pub(super) const MIN_MESSAGES_PER_LANE: usize = 16;

/// Messages a lane takes off the reader at once: small, so that lanes share a folder evenly.
pub(super) const LANE_GROUP: usize = 16;

/// The user's spare target connections.
pub(in crate::engine) struct Lanes<'a> {
    job: Option<&'a UserJob>,
    spare: Arc<Semaphore>,
    refused: AtomicBool,
}

impl<'a> Lanes<'a> {
    /// `spare` connections beyond the folder workers' own; none for a Maildir target or with
    /// `-PreserveOrder`.
    pub fn new(job: &'a UserJob, spare: usize) -> Self {
        let usable = !job.options.preserve_order
            && matches!(job.target, super::super::TargetSpec::Imap { .. });
        Lanes {
            job: usable.then_some(job),
            spare: Arc::new(Semaphore::new(if usable { spare } else { 0 })),
            refused: AtomicBool::new(false),
        }
    }

    /// Whether a target session with these capabilities gains from more connections.
    pub fn wanted(caps: &imap::Capabilities) -> bool {
        !(caps.has("LITERAL+") && caps.has("MULTIAPPEND"))
    }

    /// Takes up to `want` spare connections' worth of permits, without waiting.
    pub fn take(&self, want: usize) -> Vec<OwnedSemaphorePermit> {
        let mut out = Vec::new();
        if self.job.is_none() {
            return out;
        }
        while out.len() < want {
            match self.spare.clone().try_acquire_owned() {
                Ok(p) => out.push(p),
                Err(_) => break,
            }
        }
        out
    }

    /// Opens one more target session under `permit`. A refusal gives the permit up for the
    /// rest of the pass and is logged once per user.
    pub async fn open(
        &self,
        ctx: &Ctx<'_>,
        permit: OwnedSemaphorePermit,
    ) -> Option<(imap::Session, OwnedSemaphorePermit)> {
        let job = self.job?;
        match connect(job, Side::Target, ctx.retries).await {
            Ok(s) => Some((s, permit)),
            Err(e) => {
                if matches!(e, Error::Cancelled) {
                    return None;
                }
                permit.forget();
                if !self.refused.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "the target refused another connection; going on with fewer"
                    );
                } else {
                    tracing::debug!(error = %e, "the target refused another connection");
                }
                None
            }
        }
    }
}

/// How many extra lanes `n` messages are worth.
pub(super) fn lanes_for(n: usize) -> usize {
    (n / MIN_MESSAGES_PER_LANE).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_folders_use_one_connection() {
        assert_eq!(lanes_for(0), 0);
        assert_eq!(lanes_for(31), 0);
        assert_eq!(lanes_for(32), 1);
        assert_eq!(lanes_for(2500), 155);
    }
}
