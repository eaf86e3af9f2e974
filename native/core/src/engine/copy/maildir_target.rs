//! The Maildir target folder: messages delivered through `tmp/` into `cur/` with the row's key
//! in the file name, which makes the in-flight check after a crash exact; flags and keywords in
//! the file name and `dovecot-keywords`. All file work runs off the async threads.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use imapmigration_store::{Event, EventLevel, MessageRow, MessageState};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::super::error::Error;
use super::super::flags::FlagSet;
use super::super::maildir::{Delivery, FileEntry, FileKey, Keywords, MaildirTarget};
use super::super::plan::Ident;
use super::context::{FolderPass, blocking, st};
use super::stream::{Commit, Item, begin_rows, commit, next_group};
use super::target::{FlagPolicy, FlagWork, Located, Siblings, TargetFolder, TargetMessage};

/// The lock of one Maildir folder directory, shared by every pass of this process. A blocking
/// file task goes on after the pass that started it was dropped (an aborted task): a resumed
/// pass must not scan the folder for rows in flight, nor clear its `tmp/`, while such a
/// delivery is still renaming files into `cur/`, or it would deliver them a second time.
fn folder_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        // A poisoned map only means a panic mid-insert; the entries are still valid.
        .unwrap_or_else(|p| p.into_inner());
    if let Some(l) = map.get(dir).and_then(Weak::upgrade) {
        return l;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let l = Arc::new(Mutex::new(()));
    map.insert(dir.to_path_buf(), Arc::downgrade(&l));
    l
}

/// Runs `f` off the async threads holding the lock of folder `dir`.
async fn locked<T, F>(dir: &Path, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let lock = folder_lock(dir);
    blocking(move || {
        // Poisoned: a task panicked mid-delivery; the files are what the scan will see.
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        f()
    })
    .await
}

/// A folder of the user's Maildir, created if missing.
pub(super) struct MaildirFolder {
    target: MaildirTarget,
    dir: PathBuf,
    keywords: Keywords,
    policy: FlagPolicy,
}

/// A message file found while rebuilding, with the key its name carries, if ours.
pub(super) type FoundFile = (FileEntry, Option<FileKey>);

impl MaildirFolder {
    /// Opens (creating) the folder `segs`, clearing what an interrupted delivery left in `tmp/`.
    pub async fn open(target: &MaildirTarget, segs: &[String]) -> Result<Self, Error> {
        let m = target.clone();
        let segs = segs.to_vec();
        let (dir, keywords) = blocking(move || {
            let dir = m.create_folder(&segs)?;
            let lock = folder_lock(&dir);
            let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
            m.clean_tmp(&dir)?;
            let kw = Keywords::load(&dir);
            Ok((dir, kw))
        })
        .await
        .map_err(|e| Error::maildir("open folder in", target.root().to_path_buf(), e))?;
        Ok(MaildirFolder {
            target: target.clone(),
            dir,
            keywords,
            // Maildir keeps any flag (keywords past the 26 letters of a folder are reported
            // when delivering).
            policy: FlagPolicy {
                keywords: true,
                permanent: FlagSet::default(),
            },
        })
    }

    /// A folder whose Maildir++ name is longer than a file name may be is kept under a
    /// shortened name (`maildir::shortened_dir_name`); the user's report says which, once:
    /// while the folder holds none of our messages yet.
    async fn report_short_name(&self, pass: &FolderPass<'_>) {
        if !super::super::maildir::is_shortened(&pass.plan.target) {
            return;
        }
        let (t, d) = (self.target.clone(), self.dir.clone());
        let fresh = blocking(move || t.scan(&d).map(|s| s.ours.is_empty()))
            .await
            .unwrap_or(true);
        if !fresh {
            return;
        }
        let on_disk = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let msg = format!(
            "folder {}: its Maildir++ name is longer than the {} bytes a file name may have; it is stored as {on_disk}, which Dovecot shows as its name",
            pass.plan.display(),
            super::super::maildir::NAME_MAX
        );
        tracing::warn!("{msg}");
        let _ = pass.ctx.store.insert_event(&Event::new(
            Some(pass.ctx.user_id),
            None,
            EventLevel::Warning,
            msg,
        ));
    }

    fn key(&self, pass: &FolderPass<'_>, uid: u32) -> FileKey {
        FileKey {
            folder_id: pass.folder_id,
            uidvalidity: pass.src_validity,
            uid,
        }
    }

    /// Delivers one group in one blocking task; returns keywords that did not fit.
    async fn deliver(
        &mut self,
        deliveries: Vec<Delivery>,
        permits: Vec<OwnedSemaphorePermit>,
    ) -> Result<Vec<String>, Error> {
        let (t, d) = (self.target.clone(), self.dir.clone());
        let mut kw = std::mem::take(&mut self.keywords);
        let (kw, res) = locked(&self.dir, move || {
            let r = t.deliver(&d, &mut kw, &deliveries);
            drop(permits);
            Ok((kw, r))
        })
        .await
        .map_err(|e| Error::maildir("deliver into", self.dir.clone(), e))?;
        self.keywords = kw;
        let dropped = res.map_err(|e| Error::maildir("deliver into", self.dir.clone(), e))?;
        Ok(dropped.into_iter().flatten().collect())
    }
}

impl TargetFolder for MaildirFolder {
    type Found = FoundFile;

    fn uid_validity(&self) -> Option<u32> {
        None
    }

    fn flag_policy(&self) -> &FlagPolicy {
        &self.policy
    }

    /// Deliveries of this process are waited for ([`folder_lock`]); a dead one's cannot land.
    fn lands_late(&self) -> bool {
        false
    }

    async fn refresh(&mut self) -> Result<(), Error> {
        Ok(())
    }

    async fn is_empty(&mut self) -> Result<bool, Error> {
        let (m, d) = (self.target.clone(), self.dir.clone());
        let scan = locked(&self.dir, move || m.scan(&d))
            .await
            .map_err(|e| Error::maildir("list", self.dir.clone(), e))?;
        Ok(scan.ours.is_empty() && scan.foreign.is_empty())
    }

    /// The file key in the name says exactly which rows landed.
    async fn locate_in_flight(
        &mut self,
        pass: &FolderPass<'_>,
        rows: &[MessageRow],
    ) -> Result<Located, Error> {
        let (t, d) = (self.target.clone(), self.dir.clone());
        let scan = locked(&self.dir, move || t.scan(&d))
            .await
            .map_err(|e| Error::maildir("list", self.dir.clone(), e))?;
        let mut out = Located::default();
        for r in rows.iter().filter(|r| r.state == MessageState::InFlight) {
            if scan.ours.contains_key(&self.key(pass, r.src_uid)) {
                out.found
                    .push((r.src_uid, MessageState::Copied, None, r.flags.clone()));
            } else {
                out.lost.push(r.src_uid);
            }
        }
        Ok(out)
    }

    async fn apply_flags(
        &mut self,
        pass: &FolderPass<'_>,
        work: &FlagWork<'_>,
    ) -> Result<Vec<u32>, Error> {
        let work: Vec<_> = work
            .iter()
            .map(|(d, rs)| {
                let keys: Vec<(u32, FileKey)> = rs
                    .iter()
                    .map(|r| (r.src_uid, self.key(pass, r.src_uid)))
                    .collect();
                (d.clone(), keys)
            })
            .collect();
        let (t, dd) = (self.target.clone(), self.dir.clone());
        let mut kw = std::mem::take(&mut self.keywords);
        let (kw, done) = locked(&self.dir, move || {
            let scan = t.scan(&dd)?;
            let mut done = Vec::new();
            for (d, keys) in work {
                for (uid, key) in keys {
                    let Some(e) = scan.ours.get(&key) else {
                        continue;
                    };
                    let new = d.apply(&kw.flags(&e.letters));
                    match t.set_flags(&dd, &mut kw, e, &new) {
                        Ok(_) => done.push(uid),
                        // Renamed meanwhile (a user's client): it is picked up next pass.
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            Ok((kw, done))
        })
        .await
        .map_err(|e| Error::maildir("set flags in", self.dir.clone(), e))?;
        self.keywords = kw;
        Ok(done)
    }

    async fn inventory(
        &mut self,
        _pass: &FolderPass<'_>,
        siblings: &Siblings,
        want_hash: bool,
    ) -> Result<Vec<TargetMessage<FoundFile>>, Error> {
        let (t, d, kw) = (self.target.clone(), self.dir.clone(), self.keywords.clone());
        let inv = locked(&self.dir, move || t.inventory(&d, &kw, want_hash))
            .await
            .map_err(|e| Error::maildir("read", self.dir.clone(), e))?;
        Ok(inv
            .into_iter()
            .filter(|i| {
                !i.key
                    .is_some_and(|k| siblings.folder_ids.contains(&k.folder_id))
            })
            .map(|i| {
                let key = i
                    .message_id
                    .clone()
                    .unwrap_or_else(|| format!("unknown:{}", i.entry.name));
                TargetMessage {
                    ident: Ident {
                        key,
                        size: i.size,
                        date: i.date,
                    },
                    flags: i.flags,
                    found: (i.entry, i.key),
                }
            })
            .collect())
    }

    fn target_uid(_: &FoundFile) -> Option<u32> {
        None
    }

    /// Renames adopted files whose name carries another key, so the in-flight check stays exact.
    async fn adopt(
        &mut self,
        pass: &FolderPass<'_>,
        adopted: Vec<(FoundFile, u32)>,
    ) -> Result<(), Error> {
        let rekeys: Vec<(FileEntry, FileKey)> = adopted
            .into_iter()
            .filter_map(|((entry, key), uid)| {
                let want = self.key(pass, uid);
                (key != Some(want)).then_some((entry, want))
            })
            .collect();
        if rekeys.is_empty() {
            return Ok(());
        }
        let (t, d) = (self.target.clone(), self.dir.clone());
        locked(&self.dir, move || {
            for (e, k) in rekeys {
                match t.rekey(&d, &e, k) {
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::maildir("rename files in", self.dir.clone(), e))
    }

    async fn write(
        &mut self,
        pass: &FolderPass<'_>,
        mut rx: mpsc::Receiver<Item>,
        _expected: usize,
    ) -> Result<(), Error> {
        let ctx = pass.ctx;
        self.report_short_name(pass).await;
        let (window, chunk) = (ctx.window.bytes(), ctx.opts.chunk.max(1));
        let mut dropped_kw: HashSet<String> = HashSet::new();
        while let Some(group) = next_group(&mut rx, chunk, window).await {
            if ctx.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            ctx.store
                .messages_begin(pass.folder_id, &begin_rows(&group))
                .map_err(st("begin messages"))?;
            let mut pending: Vec<Commit> = Vec::with_capacity(group.len());
            let mut sizes = HashMap::new();
            let mut deliveries = Vec::with_capacity(group.len());
            let mut permits = Vec::with_capacity(group.len());
            for it in group {
                sizes.insert(it.uid, it.body.len() as u64);
                pending.push((it.uid, MessageState::Copied, None, it.flags.to_stored()));
                deliveries.push(Delivery {
                    key: self.key(pass, it.uid),
                    body: it.body,
                    flags: it.flags,
                    date: it.date.timestamp(),
                });
                permits.push(it.permit);
                permits.extend(it.reserved);
            }
            dropped_kw.extend(self.deliver(deliveries, permits).await?);
            commit(ctx, pass.folder_id, &mut pending, &mut sizes)?;
        }
        if !dropped_kw.is_empty() {
            let mut v: Vec<String> = dropped_kw.into_iter().collect();
            v.sort();
            let msg = format!(
                "folder {}: keywords beyond the 26 a Maildir folder can hold were not kept: {}",
                pass.plan.display(),
                v.join(" ")
            );
            tracing::warn!("{msg}");
            let _ = ctx.store.insert_event(&Event::new(
                Some(ctx.user_id),
                None,
                EventLevel::Warning,
                msg,
            ));
        }
        Ok(())
    }
}
