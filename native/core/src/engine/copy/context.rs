//! What the steps of a folder pass share: the user's context, the folder being copied, the
//! pass's counters, and the small adapters from each layer's errors.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use imapmigration_imap as imap;
use imapmigration_store::Store;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::super::error::{Error, Side};
use super::super::filter::ReceivedFilter;
use super::super::folders::{FolderPlan, TargetLayout};
use super::super::retry::RetryBudget;
use super::super::{Progress, SyncOptions};
use super::lanes::Lanes;
use super::window::ByteWindow;

/// Counters of one user's pass, shared by the folder workers.
#[derive(Debug, Default)]
pub(in crate::engine) struct Stats {
    /// Messages each folder holds for the pass, by folder id: a folder tried again counts
    /// once, with its last listing.
    pub totals: Mutex<HashMap<i64, u64>>,
    pub copied: AtomicU64,
    pub skipped: AtomicU64,
    pub bytes: AtomicU64,
    pub flags_updated: AtomicU64,
    pub bad_items: AtomicU64,
    pub large_items: AtomicU64,
    pub folder_errors: Mutex<Vec<Error>>,
}

impl Stats {
    /// Messages of the pass over all folders.
    pub fn total(&self) -> u64 {
        self.totals
            .lock()
            // A poisoned map only means a panic mid-insert; the counts are still valid.
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

/// What every folder pass of a user shares.
pub(in crate::engine) struct Ctx<'a> {
    pub user_id: Uuid,
    pub store: &'a Store,
    pub opts: &'a SyncOptions,
    pub filter: Option<&'a ReceivedFilter>,
    pub cancel: &'a CancellationToken,
    pub progress: &'a dyn Progress,
    pub layout: &'a TargetLayout,
    pub stats: &'a Stats,
    /// The user's byte window, shared by all its folders.
    pub window: &'a ByteWindow,
    /// The pass's retry budget, shared by its folder workers and the pass itself.
    pub retries: &'a RetryBudget,
    /// The user's spare target connections, for appending into one folder in parallel.
    pub lanes: &'a Lanes<'a>,
}

/// One folder pass: the user's context, the folder, and the ids its rows are kept under.
pub(super) struct FolderPass<'a> {
    pub ctx: &'a Ctx<'a>,
    pub plan: &'a FolderPlan,
    /// The source folders that share this one's target folder (itself included).
    pub group: &'a [FolderPlan],
    pub folder_id: i64,
    /// The source folder's UIDVALIDITY as EXAMINEd for this pass.
    pub src_validity: u32,
    /// What the worker copies after this folder, when it says so (`next_folder`).
    pub hint: Option<&'a dyn NextHint>,
    pub next: OnceLock<Option<NextFolder>>,
}

/// Tells a folder pass which folder its worker copies next, taking it off the queue if need
/// be: asked once the pass has no more use for its source connection.
pub(in crate::engine) trait NextHint: Sync {
    fn next_folder(&self) -> Option<FolderPlan>;
}

/// The folder a worker copies next, whose first commands a pass sends ahead at its end: its
/// EXAMINE (with the listing of a first pass) on the source, its SELECT behind the size check
/// on the target. A round trip or two per folder at a long round-trip time.
pub(super) struct NextFolder {
    pub source: String,
    pub target: String,
    /// No pass of it has been recorded: its listing is every message.
    pub first_pass: bool,
}

impl FolderPass<'_> {
    /// The folder the worker copies next, if known (asked of the hint once).
    pub fn next_folder(&self) -> Option<&NextFolder> {
        self.next
            .get_or_init(|| {
                let plan = self.hint?.next_folder()?;
                let recorded = self
                    .ctx
                    .store
                    .folders_for_user(&self.ctx.user_id)
                    .ok()?
                    .into_iter()
                    .find(|r| r.source_name == plan.source_name);
                Some(NextFolder {
                    target: self.ctx.layout.join(&plan.target),
                    first_pass: recorded.is_none_or(|r| r.src_uidvalidity.is_none()),
                    source: plan.source_name,
                })
            })
            .as_ref()
    }

    /// Sends the next folder's EXAMINE (and a first pass's listing) ahead on the source, which
    /// this pass is done with; a failure to send shows when that folder opens.
    pub async fn source_done(&self, src: &mut imap::Session) {
        if let Some(next) = self.next_folder() {
            let _ = send_opening(src, &next.source, next.first_pass).await;
        }
    }
}

/// Sends a source folder's EXAMINE ahead, and on its `first_pass` the listing of every message
/// right behind it (a later pass lists against its rows): one round trip for both.
pub(super) async fn send_opening(
    src: &mut imap::Session,
    folder: &str,
    first_pass: bool,
) -> imap::Result<()> {
    src.prefetch_examine(folder).await?;
    if first_pass {
        src.prefetch_fetch_meta(&imap::UidSet::all()).await?;
    }
    Ok(())
}

/// Runs blocking file I/O off the async threads.
pub(in crate::engine) async fn blocking<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))?
}

pub(super) fn st(action: &'static str) -> impl FnOnce(imapmigration_store::Error) -> Error {
    move |e| Error::store(action, e)
}

pub(super) fn src_err(action: impl Into<String>) -> impl FnOnce(imap::Error) -> Error {
    let a = action.into();
    move |e| Error::imap(Side::Source, a, e)
}

pub(super) fn dst_err(action: impl Into<String>) -> impl FnOnce(imap::Error) -> Error {
    let a = action.into();
    move |e| Error::imap(Side::Target, a, e)
}

pub(super) fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}
