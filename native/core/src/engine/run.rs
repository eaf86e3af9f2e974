//! One user's sync: connect, plan folders, create them on the target, then copy folder groups
//! in parallel, each worker over its own source and target connection, retrying a folder on
//! fresh connections when the failure is transient; and the pass as a whole, retried the same
//! way (`retry`).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use imapmigration_imap as imap;
use imapmigration_store::{Event, EventLevel, SkippedKind, Store};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::copy::{self, ByteWindow, Ctx, Stats, Target};
use super::error::{Error, Side};
use super::folders::{
    FolderPlan, FolderSelection, Listed, Namespaces, Ns, Role, TargetLayout, folders_to_create,
    group_by_target, plan_folders,
};
use super::maildir::MaildirTarget;
use super::retry::{self, RetryBudget, RetryPolicy};
use super::{Progress, TargetSpec, UserJob, UserOutcome};

pub(super) async fn connect(job: &UserJob, side: Side) -> Result<imap::Session, Error> {
    let (server, creds) = match (side, &job.target) {
        (Side::Source, _) => (&job.source.server, &job.source.credentials),
        (
            Side::Target,
            TargetSpec::Imap {
                server,
                credentials,
            },
        ) => (server, credentials),
        (Side::Target, TargetSpec::Maildir { .. }) => {
            return Err(Error::Internal("no IMAP target to connect to".into()));
        }
    };
    imap::connect(server, creds)
        .await
        .map_err(|e| Error::connecting(side, e))
}

async fn connect_dst(job: &UserJob) -> Result<Target, Error> {
    match &job.target {
        TargetSpec::Maildir { root } => {
            Ok(Target::Maildir(MaildirTarget::new(root, job.options.fsync)))
        }
        TargetSpec::Imap { .. } => Ok(Target::Imap(Box::new(connect(job, Side::Target).await?))),
    }
}

fn listed(folders: &[imap::Folder]) -> Vec<Listed> {
    folders
        .iter()
        .map(|f| Listed {
            name: f.name.clone(),
            delimiter: f.delimiter,
            noselect: f.noselect,
            // Only what the server said: name guesses are the planner's, top level only.
            role: f.attributes.iter().find_map(|a| Role::from_attribute(a)),
        })
        .collect()
}

fn namespaces(ns: &imap::Namespaces) -> Namespaces {
    let conv = |v: &[imap::Namespace]| {
        v.iter()
            .map(|n| Ns {
                prefix: n.prefix.clone(),
                delimiter: n.delimiter,
            })
            .collect()
    };
    Namespaces {
        personal: conv(&ns.personal),
        other_users: conv(&ns.other),
        shared: conv(&ns.shared),
    }
}

fn user_id(job: &UserJob) -> Result<Uuid, Error> {
    Uuid::parse_str(&job.user_id)
        .map_err(|e| Error::InvalidJob(format!("user id {} is not a uuid: {e}", job.user_id)))
}

/// One pass; folder retries take from `budget`.
pub(super) async fn sync_user(
    job: &UserJob,
    store: &Store,
    cancel: &CancellationToken,
    progress: &dyn Progress,
    budget: &RetryBudget,
) -> Result<UserOutcome, Error> {
    let user_id = user_id(job)?;
    let span = tracing::info_span!("user", email = %job.email);
    run_user(job, user_id, store, cancel, progress, budget)
        .instrument(span)
        .await
}

/// One pass, run again while `policy` allows: each retry resumes from the stored state.
pub(super) async fn sync_user_with_retries(
    job: &UserJob,
    store: &Store,
    cancel: &CancellationToken,
    progress: &dyn Progress,
    policy: &RetryPolicy,
) -> Result<UserOutcome, Error> {
    let user_id = user_id(job)?;
    let budget = policy.budget();
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let e = match sync_user(job, store, cancel, progress, &budget).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        if cancel.is_cancelled() {
            return Err(e);
        }
        let Some(r) = budget.retry(&e, None) else {
            return Err(e);
        };
        retry::record(store, user_id, &job.email, r, &e);
        tokio::select! {
            _ = cancel.cancelled() => return Err(Error::Cancelled),
            _ = tokio::time::sleep(r.wait) => {}
        }
    }
}

async fn run_user(
    job: &UserJob,
    user_id: Uuid,
    store: &Store,
    cancel: &CancellationToken,
    progress: &dyn Progress,
    budget: &RetryBudget,
) -> Result<UserOutcome, Error> {
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let opts = &job.options;
    let mut src = connect(job, Side::Source).await?;
    let ns = src
        .namespaces()
        .await
        .map_err(|e| Error::imap(Side::Source, "read namespaces", e))?;
    let src_list = src
        .list_folders()
        .await
        .map_err(|e| Error::imap(Side::Source, "list folders", e))?;

    let mut dst = connect_dst(job).await?;
    let (layout, existing) = target_layout(&mut dst).await?;
    let plans = plan_folders(
        &listed(&src_list),
        &namespaces(&ns),
        job.source.user_root.as_deref(),
        job.source.include_other_namespaces,
        &layout,
    );
    let src_delim = ns
        .personal
        .first()
        .and_then(|n| n.delimiter)
        .or_else(|| src_list.iter().find_map(|f| f.delimiter));
    let selection =
        FolderSelection::parse(&opts.include_folders, &opts.exclude_folders, src_delim)?;
    let plans = selection.apply(plans);
    tracing::info!(folders = plans.len(), "folders planned");
    create_target_folders(job, &mut dst, &plans, &layout, &existing).await?;

    let stats = Stats::default();
    count_earlier_skips(job, user_id, store, &stats)?;
    let folders_total = plans.len() as u64;
    let mut groups: Vec<Vec<FolderPlan>> = group_by_target(&plans)
        .into_iter()
        .filter(|g| g.iter().any(|p| !p.noselect))
        .collect();
    // INBOX first: it is what users look at.
    groups.sort_by_key(|g| !g.iter().any(|p| p.rel == ["INBOX"]));
    let queue = Mutex::new(groups.into_iter().collect::<VecDeque<_>>());
    let stop = cancel.child_token();
    let window = ByteWindow::new(opts.window_bytes);
    let ctx = Ctx {
        user_id,
        store,
        opts,
        filter: opts.received_filter.as_ref(),
        cancel: &stop,
        progress,
        layout: &layout,
        stats: &stats,
        window: &window,
        retries: budget,
    };
    let n = opts
        .folder_parallelism
        .clamp(1, 8)
        .min(queue_len(&queue).max(1));
    let errors: Mutex<Vec<Error>> = Mutex::new(Vec::new());
    let mut first = Some((src, dst));
    let mut workers = Vec::with_capacity(n);
    for i in 0..n {
        let conns = first.take();
        let ctx = &ctx;
        let queue = &queue;
        let errors = &errors;
        let stop = &stop;
        workers.push(
            async move {
                if let Err(e) = worker(job, ctx, queue, conns).await {
                    // Auth, limits and cancellation end the whole user at once.
                    stop.cancel();
                    lock(errors).push(e);
                }
            }
            .instrument(tracing::info_span!("worker", n = i)),
        );
    }
    futures::future::join_all(workers).await;

    let _ = store.refresh_user_counters(&user_id);
    let mut errs = std::mem::take(&mut *lock(&errors));
    let outcome = UserOutcome {
        items_total: stats.total.load(Ordering::Relaxed),
        items_copied: stats.copied.load(Ordering::Relaxed),
        items_skipped: stats.skipped.load(Ordering::Relaxed),
        bytes_copied: stats.bytes.load(Ordering::Relaxed),
        flags_updated: stats.flags_updated.load(Ordering::Relaxed),
        folders: folders_total,
    };
    errs.extend(std::mem::take(&mut *lock(&stats.folder_errors)));
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    if let Some(e) = pick_error(errs) {
        let _ = store.insert_event(&Event::new(
            Some(user_id),
            None,
            EventLevel::Error,
            e.to_string(),
        ));
        return Err(e);
    }
    tracing::info!(?outcome, "user synced");
    Ok(outcome)
}

/// How target folder names are formed, and the folders the target already has.
async fn target_layout(dst: &mut Target) -> Result<(TargetLayout, HashSet<String>), Error> {
    let s = match dst {
        Target::Maildir(_) => return Ok((TargetLayout::maildir(), HashSet::new())),
        Target::Imap(s) => s,
    };
    let tns = s
        .namespaces()
        .await
        .map_err(|e| Error::imap(Side::Target, "read namespaces", e))?;
    let tl = s
        .list_folders()
        .await
        .map_err(|e| Error::imap(Side::Target, "list folders", e))?;
    let tns = namespaces(&tns);
    let layout = TargetLayout::from_imap(&listed(&tl), tns.personal.first());
    Ok((layout, tl.iter().map(|f| f.name.clone()).collect()))
}

/// Creates the planned folders on the target, parents first. INBOX always exists.
async fn create_target_folders(
    job: &UserJob,
    dst: &mut Target,
    plans: &[FolderPlan],
    layout: &TargetLayout,
    existing: &HashSet<String>,
) -> Result<(), Error> {
    match dst {
        Target::Maildir(m) => {
            let m = m.clone();
            // Maildir++ needs no parent directories: a `\Noselect` container on the source stays
            // one on the target (Dovecot infers it from its children) instead of becoming an
            // empty selectable folder.
            let todo: Vec<Vec<String>> = plans
                .iter()
                .filter(|p| !p.noselect)
                .map(|p| p.target.clone())
                .collect();
            let mut subscribe: Vec<Vec<String>> = vec![vec!["INBOX".to_string()]];
            subscribe.extend(plans.iter().map(|p| p.target.clone()));
            copy::blocking(move || {
                m.create_folder(&[])?;
                for segs in todo {
                    m.create_folder(&segs)?;
                }
                m.subscribe(&subscribe)
            })
            .await
            .map_err(|e| Error::maildir("create folders in", job_root(job), e))
        }
        Target::Imap(s) => {
            for segs in folders_to_create(plans) {
                let name = layout.join(&segs);
                if existing.contains(&name) {
                    continue;
                }
                s.create_folder(&name)
                    .await
                    .map_err(|e| Error::imap(Side::Target, format!("create folder {name}"), e))?;
            }
            Ok(())
        }
    }
}

/// Limits count items skipped in earlier passes too.
fn count_earlier_skips(
    job: &UserJob,
    user_id: Uuid,
    store: &Store,
    stats: &Stats,
) -> Result<(), Error> {
    let opts = &job.options;
    if opts.bad_item_limit.is_none() && opts.large_item_limit.is_none() {
        return Ok(());
    }
    let items = store
        .list_skipped_items(&user_id, None)
        .map_err(|e| Error::store("read skipped items", e))?;
    for i in items {
        match i.kind {
            SkippedKind::BadItem => stats.bad_items.fetch_add(1, Ordering::Relaxed),
            SkippedKind::LargeItem => stats.large_items.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
    Ok(())
}

fn job_root(job: &UserJob) -> std::path::PathBuf {
    match &job.target {
        TargetSpec::Maildir { root } => root.clone(),
        TargetSpec::Imap { .. } => std::path::PathBuf::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another worker panicked mid-push; the Vec is still valid.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn queue_len(q: &Mutex<VecDeque<Vec<FolderPlan>>>) -> usize {
    lock(q).len()
}

/// The error a user fails with: the most telling one (auth and limits before folder errors).
fn pick_error(errs: Vec<Error>) -> Option<Error> {
    let rank = |e: &Error| match e {
        Error::Auth { .. } => 0,
        Error::BadItemLimitExceeded { .. } | Error::LargeItemLimitExceeded { .. } => 1,
        Error::Connect { .. } => 2,
        Error::Cancelled => 9,
        _ => 5,
    };
    errs.into_iter().min_by_key(rank)
}

/// Errors after which no other folder should be tried.
fn is_fatal(e: &Error) -> bool {
    matches!(
        e,
        Error::Auth { .. }
            | Error::BadItemLimitExceeded { .. }
            | Error::LargeItemLimitExceeded { .. }
            | Error::Cancelled
            | Error::Store { .. }
            | Error::InvalidJob(_)
    ) || matches!(e, Error::Folder { source, .. } if is_fatal(source))
}

async fn worker(
    job: &UserJob,
    ctx: &Ctx<'_>,
    queue: &Mutex<VecDeque<Vec<FolderPlan>>>,
    conns: Option<(imap::Session, Target)>,
) -> Result<(), Error> {
    let (mut src, mut dst) = match conns {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    loop {
        let Some(group) = lock(queue).pop_front() else {
            break;
        };
        for plan in group.iter().filter(|p| !p.noselect) {
            let mut failures = 0;
            loop {
                if ctx.cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let res = copy_on(job, ctx, plan, &group, &mut src, &mut dst)
                    .await
                    .map_err(|e| e.in_folder(&plan.display()));
                let Err(e) = res else { break };
                // The connections may be mid-command: whatever comes next starts on fresh ones.
                src = None;
                dst = None;
                failures += 1;
                if let Some(r) = ctx.retries.retry(&e, Some(failures)) {
                    tracing::warn!(error = %e, attempt = r.attempt, wait = ?r.wait, "retrying folder on new connections");
                    retry::record(ctx.store, ctx.user_id, &job.email, r, &e);
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                        _ = tokio::time::sleep(r.wait) => {}
                    }
                    continue;
                }
                if is_fatal(&e) {
                    return Err(e);
                }
                tracing::error!(error = %e, "folder failed");
                let _ = ctx.store.insert_event(&Event::new(
                    Some(ctx.user_id),
                    None,
                    EventLevel::Error,
                    e.to_string(),
                ));
                lock(&ctx.stats.folder_errors).push(e);
                break;
            }
        }
    }
    if let Some(s) = src {
        let _ = s.logout().await;
    }
    if let Some(Target::Imap(d)) = dst {
        let _ = d.logout().await;
    }
    Ok(())
}

/// One attempt at a folder, connecting first where the connections are gone or broken.
async fn copy_on(
    job: &UserJob,
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut Option<imap::Session>,
    dst: &mut Option<Target>,
) -> Result<(), Error> {
    if src.as_ref().is_none_or(|s| !s.is_usable()) {
        *src = Some(connect(job, Side::Source).await?);
    }
    if dst.as_ref().is_none_or(|d| !d.is_usable()) {
        *dst = Some(connect_dst(job).await?);
    }
    let (Some(s), Some(d)) = (src.as_mut(), dst.as_mut()) else {
        return Err(Error::Internal("connections missing after connect".into()));
    };
    copy::copy_folder(ctx, plan, group, s, d)
        .instrument(tracing::info_span!("folder", name = %plan.display()))
        .await
}
