//! One user's sync: connect, plan folders, create them on the target, then copy folder groups
//! in parallel, each worker over its own source and target connection, retrying a folder on
//! fresh connections when the failure is transient; and the pass as a whole, retried the same
//! way (`retry`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use imapmigration_imap as imap;
use imapmigration_store::{Event, EventLevel, SkippedKind, Store};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::copy::{self, ByteWindow, Ctx, Lanes, Stats, Target};
use super::error::{Error, Side};
use super::folders::{
    FolderPlan, FolderSelection, Listed, Namespaces, Ns, Role, TargetLayout, folders_to_create,
    group_by_target, plan_folders,
};
use super::maildir::MaildirTarget;
use super::retry::{self, FolderFailures, RetryBudget, RetryPolicy};
use super::{Progress, TargetSpec, UserJob, UserOutcome};

/// Connects and logs in to one side, telling `budget` the server was reached.
pub(super) async fn connect(
    job: &UserJob,
    side: Side,
    budget: &RetryBudget,
) -> Result<imap::Session, Error> {
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
    let mut s = imap::connect(server, creds)
        .await
        .map_err(|e| Error::connecting(side, e))?;
    budget.reached(side);
    if let (Side::Source, Some(max)) = (side, job.options.max_message_size) {
        // Bodies over the limit are never fetched (they are LargeItems, planned from the
        // listing): a literal far beyond it is a server not to be believed, refused before it
        // is read. Servers whose RFC822.SIZE is an estimate get room to be wrong.
        s.limit_literals(max.saturating_mul(2).max(max.saturating_add(1 << 20)));
    }
    Ok(s)
}

async fn connect_dst(job: &UserJob, budget: &RetryBudget) -> Result<Target, Error> {
    match &job.target {
        TargetSpec::Maildir { root } => {
            Ok(Target::Maildir(MaildirTarget::new(root, job.options.fsync)))
        }
        TargetSpec::Imap { .. } => Ok(Target::Imap(Box::new(
            connect(job, Side::Target, budget).await?,
        ))),
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
    // Both sides at once: connecting, logging in and listing are round trips that need not
    // wait for each other. A source failure is the one reported when both fail.
    let source_side = async {
        let mut src = connect(job, Side::Source, budget).await?;
        let (ns, list) = src
            .namespaces_and_folders()
            .await
            .map_err(|e| Error::imap(Side::Source, "list folders", e))?;
        Ok::<_, Error>((src, ns, list))
    };
    let target_side = async {
        let mut dst = connect_dst(job, budget).await?;
        let layout = target_layout(&mut dst).await?;
        Ok::<_, Error>((dst, layout))
    };
    let (source_side, target_side) = tokio::join!(source_side, target_side);
    let (src, ns, src_list) = source_side?;
    let (mut dst, (layout, existing)) = target_side?;
    if src_list.is_empty() {
        // RFC 3501 §5.1: INBOX always exists. An empty answer is a broken one, never a
        // mailbox with nothing to copy.
        return Err(Error::Protocol {
            side: Side::Source,
            command: "LIST".into(),
            detail: "it listed no folder, not even INBOX".into(),
        });
    }

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
    let mut plans = selection.apply(plans);
    tracing::info!(folders = plans.len(), "folders planned");
    // The other folder workers' connections are opened while the folders are created: their
    // greetings and logins are round trips that need not wait for it.
    let per_user = opts.connections_per_user.max(1);
    let far = [Some(src.greeting_wait()), dst.greeting_wait()]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or_default()
        >= super::FAR_SERVER;
    let parallelism = match far {
        true => opts.far_folder_parallelism.max(opts.folder_parallelism),
        false => opts.folder_parallelism,
    };
    tracing::debug!(far, parallelism, "folders at once");
    let wanted = worker_count(parallelism, per_user, copy_groups(&plans).len());
    let (refusals, mut spare) = tokio::join!(
        create_target_folders(job, &mut dst, &plans, &layout, &existing),
        futures::future::join_all((1..wanted).map(|_| connect_pair(job, budget))),
    );
    let refusals = match refusals {
        Ok(r) => r,
        Err(e) => {
            spare.into_iter().for_each(|(s, d)| close_later(s, d));
            return Err(e);
        }
    };
    refusals.apply(&mut plans);
    // Reported on the pass that created the renamed folder, not again on every pass after it.
    for (from, to, why, _) in refusals.renamed.iter().filter(|r| r.3) {
        let msg = format!(
            "the target refused the folder name {} ({why}); its folder is {} instead",
            layout.join(from),
            layout.join(to)
        );
        tracing::warn!("{msg}");
        let _ = store.insert_event(&Event::new(Some(user_id), None, EventLevel::Warning, msg));
    }

    let stats = Stats::default();
    count_earlier_skips(job, user_id, store, &stats)?;
    let folders_total = plans.len() as u64;
    let queue = Mutex::new(copy_groups(&plans));
    let stop = cancel.child_token();
    let window = ByteWindow::new(opts.window_bytes);
    // Each folder worker holds one target connection; the user's connection limit bounds
    // them too, and what it leaves spare appends into folders in parallel (`copy::lanes`).
    let n = worker_count(parallelism, per_user, queue_len(&queue));
    for (s, d) in spare.drain(n.saturating_sub(1)..) {
        close_later(s, d);
    }
    let lanes = Lanes::new(job, per_user - n);
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
        lanes: &lanes,
    };
    let errors: Mutex<Vec<Error>> = Mutex::new(Vec::new());
    let pending = Pending::default();
    let mut conns_for = std::iter::once((Some(src), Some(dst))).chain(spare);
    let mut workers = Vec::with_capacity(n);
    for i in 0..n {
        let conns = conns_for.next().unwrap_or((None, None));
        let ctx = &ctx;
        let queue = &queue;
        let errors = &errors;
        let stop = &stop;
        let refusals = &refusals;
        let pending = &pending;
        workers.push(
            async move {
                if let Err(e) = worker(job, ctx, queue, conns, refusals, pending).await {
                    // Auth, limits and cancellation end the whole user at once.
                    stop.cancel();
                    lock(errors).push(e);
                }
            }
            .instrument(tracing::info_span!("worker", n = i)),
        );
    }
    futures::future::join_all(workers).await;
    settle_failed_folders(job, &ctx, pending, &refusals, &errors).await;

    let _ = store.refresh_user_counters(&user_id);
    let mut errs = std::mem::take(&mut *lock(&errors));
    let outcome = UserOutcome {
        items_total: stats.total(),
        items_copied: stats.copied.load(Ordering::Relaxed),
        items_skipped: stats.skipped.load(Ordering::Relaxed),
        bytes_copied: stats.bytes.load(Ordering::Relaxed),
        flags_updated: stats.flags_updated.load(Ordering::Relaxed),
        folders: folders_total,
        source_sessions: budget.sessions(Side::Source),
        target_sessions: budget.sessions(Side::Target),
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
            format!(
                "{e} (after {} source and {} target sessions)",
                budget.sessions(Side::Source),
                budget.sessions(Side::Target)
            ),
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
    let (tns, tl) = s
        .namespaces_and_folders()
        .await
        .map_err(|e| Error::imap(Side::Target, "list folders", e))?;
    let tns = namespaces(&tns);
    let layout = TargetLayout::from_imap(&listed(&tl), tns.personal.first());
    Ok((layout, tl.iter().map(|f| f.name.clone()).collect()))
}

/// What creating the target folders left to the copy: folders the target would not create
/// (by target path, with the server's words), and folders created under a safe name because
/// the target refused a character of theirs (from, to, the refusal).
#[derive(Debug, Default)]
struct Refusals {
    refused: HashMap<Vec<String>, String>,
    /// The refusals themselves, taken by the folder they fail when the user fails.
    errors: Mutex<HashMap<Vec<String>, Error>>,
    /// (from, to, the refusal, whether this pass created `to`).
    renamed: Vec<(Vec<String>, Vec<String>, String, bool)>,
}

impl Refusals {
    /// A target path with the renames applied to it and to its parents.
    fn remap(&self, segs: &[String]) -> Vec<String> {
        let best = self
            .renamed
            .iter()
            .filter(|(from, ..)| segs.starts_with(from))
            .max_by_key(|(from, ..)| from.len());
        match best {
            Some((from, to, ..)) => {
                let mut out = to.clone();
                out.extend_from_slice(&segs[from.len()..]);
                out
            }
            None => segs.to_vec(),
        }
    }

    fn apply(&self, plans: &mut [FolderPlan]) {
        for p in plans {
            p.target = self.remap(&p.target);
        }
    }
}

/// A folder name segment with every character outside letters, digits, space, `-` and `_`
/// replaced by `_`, or `None` when it has none such.
fn safe_segment(seg: &str) -> Option<String> {
    let safe: String = seg
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (safe != seg).then_some(safe)
}

/// Whether the target answered a command with a refusal (`NO`, `BAD`) rather than failing on
/// the way.
fn is_refusal(e: &imap::Error) -> bool {
    matches!(e, imap::Error::No { .. } | imap::Error::Bad { .. })
}

/// Creates the planned folders on the target, parents first. INBOX always exists. A folder the
/// target refuses fails only itself: it is created under a safe name when the refusal may be
/// about a character of its name, else its messages become skipped items (`Refusals`).
async fn create_target_folders(
    job: &UserJob,
    dst: &mut Target,
    plans: &[FolderPlan],
    layout: &TargetLayout,
    existing: &HashSet<String>,
) -> Result<Refusals, Error> {
    let mut out = Refusals::default();
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
                    // One folder that cannot be created fails only itself: its copy creates it
                    // again and reports the error under its name.
                    if let Err(e) = m.create_folder(&segs) {
                        tracing::warn!(folder = %segs.join("/"), error = %e, "cannot create folder");
                    }
                }
                m.subscribe(&subscribe)
            })
            .await
            .map_err(|e| Error::maildir("create folders in", job_root(job), e))?;
            Ok(out)
        }
        Target::Imap(s) => {
            let special_of = |orig: &Vec<String>| {
                // A folder created for a mapped role (the target had none) gets its attribute
                // where the target takes one at CREATE (CREATE-SPECIAL-USE, RFC 6154).
                plans
                    .iter()
                    .find(|p| &p.target == orig && !p.noselect)
                    .and_then(|p| p.role)
                    .and_then(special_use_of)
            };
            let wanted: Vec<(Vec<String>, Option<imap::SpecialUse>)> = folders_to_create(plans)
                .into_iter()
                .filter(|orig| !existing.contains(&layout.join(orig)))
                .map(|orig| {
                    let special = special_of(&orig);
                    (orig, special)
                })
                .collect();
            // All at once (a few round trips, not two per folder); what is refused, or sits
            // under a parent that had to be renamed, is then handled one by one.
            let batch: Vec<(String, Option<imap::SpecialUse>)> = wanted
                .iter()
                .map(|(orig, special)| (layout.join(orig), *special))
                .collect();
            let first = s
                .create_folders(&batch)
                .await
                .map_err(|e| Error::imap(Side::Target, "create folders", e))?;
            for ((orig, special), tried) in wanted.into_iter().zip(first) {
                let segs = out.remap(&orig);
                let tried = (segs == orig).then_some(tried);
                create_one_folder(s, &mut out, segs, special, tried, layout, existing).await?;
            }
            Ok(out)
        }
    }
}

/// Creates one target folder (`tried`: what the pipelined CREATE already answered for it),
/// under a safe name when the target refuses one of its characters; a refusal that remains
/// fails only that folder (`Refusals`).
async fn create_one_folder(
    s: &mut imap::Session,
    out: &mut Refusals,
    segs: Vec<String>,
    special: Option<imap::SpecialUse>,
    tried: Option<Result<(), imap::Error>>,
    layout: &TargetLayout,
    existing: &HashSet<String>,
) -> Result<(), Error> {
    let name = layout.join(&segs);
    let result = match tried {
        Some(r) => r,
        None if existing.contains(&name) => return Ok(()),
        None => s.create_special_folder(&name, special).await,
    };
    let e = match result {
        Ok(()) => return Ok(()),
        Err(e) if is_refusal(&e) && s.is_usable() => e,
        Err(e) => {
            return Err(Error::imap(
                Side::Target,
                format!("create folder {name}"),
                e,
            ));
        }
    };
    let why = e.to_string();
    let leaf = segs.last().map(String::as_str).unwrap_or_default();
    if let Some(safe) = safe_segment(leaf) {
        let mut to = segs.clone();
        if let Some(l) = to.last_mut() {
            *l = safe;
        }
        let safe_name = layout.join(&to);
        let fresh = !existing.contains(&safe_name);
        let made = !fresh || s.create_special_folder(&safe_name, special).await.is_ok();
        if made {
            out.renamed.push((segs, to, why, fresh));
            return Ok(());
        }
        if !s.is_usable() {
            return Err(Error::imap(
                Side::Target,
                format!("create folder {safe_name}"),
                e,
            ));
        }
    }
    tracing::warn!(folder = %name, error = %why, "the target refused the folder");
    lock(&out.errors).insert(
        segs.clone(),
        Error::imap(Side::Target, format!("create folder {name}"), e),
    );
    out.refused.insert(
        segs,
        format!("the target refused to create folder {name}: {why}"),
    );
    Ok(())
}

/// The attribute a target folder created for `role` is given; only mapped roles have one.
fn special_use_of(role: Role) -> Option<imap::SpecialUse> {
    Some(match role {
        Role::Sent => imap::SpecialUse::Sent,
        Role::Trash => imap::SpecialUse::Trash,
        Role::Junk => imap::SpecialUse::Junk,
        Role::Drafts => imap::SpecialUse::Drafts,
        Role::Archive => imap::SpecialUse::Archive,
        Role::Inbox | Role::All | Role::Flagged => return None,
    })
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
            SkippedKind::BadItem | SkippedKind::ChangedItem => {
                stats.bad_items.fetch_add(1, Ordering::Relaxed)
            }
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
    conns: (Option<imap::Session>, Option<Target>),
    refusals: &Refusals,
    pending: &Pending,
) -> Result<(), Error> {
    let (mut src, mut dst) = conns;
    let r = work_queue(job, ctx, queue, &mut src, &mut dst, refusals, pending).await;
    close_later(src, dst);
    r
}

/// Takes folder groups off `queue` until it is empty, on the worker's connections.
async fn work_queue(
    job: &UserJob,
    ctx: &Ctx<'_>,
    queue: &Mutex<VecDeque<Vec<FolderPlan>>>,
    src: &mut Option<imap::Session>,
    dst: &mut Option<Target>,
    refusals: &Refusals,
    pending: &Pending,
) -> Result<(), Error> {
    let up = Upcoming {
        queue,
        refused: &refusals.refused,
        rest: Mutex::new(Vec::new()),
        taken: Mutex::new(None),
    };
    loop {
        let taken = lock(&up.taken).take();
        let Some(group) = taken.or_else(|| lock(queue).pop_front()) else {
            break;
        };
        let plans: Vec<&FolderPlan> = group.iter().filter(|p| !p.noselect).collect();
        for (k, &plan) in plans.iter().enumerate() {
            *lock(&up.rest) = plans[k + 1..].iter().map(|p| (*p).clone()).collect();
            if let Some(why) = refusals.refused.get(&plan.target) {
                lock(&pending.failed).push((plan.clone(), group.clone(), why.clone(), None));
                continue;
            }
            let mut failures: Option<FolderFailures> = None;
            loop {
                if ctx.cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let res = copy_on(job, ctx, plan, &group, src, dst, &up)
                    .await
                    .map_err(|e| e.in_folder(&plan.display()));
                let Err(e) = res else {
                    pending.copied.fetch_add(1, Ordering::Relaxed);
                    break;
                };
                // The connections may be mid-command: whatever comes next starts on fresh ones.
                *src = None;
                *dst = None;
                let run = FolderFailures::next(failures, std::time::Instant::now());
                failures = Some(run);
                if let Some(r) = ctx.retries.retry(&e, Some(run)) {
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
                if cannot_copy(&e) {
                    let why = folder_cause(&e);
                    lock(&pending.failed).push((plan.clone(), group.clone(), why, Some(e)));
                    break;
                }
                fail_folder(ctx, e);
                break;
            }
        }
    }
    Ok(())
}

/// What a worker copies next (`copy::NextHint`): the rest of its group, else the next group,
/// taken off the queue when a pass asks (it is then this worker's).
struct Upcoming<'q> {
    queue: &'q Mutex<VecDeque<Vec<FolderPlan>>>,
    refused: &'q HashMap<Vec<String>, String>,
    /// The plans of the current group after the one being copied.
    rest: Mutex<Vec<FolderPlan>>,
    /// The next group, once taken off the queue.
    taken: Mutex<Option<Vec<FolderPlan>>>,
}

impl copy::NextHint for Upcoming<'_> {
    fn next_folder(&self) -> Option<FolderPlan> {
        let copied = |p: &&FolderPlan| !p.noselect && !self.refused.contains_key(&p.target);
        if let Some(p) = lock(&self.rest).iter().find(copied) {
            return Some(p.clone());
        }
        let mut taken = lock(&self.taken);
        if taken.is_none() {
            *taken = lock(self.queue).pop_front();
        }
        taken.as_ref()?.iter().find(copied).cloned()
    }
}

/// Folder workers for `groups` folder groups: `parallelism` (1 to 8), within the user's
/// connection limit.
fn worker_count(parallelism: usize, per_user: usize, groups: usize) -> usize {
    parallelism.clamp(1, 8).min(per_user).min(groups.max(1))
}

/// The folder groups the workers take, in the order they take them: those sharing a target
/// folder together, those with nothing to copy (only `\Noselect`) left out, INBOX first (it
/// is what users look at).
fn copy_groups(plans: &[FolderPlan]) -> VecDeque<Vec<FolderPlan>> {
    let mut groups: Vec<Vec<FolderPlan>> = group_by_target(plans)
        .into_iter()
        .filter(|g| g.iter().any(|p| !p.noselect))
        .collect();
    groups.sort_by_key(|g| !g.iter().any(|p| p.rel == ["INBOX"]));
    groups.into()
}

/// A source and a target connection for a folder worker, opened at once. One that cannot be
/// opened is left to the worker, which connects again and reports or retries the failure as
/// for any folder.
async fn connect_pair(
    job: &UserJob,
    budget: &RetryBudget,
) -> (Option<imap::Session>, Option<Target>) {
    let (s, d) = tokio::join!(connect(job, Side::Source, budget), connect_dst(job, budget));
    let keep = |side: Side, e: Error| {
        tracing::debug!(?side, error = %e, "early connection failed; the worker connects again");
    };
    (
        s.map_err(|e| keep(Side::Source, e)).ok(),
        d.map_err(|e| keep(Side::Target, e)).ok(),
    )
}

/// Logs out of connections that are done with, without waiting for the servers' answers:
/// nothing of the pass depends on them, and at a long round trip they would add one to it.
fn close_later(src: Option<imap::Session>, dst: Option<Target>) {
    let dst = match dst {
        Some(Target::Imap(d)) => Some(d),
        _ => None,
    };
    if src.is_none() && dst.is_none() {
        return;
    }
    tokio::spawn(async move {
        let logout = async {
            let s = async {
                if let Some(s) = src {
                    let _ = s.logout().await;
                }
            };
            let d = async {
                if let Some(d) = dst {
                    let _ = d.logout().await;
                }
            };
            tokio::join!(s, d);
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), logout).await;
    });
}

/// One attempt at a folder, connecting first where the connections are gone or broken.
async fn copy_on(
    job: &UserJob,
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut Option<imap::Session>,
    dst: &mut Option<Target>,
    hint: &dyn copy::NextHint,
) -> Result<(), Error> {
    // Both at once where both are needed; the source's failure is the one reported.
    let need_src = src.as_ref().is_none_or(|s| !s.is_usable());
    let need_dst = dst.as_ref().is_none_or(|d| !d.is_usable());
    let (s, d) = tokio::join!(
        async {
            match need_src {
                true => Some(connect(job, Side::Source, ctx.retries).await),
                false => None,
            }
        },
        async {
            match need_dst {
                true => Some(connect_dst(job, ctx.retries).await),
                false => None,
            }
        },
    );
    match (s.transpose(), d.transpose()) {
        (Err(e), d) => {
            close_later(None, d.ok().flatten());
            return Err(e);
        }
        (Ok(s), Err(e)) => {
            close_later(s, None);
            return Err(e);
        }
        (Ok(s), Ok(d)) => {
            if let Some(s) = s {
                *src = Some(s);
            }
            if let Some(d) = d {
                *dst = Some(d);
            }
        }
    }
    let (Some(s), Some(d)) = (src.as_mut(), dst.as_mut()) else {
        return Err(Error::Internal("connections missing after connect".into()));
    };
    copy::copy_folder(ctx, plan, group, s, d, hint)
        .instrument(tracing::info_span!("folder", name = %plan.display()))
        .await
}

/// Folders copied in the pass, and those whose messages could not be copied (plan, its group,
/// the reason, the error), settled once every folder was tried (`settle_failed_folders`).
#[derive(Default)]
struct Pending {
    copied: std::sync::atomic::AtomicUsize,
    #[allow(
        clippy::type_complexity,
        reason = "a private list of what one pass left over"
    )]
    failed: Mutex<Vec<(FolderPlan, Vec<FolderPlan>, String, Option<Error>)>>,
}

/// Folders whose messages could not be copied: when any other folder of the user was copied,
/// their messages become skipped items and the user goes on; when none was, nothing the user
/// has could be copied and the user fails with the folders' errors.
async fn settle_failed_folders(
    job: &UserJob,
    ctx: &Ctx<'_>,
    pending: Pending,
    refusals: &Refusals,
    errors: &Mutex<Vec<Error>>,
) {
    let failed = pending
        .failed
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if failed.is_empty() || ctx.cancel.is_cancelled() {
        return;
    }
    let cause = |plan: &FolderPlan, why: &str, e: Option<Error>| {
        e.or_else(|| lock(&refusals.errors).remove(&plan.target))
            .unwrap_or_else(|| Error::Internal(why.to_string()))
            .in_folder(&plan.display())
    };
    if pending.copied.load(Ordering::Relaxed) == 0 {
        for (plan, _, why, e) in failed {
            fail_folder(ctx, cause(&plan, &why, e));
        }
        return;
    }
    let mut src: Option<imap::Session> = None;
    for (plan, group, why, e) in failed {
        if ctx.cancel.is_cancelled() {
            return;
        }
        if let Err(e) = skip_or_fail(
            job,
            ctx,
            &plan,
            &group,
            &mut src,
            &why,
            Some(cause(&plan, &why, e)),
        )
        .await
        {
            lock(errors).push(e);
            return;
        }
    }
    if let Some(s) = src {
        let _ = s.logout().await;
    }
}

/// Records a folder that failed for good: the user fails with it.
fn fail_folder(ctx: &Ctx<'_>, e: Error) {
    tracing::error!(error = %e, "folder failed");
    let _ = ctx.store.insert_event(&Event::new(
        Some(ctx.user_id),
        None,
        EventLevel::Error,
        e.to_string(),
    ));
    lock(&ctx.stats.folder_errors).push(e);
}

/// A folder whose messages cannot be copied (`why`): they become skipped items and the user
/// goes on; when even that fails (the source cannot list the folder), the folder fails with
/// `cause` (or the listing's error). Errors that end the user (a limit) are returned.
async fn skip_or_fail(
    job: &UserJob,
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut Option<imap::Session>,
    why: &str,
    cause: Option<Error>,
) -> Result<(), Error> {
    let res = async {
        if src.as_ref().is_none_or(|s| !s.is_usable()) {
            *src = Some(connect(job, Side::Source, ctx.retries).await?);
        }
        let Some(s) = src.as_mut() else {
            return Err(Error::Internal(
                "source connection missing after connect".into(),
            ));
        };
        copy::skip_folder(ctx, plan, group, s, why).await
    }
    .instrument(tracing::info_span!("folder", name = %plan.display()))
    .await
    .map_err(|e| e.in_folder(&plan.display()));
    match res {
        Ok(n) => {
            let msg = format!(
                "folder {} could not be copied, its {n} messages not on the target are reported as skipped items: {why}",
                plan.display()
            );
            tracing::warn!("{msg}");
            let _ = ctx.store.insert_event(&Event::new(
                Some(ctx.user_id),
                None,
                EventLevel::Warning,
                msg,
            ));
            Ok(())
        }
        Err(e) if is_fatal(&e) => Err(e),
        Err(e) => {
            *src = None;
            fail_folder(ctx, cause.unwrap_or(e));
            Ok(())
        }
    }
}

/// Whether a folder's last error, after its retries, means its messages cannot be copied
/// (a server refusing the folder or its messages, answering wrongly, a Maildir folder that
/// cannot be written) rather than that a server is out of reach, which fails the user.
fn cannot_copy(e: &Error) -> bool {
    match e {
        Error::Folder { source, .. } => cannot_copy(source),
        Error::Imap { source, .. } => !matches!(
            source,
            imap::Error::Connect { .. } | imap::Error::Io { .. } | imap::Error::Timeout { .. }
        ),
        Error::Protocol { .. } | Error::Incomplete { .. } | Error::Maildir { .. } => true,
        _ => false,
    }
}

/// The error inside a folder error, for a skipped item's reason (the folder is its own column).
fn folder_cause(e: &Error) -> String {
    match e {
        Error::Folder { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}
