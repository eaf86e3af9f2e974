//! The one retry policy of a pass (docs/design.md "Engine", "Retries").
//!
//! A pass retries at two levels: a folder whose copy was interrupted is tried again on fresh
//! connections (the other folders go on), and a pass that failed as a whole is run again (it
//! resumes from the stored state). Both take their attempts from one budget per pass, so the
//! total stays bounded by [`RetryPolicy::attempts`] however the failures fall:
//! - only errors that say so are retried ([`Error::is_retryable`]: dropped connections,
//!   timeouts, BYE, temporary refusals, throttling);
//! - a server that refuses the TCP connection is a wrong endpoint far more often than a
//!   passing fault: it gets [`RetryPolicy::unreachable_attempts`], so the user fails soon with
//!   a clear error instead of minutes of backoff;
//! - one folder is given up for this pass after [`RetryPolicy::folder_attempts`] consecutive
//!   failures (the pass may take it up again on its own retry);
//! - the wait is the server's throttle hint when it gives one, else 1 s, 2 s, ... for a refused
//!   connection, else `min(2^attempt, 60)` s;
//! - failures that arrive while a retry is still waiting join it rather than take another
//!   attempt: one cut link drops every parallel folder's connections at once, and that is one
//!   interruption, not one per folder.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use imapmigration_imap as imap;
use imapmigration_store::{Event, EventLevel, Store};
use uuid::Uuid;

use super::error::Error;

/// How a pass retries what a dropped connection or a throttling server interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one pass in all: the first, and every retry of a folder or of the pass.
    pub attempts: u32,
    /// Attempts in all once the server refuses connections outright.
    pub unreachable_attempts: u32,
    /// Consecutive attempts on one folder within a pass.
    pub folder_attempts: u32,
    /// The longest wait between attempts, unless the server asks for longer.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            unreachable_attempts: 3,
            folder_attempts: 4,
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before trying again after retry number `attempt` (1 for the first) was
    /// granted for `e`: the server's throttle hint, else linear seconds for a refused
    /// connection, else `min(2^attempt, max_backoff)` seconds.
    pub fn backoff(&self, attempt: u32, e: &Error) -> Duration {
        if let Some(hint) = e.throttle_hint() {
            return hint;
        }
        if is_refused(e) {
            return Duration::from_secs(u64::from(attempt));
        }
        Duration::from_secs(2u64.saturating_pow(attempt)).min(self.max_backoff)
    }

    /// A fresh budget for one pass.
    pub fn budget(&self) -> RetryBudget {
        RetryBudget {
            policy: self.clone(),
            round: Mutex::new(Round::default()),
        }
    }
}

/// Whether the server refused the connection (or has no such address), as opposed to dropping
/// one that was open.
pub fn is_refused(e: &Error) -> bool {
    matches!(e.imap_source(), Some(imap::Error::Connect { .. }))
}

/// A retry granted by the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Which attempt of the pass was interrupted (1 for the first).
    pub attempt: u32,
    /// How long to wait before trying again.
    pub wait: Duration,
}

/// Retries started so far, and until when the latest one waits.
#[derive(Debug, Default)]
struct Round {
    used: u32,
    until: Option<Instant>,
}

/// One pass's attempts, shared by its folder workers and the pass itself.
#[derive(Debug)]
pub struct RetryBudget {
    policy: RetryPolicy,
    round: Mutex<Round>,
}

impl RetryBudget {
    /// Whether to try again after `e`. `folder_failures` is, for a folder, how many of its
    /// attempts in a row have failed (this one included); `None` for the whole pass.
    pub fn retry(&self, e: &Error, folder_failures: Option<u32>) -> Option<Retry> {
        self.retry_at(e, folder_failures, Instant::now())
    }

    fn retry_at(&self, e: &Error, folder_failures: Option<u32>, now: Instant) -> Option<Retry> {
        if !e.is_retryable() || folder_failures.is_some_and(|n| n >= self.policy.folder_attempts) {
            return None;
        }
        // A poisoned lock only means a worker panicked while holding two integers.
        let mut round = self.round.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = round.until.filter(|u| *u > now) {
            let wait = (until - now).max(e.throttle_hint().unwrap_or_default());
            return Some(Retry {
                attempt: round.used,
                wait,
            });
        }
        let limit = if is_refused(e) {
            self.policy.unreachable_attempts
        } else {
            self.policy.attempts
        };
        if round.used + 1 >= limit {
            return None;
        }
        round.used += 1;
        let wait = self.policy.backoff(round.used, e);
        round.until = Some(now + wait);
        Some(Retry {
            attempt: round.used,
            wait,
        })
    }
}

/// Records a retry as a warning event of the user (and in the log).
pub(super) fn record(store: &Store, user_id: Uuid, email: &str, retry: Retry, e: &Error) {
    let message = format!(
        "{email}: attempt {} interrupted ({e}); retrying in {} s",
        retry.attempt,
        retry.wait.as_secs()
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
    use crate::engine::error::Side;

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

    /// Grants retries one after the other, each after the previous one's wait.
    fn drain(b: &RetryBudget, e: &Error, folder_failures: Option<u32>, at: &mut Instant) -> u32 {
        let mut n = 0;
        while let Some(r) = b.retry_at(e, folder_failures, *at) {
            n += 1;
            *at += r.wait + Duration::from_millis(1);
        }
        n
    }

    #[test]
    fn folder_and_pass_retries_share_one_budget() {
        let b = RetryPolicy::default().budget();
        let mut now = Instant::now();
        // Three folder retries (its 4 consecutive attempts) ...
        for n in 1..=3 {
            let r = b
                .retry_at(&dropped().in_folder("INBOX"), Some(n), now)
                .unwrap();
            assert_eq!(r.attempt, n);
            now += r.wait + Duration::from_millis(1);
        }
        assert_eq!(
            b.retry_at(&dropped().in_folder("INBOX"), Some(4), now),
            None
        );
        // ... leave the pass four of its seven retries.
        assert_eq!(drain(&b, &dropped(), None, &mut now), 4);
        assert_eq!(b.retry_at(&dropped().in_folder("Sent"), Some(1), now), None);
    }

    #[test]
    fn a_pass_gets_eight_attempts_and_a_refusing_server_three() {
        let mut now = Instant::now();
        let b = RetryPolicy::default().budget();
        assert_eq!(drain(&b, &dropped(), None, &mut now), 7);
        let b = RetryPolicy::default().budget();
        assert_eq!(drain(&b, &refused(), None, &mut now), 2);
        // After drops, a refusal still ends the pass by the third attempt.
        let b = RetryPolicy::default().budget();
        assert!(b.retry_at(&dropped(), None, now).is_some());
        now += Duration::from_secs(3);
        assert!(b.retry_at(&dropped(), None, now).is_some());
        now += Duration::from_secs(5);
        assert_eq!(b.retry_at(&refused(), None, now), None);
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
    fn backoff_is_the_throttle_hint_else_linear_for_refusals_else_exponential() {
        let p = RetryPolicy::default();
        let secs = |a: u32, e: &Error| p.backoff(a, e).as_secs();
        let exp: Vec<u64> = (1..=7).map(|a| secs(a, &dropped())).collect();
        assert_eq!(exp, vec![2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(secs(40, &dropped()), 60);
        assert_eq!((secs(1, &refused()), secs(2, &refused())), (1, 2));
        assert_eq!(
            p.backoff(5, &throttled(2500).in_folder("INBOX")),
            Duration::from_millis(2500)
        );
        // The budget waits what the policy says.
        let b = p.budget();
        let r = b.retry_at(&throttled(300), None, Instant::now()).unwrap();
        assert_eq!(r.wait, Duration::from_millis(300));
    }

    #[test]
    fn failures_during_a_wait_join_it() {
        let b = RetryPolicy::default().budget();
        let t0 = Instant::now();
        let first = b
            .retry_at(&dropped().in_folder("INBOX"), Some(1), t0)
            .unwrap();
        assert_eq!((first.attempt, first.wait), (1, Duration::from_secs(2)));
        // The same cut reaches two more folders half a second later: same attempt, same end.
        for f in ["Sent", "Drafts"] {
            let r = b
                .retry_at(
                    &dropped().in_folder(f),
                    Some(1),
                    t0 + Duration::from_millis(500),
                )
                .unwrap();
            assert_eq!((r.attempt, r.wait), (1, Duration::from_millis(1500)));
        }
        // The next interruption after the wait is attempt 2.
        let r = b
            .retry_at(&dropped(), None, t0 + Duration::from_secs(3))
            .unwrap();
        assert_eq!((r.attempt, r.wait), (2, Duration::from_secs(4)));
        // A folder over its consecutive limit gives up even during a wait.
        assert_eq!(
            b.retry_at(&dropped(), Some(4), t0 + Duration::from_secs(4)),
            None
        );
    }
}
