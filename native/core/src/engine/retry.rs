//! The one retry policy of a pass (docs/design.md "Engine", "Retries").
//!
//! A pass retries at two levels: a folder whose copy was interrupted is tried again on fresh
//! connections (the other folders go on), and a pass that failed as a whole is run again (it
//! resumes from the stored state). Both share one budget per pass ([`RetryBudget`]):
//! - only errors that say so are retried ([`Error::is_retryable`]: dropped connections,
//!   timeouts, BYE, temporary refusals, throttling, answers that cannot be trusted);
//! - a **drop** (the connection reset or closed under us, or refused or reset while
//!   reconnecting to a server this pass already reached) is a passing fault: it is retried
//!   for up to [`RetryPolicy::drop_budget`] (10 minutes) per folder, however many times;
//! - a server **never reached** in this pass (refused, unreachable, silent or not speaking
//!   IMAP on every try) is a wrong endpoint far more often than an outage: the pass gets
//!   [`RetryPolicy::unreachable_attempts`] in all, so the user fails soon with a clear error;
//! - any **other** retryable failure (a stall, BYE, throttling, a lying answer) takes from
//!   [`RetryPolicy::attempts`] per pass, at most [`RetryPolicy::folder_attempts`] in a row on
//!   one folder (the pass may take it up again on its own retry);
//! - the wait is the server's throttle hint when it gives one, else
//!   `min(first_backoff * 2^(n-1), max_backoff)`: 1 s, 2 s, 4 s ... 60 s;
//! - failures that arrive while a retry is still waiting join it rather than take another
//!   attempt: one cut link drops every parallel folder's connections at once, and that is one
//!   interruption, not one per folder.
//!
//! The numbers can be changed through the environment (for tests; [`ENV_VARS`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use imapmigration_imap as imap;
use imapmigration_store::{Event, EventLevel, Store};
use uuid::Uuid;

use super::error::{Error, Side};

/// Environment variables that override the policy's numbers (seconds, decimals allowed, for
/// the durations; a count for the attempts): the drop budget per folder, the first and the
/// longest wait, the attempts of a pass for other failures, and for a server never reached.
pub const ENV_VARS: [&str; 5] = [
    "IMAPMIGRATION_RETRY_DROP_BUDGET",
    "IMAPMIGRATION_RETRY_FIRST_BACKOFF",
    "IMAPMIGRATION_RETRY_MAX_BACKOFF",
    "IMAPMIGRATION_RETRY_ATTEMPTS",
    "IMAPMIGRATION_RETRY_UNREACHABLE_ATTEMPTS",
];

/// How a pass retries what a dropped connection or a throttling server interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one pass in all for failures other than drops: the first, and every retry
    /// of a folder or of the pass.
    pub attempts: u32,
    /// Attempts in all while the server has not been reached once in this pass.
    pub unreachable_attempts: u32,
    /// Consecutive attempts on one folder within a pass, for failures other than drops.
    pub folder_attempts: u32,
    /// How long drops are retried, per folder (and for the pass as a whole), from the first
    /// drop of a run of failures.
    pub drop_budget: Duration,
    /// The first wait; each further one doubles.
    pub first_backoff: Duration,
    /// The longest wait between attempts, unless the server asks for longer.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// The documented numbers, with the overrides of [`ENV_VARS`].
    fn default() -> Self {
        RetryPolicy::standard().with_overrides(|k| std::env::var(k).ok())
    }
}

/// What kind of failure a retry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The server was never reached in this pass.
    Unreachable,
    /// A connection dropped (or a reconnect to a server already reached failed).
    Drop,
    /// Any other retryable failure.
    Other,
}

impl RetryPolicy {
    /// The documented numbers: drops for 10 minutes per folder, 3 attempts for a server never
    /// reached, 8 per pass (4 in a row per folder) for other failures, waits from 1 s doubling
    /// to 60 s.
    pub fn standard() -> Self {
        RetryPolicy {
            attempts: 8,
            unreachable_attempts: 3,
            folder_attempts: 4,
            drop_budget: Duration::from_secs(600),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }

    fn with_overrides(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        let secs = |name: &str, into: &mut Duration| {
            let Some(v) = var(name) else { return };
            match v
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            {
                Some(d) => *into = d,
                None => tracing::warn!(variable = name, "ignored: not a number of seconds"),
            }
        };
        let count = |name: &str, into: &mut u32| {
            let Some(v) = var(name) else { return };
            match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => *into = n,
                _ => tracing::warn!(variable = name, "ignored: not a positive count"),
            }
        };
        secs(ENV_VARS[0], &mut self.drop_budget);
        secs(ENV_VARS[1], &mut self.first_backoff);
        secs(ENV_VARS[2], &mut self.max_backoff);
        count(ENV_VARS[3], &mut self.attempts);
        count(ENV_VARS[4], &mut self.unreachable_attempts);
        self
    }

    /// The wait before retry number `n` (1 for the first) after `e`: the server's throttle
    /// hint, else `min(first_backoff * 2^(n-1), max_backoff)`.
    pub fn backoff(&self, n: u32, e: &Error) -> Duration {
        if let Some(hint) = e.throttle_hint() {
            return hint;
        }
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(31));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// A fresh budget for one pass.
    pub fn budget(&self) -> RetryBudget {
        RetryBudget {
            policy: self.clone(),
            round: Mutex::new(Round::default()),
            reached: [AtomicBool::new(false), AtomicBool::new(false)],
            sessions: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }
}

/// Whether the server refused the connection (or has no such address), as opposed to dropping
/// one that was open.
pub fn is_refused(e: &Error) -> bool {
    matches!(e.imap_source(), Some(imap::Error::Connect { .. }))
}

/// The side whose connecting failed, when `e` is such a failure.
fn connecting_side(e: &Error) -> Option<Side> {
    match e {
        Error::Connect { side, .. } => Some(*side),
        Error::Folder { source, .. } => connecting_side(source),
        _ => None,
    }
}

/// A session that was open and stopped answering within the progress limits (no byte for
/// `idle`, or under `min_rate`): tried once more on a new connection in a pass, never more,
/// so a trickling server is reported after two stall limits (about 2 minutes with the
/// defaults), not after every attempt of the pass (about 10 minutes).
fn is_stall(e: &Error) -> bool {
    connecting_side(e).is_none() && matches!(e.imap_source(), Some(imap::Error::Timeout { .. }))
}

/// A connection that was open and is gone: reset, closed, broken pipe.
fn is_dropped(e: &Error) -> bool {
    matches!(e.imap_source(), Some(imap::Error::Io { .. }))
}

/// A retry granted by the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Which retry of the pass this is (1 for the first).
    pub attempt: u32,
    /// How long to wait before trying again.
    pub wait: Duration,
    /// What it retries.
    pub kind: Kind,
}

/// A folder's run of failures: how many in a row, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderFailures {
    /// Failures in a row, this one included.
    pub count: u32,
    /// When the first of them happened.
    pub since: Instant,
}

impl FolderFailures {
    /// One more failure of a folder whose run so far is `prev`.
    pub fn next(prev: Option<FolderFailures>, now: Instant) -> FolderFailures {
        match prev {
            Some(p) => FolderFailures {
                count: p.count + 1,
                since: p.since,
            },
            None => FolderFailures {
                count: 1,
                since: now,
            },
        }
    }
}

/// Retries started so far, and until when the latest one waits.
#[derive(Debug, Default)]
struct Round {
    /// Retries granted for failures other than drops (and for unreachable servers).
    used: u32,
    /// Retries granted in all, numbering them.
    granted: u32,
    /// Pass-level drops in a row, and since when.
    pass_drops: Option<FolderFailures>,
    until: Option<Instant>,
    /// Stalls retried in this pass (at most one, [`is_stall`]).
    stalls: u32,
}

/// One pass's attempts, shared by its folder workers and the pass itself.
#[derive(Debug)]
pub struct RetryBudget {
    policy: RetryPolicy,
    round: Mutex<Round>,
    /// Whether a session with the source / the target was established in this pass.
    reached: [AtomicBool; 2],
    /// Sessions established with the source / the target, over every attempt of the pass.
    sessions: [AtomicU64; 2],
}

fn slot(side: Side) -> usize {
    match side {
        Side::Source => 0,
        Side::Target => 1,
    }
}

impl RetryBudget {
    /// Records that a session with `side` was established (logged in) in this pass: from
    /// now on a refused or failed reconnect to it is a drop, not an unreachable server.
    pub fn reached(&self, side: Side) {
        self.reached[slot(side)].store(true, Ordering::SeqCst);
        self.sessions[slot(side)].fetch_add(1, Ordering::Relaxed);
    }

    /// Sessions established with `side` so far (for the user's diagnostics: reconnects show as
    /// more sessions than folder workers).
    pub fn sessions(&self, side: Side) -> u64 {
        self.sessions[slot(side)].load(Ordering::Relaxed)
    }

    /// What kind of failure `e` is for this pass.
    pub fn kind(&self, e: &Error) -> Kind {
        match connecting_side(e) {
            Some(side) if !self.reached[slot(side)].load(Ordering::SeqCst) => Kind::Unreachable,
            Some(_) => Kind::Drop,
            None if is_dropped(e) => Kind::Drop,
            None => Kind::Other,
        }
    }

    /// Whether to try again after `e`. `folder` is, for a folder, its run of failures (this
    /// one included); `None` for the whole pass.
    pub fn retry(&self, e: &Error, folder: Option<FolderFailures>) -> Option<Retry> {
        self.retry_at(e, folder, Instant::now())
    }

    fn retry_at(&self, e: &Error, folder: Option<FolderFailures>, now: Instant) -> Option<Retry> {
        if !e.is_retryable() {
            return None;
        }
        let kind = self.kind(e);
        let p = &self.policy;
        // A poisoned lock only means a worker panicked while holding a few integers.
        let mut round = self.round.lock().unwrap_or_else(|p| p.into_inner());
        let run = match folder {
            Some(f) => f,
            None => {
                let r = if kind == Kind::Drop {
                    FolderFailures::next(round.pass_drops, now)
                } else {
                    FolderFailures {
                        count: 1,
                        since: now,
                    }
                };
                if kind == Kind::Drop {
                    round.pass_drops = Some(r);
                } else {
                    round.pass_drops = None;
                }
                r
            }
        };
        let allowed = match kind {
            Kind::Drop => now.duration_since(run.since) < p.drop_budget,
            Kind::Unreachable | Kind::Other => folder.is_none_or(|f| f.count < p.folder_attempts),
        };
        if !allowed || (is_stall(e) && round.stalls >= 1) {
            return None;
        }
        if let Some(until) = round.until.filter(|u| *u > now) {
            let wait = (until - now).max(e.throttle_hint().unwrap_or_default());
            return Some(Retry {
                attempt: round.granted,
                wait,
                kind,
            });
        }
        let n = match kind {
            Kind::Drop => run.count,
            Kind::Unreachable | Kind::Other => {
                if is_stall(e) {
                    round.stalls += 1;
                }
                let limit = if kind == Kind::Unreachable {
                    p.unreachable_attempts
                } else {
                    p.attempts
                };
                if round.used + 1 >= limit {
                    return None;
                }
                round.used += 1;
                round.used
            }
        };
        round.granted += 1;
        let wait = p.backoff(n, e);
        round.until = Some(now + wait);
        Some(Retry {
            attempt: round.granted,
            wait,
            kind,
        })
    }
}

/// Records a retry as a warning event of the user (and in the log).
/// The words that mark a user's report line as a retry (see [`is_retry_line`]).
const RETRY_LINE: &str = "interrupted (";

/// Whether a user's report line was written by [`record`]: an attempt that failed and was tried
/// again (what the user's DiagnosticInfo counts as retries).
pub fn is_retry_line(message: &str) -> bool {
    message.contains(": attempt ")
        && message.contains(RETRY_LINE)
        && message.contains("; retrying in ")
}

pub(super) fn record(store: &Store, user_id: Uuid, email: &str, retry: Retry, e: &Error) {
    let message = format!(
        "{email}: attempt {} {RETRY_LINE}{e}); retrying in {} s",
        retry.attempt,
        retry.wait.as_secs_f64()
    );
    tracing::warn!(%message);
    let _ = store.insert_event(&Event::new(
        Some(user_id),
        None,
        EventLevel::Warning,
        message,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped() -> Error {
        Error::imap(
            Side::Source,
            "fetch messages",
            imap::Error::Io {
                action: "reading".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            },
        )
    }

    fn refused() -> Error {
        Error::connecting(
            Side::Source,
            imap::Error::Connect {
                host: "127.0.0.1".into(),
                port: 1,
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        )
    }

    fn bye() -> Error {
        Error::imap(
            Side::Source,
            "fetch messages",
            imap::Error::Bye {
                code: Some("UNAVAILABLE".into()),
                text: "server shutting down".into(),
            },
        )
    }

    fn stalled() -> Error {
        Error::imap(
            Side::Source,
            "fetch messages",
            imap::Error::Timeout {
                action: "127.0.0.1:1 sent under 1024 bytes/s".into(),
                after: Duration::from_secs(60),
            },
        )
    }

    /// A stall is retried once per pass, on a folder or for the pass, then reported.
    #[test]
    fn a_stall_is_retried_once_per_pass() {
        let b = RetryPolicy::standard().budget();
        let t0 = Instant::now();
        let f = FolderFailures::next(None, t0);
        let r = b
            .retry_at(&stalled().in_folder("INBOX"), Some(f), t0)
            .expect("one retry");
        assert_eq!(r.wait, Duration::from_secs(1));
        let later = t0 + Duration::from_secs(120);
        let f = FolderFailures::next(Some(f), later);
        assert!(
            b.retry_at(&stalled().in_folder("INBOX"), Some(f), later)
                .is_none()
        );
        assert!(b.retry_at(&stalled(), None, later).is_none());
        // Other failures keep their attempts.
        assert!(b.retry_at(&bye(), None, later).is_some());
    }

    fn throttled(ms: u64) -> Error {
        Error::imap(
            Side::Target,
            "append messages",
            imap::Error::No {
                command: "APPEND".into(),
                code: None,
                text: format!("Request is throttled. Suggested Backoff Time: {ms} milliseconds"),
            },
        )
    }

    /// Grants pass-level retries one after the other, each after the previous one's wait.
    fn drain(b: &RetryBudget, e: &Error, at: &mut Instant) -> Vec<u64> {
        let mut waits = Vec::new();
        while let Some(r) = b.retry_at(e, None, *at) {
            waits.push(r.wait.as_secs());
            *at += r.wait + Duration::from_millis(1);
        }
        waits
    }

    #[test]
    fn the_numbers_are_the_documented_ones_and_the_environment_overrides_them() {
        let p = RetryPolicy::standard();
        assert_eq!(
            (p.attempts, p.unreachable_attempts, p.folder_attempts),
            (8, 3, 4)
        );
        assert_eq!(p.drop_budget, Duration::from_secs(600));
        assert_eq!(
            (p.first_backoff, p.max_backoff),
            (Duration::from_secs(1), Duration::from_secs(60))
        );
        let q = RetryPolicy::standard().with_overrides(|k| match k {
            "IMAPMIGRATION_RETRY_DROP_BUDGET" => Some("20".into()),
            "IMAPMIGRATION_RETRY_FIRST_BACKOFF" => Some("0.1".into()),
            "IMAPMIGRATION_RETRY_ATTEMPTS" => Some("zero".into()),
            _ => None,
        });
        assert_eq!(q.drop_budget, Duration::from_secs(20));
        assert_eq!(q.first_backoff, Duration::from_millis(100));
        assert_eq!(q.attempts, 8, "a bad value is ignored");
    }

    #[test]
    fn a_server_never_reached_gets_three_attempts_and_a_reached_one_the_drop_budget() {
        let mut now = Instant::now();
        let b = RetryPolicy::standard().budget();
        assert_eq!(b.kind(&refused()), Kind::Unreachable);
        assert_eq!(drain(&b, &refused(), &mut now), vec![1, 2]);

        // Once the source was reached, refusals are drops: retried for 10 minutes, the waits
        // doubling from 1 s to 60 s.
        let b = RetryPolicy::standard().budget();
        b.reached(Side::Source);
        assert_eq!(b.kind(&refused()), Kind::Drop);
        assert_eq!(b.kind(&dropped()), Kind::Drop);
        let start = now;
        let waits = drain(&b, &refused().in_folder("INBOX"), &mut now);
        assert_eq!(&waits[..8], &[1, 2, 4, 8, 16, 32, 60, 60]);
        let spent = now.duration_since(start);
        assert!(
            spent >= Duration::from_secs(600) && spent < Duration::from_secs(661),
            "{spent:?}"
        );
        // The target was not reached: refusals there are still an unreachable server.
        let target_refused = Error::connecting(
            Side::Target,
            imap::Error::Connect {
                host: "t".into(),
                port: 1,
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        );
        assert_eq!(b.kind(&target_refused), Kind::Unreachable);
    }

    #[test]
    fn drops_of_a_folder_are_retried_for_the_budget_whatever_their_number() {
        let b = RetryPolicy::standard().budget();
        let t0 = Instant::now();
        let mut run = None;
        let mut now = t0;
        let mut n = 0;
        loop {
            let f = FolderFailures::next(run, now);
            run = Some(f);
            let Some(r) = b.retry_at(&dropped().in_folder("INBOX"), Some(f), now) else {
                break;
            };
            n += 1;
            now += r.wait + Duration::from_millis(1);
        }
        assert!(
            n > 8,
            "{n} retries: more than the attempts of other failures"
        );
        assert!(now.duration_since(t0) >= Duration::from_secs(600));
        // Other failures of another folder are still limited by their count.
        let b = RetryPolicy::standard().budget();
        let mut now = Instant::now();
        let mut run = None;
        let mut granted = 0;
        loop {
            let f = FolderFailures::next(run, now);
            run = Some(f);
            let Some(r) = b.retry_at(&bye().in_folder("Sent"), Some(f), now) else {
                break;
            };
            granted += 1;
            now += r.wait + Duration::from_millis(1);
        }
        assert_eq!(granted, 3, "4 attempts in a row on one folder");
    }

    #[test]
    fn other_failures_share_eight_attempts_per_pass() {
        let mut now = Instant::now();
        let b = RetryPolicy::standard().budget();
        b.reached(Side::Source);
        assert_eq!(drain(&b, &bye(), &mut now), vec![1, 2, 4, 8, 16, 32, 60]);
        // Errors that are not transient are never retried.
        assert_eq!(b.retry_at(&Error::Cancelled, None, now), None);
        assert_eq!(
            b.retry_at(
                &Error::BadItemLimitExceeded { limit: 0, count: 1 },
                None,
                now
            ),
            None
        );
    }

    #[test]
    fn the_throttle_hint_wins() {
        let p = RetryPolicy::standard();
        assert_eq!(
            p.backoff(5, &throttled(2500).in_folder("INBOX")),
            Duration::from_millis(2500)
        );
        let b = p.budget();
        let r = b.retry_at(&throttled(300), None, Instant::now()).unwrap();
        assert_eq!(r.wait, Duration::from_millis(300));
    }

    #[test]
    fn failures_during_a_wait_join_it() {
        let b = RetryPolicy::standard().budget();
        b.reached(Side::Source);
        let t0 = Instant::now();
        let f = FolderFailures::next(None, t0);
        let first = b.retry_at(&bye().in_folder("INBOX"), Some(f), t0).unwrap();
        assert_eq!((first.attempt, first.wait), (1, Duration::from_secs(1)));
        // The same stall reaches two more folders a moment later: same attempt, same end.
        let later = t0 + Duration::from_millis(500);
        for name in ["Sent", "Drafts"] {
            let f = FolderFailures::next(None, later);
            let r = b.retry_at(&bye().in_folder(name), Some(f), later).unwrap();
            assert_eq!((r.attempt, r.wait), (1, Duration::from_millis(500)));
        }
        // The next interruption after the wait is retry 2.
        let r = b
            .retry_at(&bye(), None, t0 + Duration::from_secs(3))
            .unwrap();
        assert_eq!((r.attempt, r.wait), (2, Duration::from_secs(2)));
    }
}
