//! The migration engine: copies one user's mailbox from an IMAP source to an IMAP or Maildir
//! target, resumably and without duplicates. The worker and the CLI call [`sync_user`].
//!
//! Modules:
//! - `folders`: which folders, under which target names (NAMESPACE, special-use, selection)
//! - `filter`: `-ContentFilter` (Received comparisons)
//! - `plan`: new messages, order, size limits, matching by msg_key + size + date
//! - `flags`: flag normalisation and the three-way difference for incremental passes
//! - `maildir`: the Maildir++ target
//! - `server`: an endpoint record as IMAP connection settings
//! - `run`: the user-level orchestration (connections, folder workers, limits)
//! - `retry`: the one retry policy of a pass, for folder and pass retries alike
//! - `budget`: the process's memory budget, shared by every user and folder
//! - `copy`: one folder pass (verify in-flight rows, rebuild after UIDVALIDITY changes, flags,
//!   the streaming copy), one target-folder implementation per target kind
//!
//! Safety contract (docs/design.md "Engine"): the source is only ever EXAMINEd and read with
//! `BODY.PEEK[]`; rows are written in state 0 before their APPEND and committed in state 1 after
//! the target confirmed; rows found in state 0 are verified on the target before anything is
//! sent again; nothing on the target is ever deleted.

pub mod budget;
pub mod error;
pub mod filter;
pub mod flags;
pub mod folders;
pub mod maildir;
pub mod plan;
pub mod retry;
pub mod server;

mod copy;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use imapmigration_imap as imap;
use imapmigration_store::Store;
use tokio_util::sync::CancellationToken;

pub use budget::{
    DEFAULT_MEMORY_BUDGET, MEMORY_BUDGET_ENV, MEMORY_BUDGET_KEY, configure_memory_budget,
    set_memory_budget,
};
pub use error::{Error, Side, imap_code};
pub use filter::{CmpOp, ReceivedClause, ReceivedFilter, parse_content_filter};
pub use retry::RetryPolicy;
pub use server::{
    COMPRESS_VAR, VERIFY_CONTENT_VAR, compression_allowed, content_verification, server_config,
};

/// One user to copy.
#[derive(Debug, Clone)]
pub struct UserJob {
    /// The `users.id` (a UUID) the sync state is kept under.
    pub user_id: String,
    /// The user's address, for people only: it names the user in the log span and in the
    /// retry warnings recorded as events; nothing is looked up by it.
    pub email: String,
    /// The mailbox to read (only ever EXAMINEd and fetched with `BODY.PEEK[]`).
    pub source: SourceSpec,
    /// The mailbox to write into.
    pub target: TargetSpec,
    /// The batch's folder selection, filter, limits and tuning.
    pub options: SyncOptions,
}

/// Where the mail comes from.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The source endpoint's host, port, security and CA (see [`server_config`]).
    pub server: imap::ServerConfig,
    /// This user's login on the source: the CSV's `UserName` with its password, or with an
    /// OAuth2 access token when the endpoint authenticates with OAuth2.
    pub credentials: imap::Credentials,
    /// Exchange `UserRoot`: the folder under which this user's mailbox lives on a server with
    /// a shared tree (`/users/bob`); listed folders outside it are ignored.
    pub user_root: Option<String>,
    /// Also copy other users' and shared namespaces (RFC 2342) the login can see.
    pub include_other_namespaces: bool,
}

/// Where the mail goes.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// This user's Maildir++ root (created if missing).
    Maildir {
        /// The directory holding `cur/`, `new/`, `tmp/` and the `.Folder` subdirectories.
        root: PathBuf,
    },
    /// An IMAP server, logged in as the credentials say (per user, master user, authzid, ...).
    Imap {
        /// The target server's host, port, security and CA.
        server: imap::ServerConfig,
        /// The login that opens this user's mailbox on the target: the user's own (name from
        /// the endpoint's template, the CSV password), a master-user or authorization-identity
        /// login of the endpoint's administrator, or OAuth2.
        credentials: imap::Credentials,
    },
}

/// Per-batch settings of a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `-ExcludeFolders` (Exchange syntax, see [`folders::FolderSelection`]).
    pub exclude_folders: Vec<String>,
    /// `-IncludeFolders`; empty means all.
    pub include_folders: Vec<String>,
    /// `-ContentFilter`, parsed with [`parse_content_filter`].
    pub received_filter: Option<ReceivedFilter>,
    /// Messages larger than this (bytes) are skipped as LargeItem.
    pub max_message_size: Option<u64>,
    /// The user fails when more LargeItems than this were skipped.
    pub large_item_limit: Option<u64>,
    /// The user fails when the target refused more items than this.
    pub bad_item_limit: Option<u64>,
    /// Bytes of message bodies in flight between the source readers and the target writers
    /// of one user, shared by the folders it copies at once (default 16 MiB). A larger
    /// message is still copied, alone.
    pub window_bytes: usize,
    /// Folders copied at once, each over its own source and target connection (default 3;
    /// servers cap connections per user, Dovecot at 10).
    pub folder_parallelism: usize,
    /// Folders copied at once when a server is far (its greeting took [`FAR_SERVER`] or more,
    /// about a round trip): each folder waits a few round trips of its own (open, first
    /// messages, last confirmation), which more folders at once hide (default 5).
    pub far_folder_parallelism: usize,
    /// Messages per state transaction (default 256).
    pub chunk: usize,
    /// Maildir target only: fsync each message file and its directory (default off; the
    /// rename into `cur/` is atomic either way).
    pub fsync: bool,
    /// How long rows left in flight that are not on an IMAP target yet are given to land
    /// before they are sent again (default 3 s; see `engine::copy::verify`): the server may
    /// still be executing an earlier connection's APPEND.
    pub in_flight_settle: Duration,
    /// Connections to an IMAP target one user may hold at once (`-MaxConnectionsPerUser`,
    /// default 8; Gmail allows 15 per account). Besides the folder workers' own, the rest
    /// append into a folder in parallel when the target makes each message wait (no LITERAL+
    /// or no MULTIAPPEND); see `copy::lanes`.
    pub connections_per_user: usize,
    /// `-PreserveOrder`: one connection per folder, so messages land in the order they are
    /// sent. Off by default: appends over several connections do not keep the source's order.
    pub preserve_order: bool,
    /// `-VerifyContent`: on an IMAP target with UIDPLUS, read back what was appended into
    /// each folder (`UID FETCH BODY.PEEK[]`) and compare its SHA-256 with the bytes sent; a
    /// difference is a ChangedItem. Off by default: it doubles what crosses the target link.
    /// A Maildir target needs no such check (the engine writes the files itself).
    pub verify_content: bool,
}

/// A server whose greeting takes this long after connecting is far: a long WAN round trip,
/// well above what a LAN's, or a busy host's scheduling, adds (`SyncOptions::far_folder_parallelism`).
pub const FAR_SERVER: std::time::Duration = std::time::Duration::from_millis(30);

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            exclude_folders: Vec::new(),
            include_folders: Vec::new(),
            received_filter: None,
            max_message_size: None,
            large_item_limit: None,
            bad_item_limit: None,
            window_bytes: 16 * 1024 * 1024,
            folder_parallelism: 3,
            far_folder_parallelism: 5,
            chunk: 256,
            fsync: false,
            in_flight_settle: Duration::from_secs(3),
            connections_per_user: 8,
            preserve_order: false,
            verify_content: false,
        }
    }
}

/// Live progress for status displays. Called from the sync's task; keep it cheap.
pub trait Progress: Send + Sync {
    /// A folder pass starts with this many messages (and bytes) to copy.
    fn folder_started(&self, folder: &str, to_copy: u64, bytes: u64);
    /// Messages confirmed on the target.
    fn copied(&self, items: u64, bytes: u64);
    /// Messages skipped (too large, refused by the target).
    fn skipped(&self, n: u64);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn folder_started(&self, _: &str, _: u64, _: u64) {}
    fn copied(&self, _: u64, _: u64) {}
    fn skipped(&self, _: u64) {}
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserOutcome {
    /// Messages in the selected source folders (after the content filter).
    pub items_total: u64,
    /// Messages copied in this pass.
    pub items_copied: u64,
    /// Messages skipped in this pass (LargeItem, BadItem).
    pub items_skipped: u64,
    /// Sizes of the messages copied in this pass, in bytes, as read from the source.
    pub bytes_copied: u64,
    /// Messages whose flags were changed on the target in this pass.
    pub flags_updated: u64,
    /// Folders processed (including containers without messages).
    pub folders: u64,
    /// Sessions logged in to the source in this pass, reconnects included.
    pub source_sessions: u64,
    /// Sessions logged in to an IMAP target in this pass, reconnects included (0 for Maildir).
    pub target_sessions: u64,
}

/// Copies one user's mailbox: every selected folder, new messages newest first, flag changes
/// since the last pass. Safe to run again at any time, including after a crash or a cancel:
/// it resumes, and never copies a message twice.
///
/// This is one pass: an interrupted folder is retried on fresh connections within the default
/// [`RetryPolicy`]'s budget, but a failed pass is not run again
/// ([`sync_user_with_retries`] does that).
pub async fn sync_user(
    job: &UserJob,
    store: &Store,
    cancel: &CancellationToken,
    progress: &dyn Progress,
) -> Result<UserOutcome, Error> {
    let budget = RetryPolicy::default().budget();
    run::sync_user(job, store, cancel, progress, &budget).await
}

/// [`sync_user`], retried as `policy` says when what interrupted it is transient (a dropped
/// connection, a timeout, a throttling server): each retry resumes from the stored state, and
/// is recorded as a warning event of the user. Folder retries inside a pass and retries of the
/// pass take from one budget (see [`retry`]).
pub async fn sync_user_with_retries(
    job: &UserJob,
    store: &Store,
    cancel: &CancellationToken,
    progress: &dyn Progress,
    policy: &RetryPolicy,
) -> Result<UserOutcome, Error> {
    run::sync_user_with_retries(job, store, cancel, progress, policy).await
}
