//! The process's memory budget: bytes of message bodies held at once by every user and folder
//! this process copies. A message's size (RFC822.SIZE from the listing) is reserved before its
//! body is fetched and released once the target has it, so memory stays near the budget
//! however many users and folders run at once. A message larger than the whole budget waits
//! until it can take all of it and passes alone.
//!
//! The worker and the CLI set it once ([`set_memory_budget`]) from the config key
//! `memoryBudget` or the environment variable `IMAPMIGRATION_MEMORY_BUDGET`; unset, it is
//! [`DEFAULT_MEMORY_BUDGET`].

use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::Error;

/// The budget when nothing sets one: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

/// The smallest budget accepted: a smaller setting is raised to it.
pub const MIN_MEMORY_BUDGET: u64 = 16 << 20;

/// The environment variable a budget may be given in (bytes, or with a K/M/G suffix).
pub const MEMORY_BUDGET_ENV: &str = "IMAPMIGRATION_MEMORY_BUDGET";

/// The config key (`Set-MigrationConfig -MemoryBudget`) a budget is stored under, in bytes.
pub const MEMORY_BUDGET_KEY: &str = "memoryBudget";

/// Bytes of message bodies in memory at once, shared by everything the process copies.
pub struct MemoryBudget {
    bytes: usize,
    sem: Arc<Semaphore>,
}

/// A share of the budget; released when dropped.
pub type Reservation = OwnedSemaphorePermit;

static BUDGET: OnceLock<MemoryBudget> = OnceLock::new();

/// Sets the process's budget (bytes, raised to [`MIN_MEMORY_BUDGET`]). Only the first call
/// before any copy counts: returns false when a budget was already in use.
pub fn set_memory_budget(bytes: u64) -> bool {
    BUDGET.set(MemoryBudget::new(bytes)).is_ok()
}

/// The budget in force: the one set, else the environment's, else the default.
pub fn memory_budget() -> &'static MemoryBudget {
    BUDGET.get_or_init(|| MemoryBudget::new(budget_from_env().unwrap_or(DEFAULT_MEMORY_BUDGET)))
}

/// Sets the process's budget from the state directory's config (`memoryBudget`, bytes or a
/// size text), else the environment, else the default; says which budget is in force.
pub fn configure_memory_budget(store: &imapmigration_store::Store) -> u64 {
    let stored = store
        .config_get(MEMORY_BUDGET_KEY)
        .ok()
        .flatten()
        .and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => parse_size(&s),
            _ => None,
        });
    let bytes = stored
        .or_else(budget_from_env)
        .unwrap_or(DEFAULT_MEMORY_BUDGET);
    set_memory_budget(bytes);
    let in_force = memory_budget().bytes() as u64;
    tracing::debug!(bytes = in_force, "memory budget");
    in_force
}

/// `IMAPMIGRATION_MEMORY_BUDGET`, if set and readable.
pub fn budget_from_env() -> Option<u64> {
    std::env::var(MEMORY_BUDGET_ENV)
        .ok()
        .and_then(|v| parse_size(&v))
}

/// `268435456`, `256M`, `256MiB`, `1G`, `512 KB`: bytes (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

impl MemoryBudget {
    /// A budget of `bytes` (raised to [`MIN_MEMORY_BUDGET`]; permits are counted in u32).
    pub fn new(bytes: u64) -> Self {
        let bytes = bytes.clamp(MIN_MEMORY_BUDGET, u64::from(u32::MAX)) as usize;
        MemoryBudget {
            bytes,
            sem: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes currently free.
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Waits until `size` bytes (at most the whole budget) are free and takes them, all at
    /// once: two folders each holding part of what they wait for can never block each other.
    pub async fn reserve(&self, size: u64) -> Result<Reservation, Error> {
        let want = size.clamp(1, self.bytes as u64) as u32;
        self.sem
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| Error::Internal("memory budget closed".into()))
    }

    /// Takes `size` bytes (at most the whole budget) if they are free now, else nothing: for
    /// work that can as well wait for its turn (a batch fetched ahead), never holding part of
    /// the budget while waiting for more.
    pub fn try_reserve(&self, size: u64) -> Option<Reservation> {
        let want = size.clamp(1, self.bytes as u64) as u32;
        self.sem.clone().try_acquire_many_owned(want).ok()
    }
}

/// Splits a message's share off a batch's reservation: `size` bytes, or what is left.
pub(in crate::engine) fn take(from: &mut Option<Reservation>, size: usize) -> Option<Reservation> {
    let r = from.as_mut()?;
    let n = size.max(1);
    if n >= r.num_permits() {
        return from.take();
    }
    r.split(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_in_bytes_or_binary_multiples() {
        assert_eq!(parse_size("268435456"), Some(256 << 20));
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size(" 256 MiB "), Some(256 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512KB"), Some(512 << 10));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("12T"), None);
        assert_eq!(parse_size(""), None);
    }

    #[tokio::test]
    async fn a_batch_reservation_is_split_per_message_and_a_huge_one_takes_everything() {
        let b = MemoryBudget::new(32 << 20);
        assert_eq!(MemoryBudget::new(1).bytes(), MIN_MEMORY_BUDGET as usize);
        let mut batch = Some(b.reserve(10 << 20).await.unwrap());
        let one = take(&mut batch, 4 << 20).unwrap();
        assert_eq!(one.num_permits(), 4 << 20);
        assert_eq!(b.available(), 22 << 20);
        // A message larger than what is left takes the rest.
        let two = take(&mut batch, 8 << 20).unwrap();
        assert_eq!(two.num_permits(), 6 << 20);
        assert!(batch.is_none());
        drop((one, two));
        let all = b.reserve(1 << 40).await.unwrap();
        assert_eq!(b.available(), 0);
        let waits = tokio::time::timeout(std::time::Duration::from_millis(20), b.reserve(1)).await;
        assert!(
            waits.is_err(),
            "nothing passes beside a message as large as the budget"
        );
        drop(all);
        assert_eq!(b.available(), 32 << 20);
    }
}
