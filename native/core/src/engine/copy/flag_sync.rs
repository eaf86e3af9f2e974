//! Flag sync for incremental passes: flag changes made on the source since the last pass are
//! applied to the target as the difference between what we applied then (the row's `flags`) and
//! the source's flags now, so changes made on the target meanwhile are kept.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use imapmigration_store::{MessageRow, MessageState};

use super::super::error::Error;
use super::super::flags::{FlagSet, delta};
use super::context::{FolderPass, st};
use super::target::{FlagWork, TargetFolder};

/// Applies the source's flag changes (`src_flags`: the flags now, by source UID) to copied
/// messages and records what was applied.
pub(super) async fn sync_flags<F: TargetFolder>(
    pass: &FolderPass<'_>,
    rows: &[MessageRow],
    src_flags: &HashMap<u32, Vec<String>>,
    dst: &mut F,
) -> Result<(), Error> {
    if src_flags.is_empty() {
        return Ok(());
    }
    let policy = dst.flag_policy().clone();
    let mut work: FlagWork<'_> = FlagWork::new();
    let mut now_of: HashMap<u32, String> = HashMap::new();
    for r in rows.iter().filter(|r| r.state == MessageState::Copied) {
        let Some(f) = src_flags.get(&r.src_uid) else {
            continue;
        };
        let now = policy.restrict(&FlagSet::from_flags(f));
        let d = delta(&FlagSet::parse(&r.flags), &now);
        if !d.is_empty() {
            now_of.insert(r.src_uid, now.to_stored());
            work.entry(d).or_default().push(r);
        }
    }
    if work.is_empty() {
        return Ok(());
    }
    let applied: Vec<(u32, String)> = dst
        .apply_flags(pass, &work)
        .await?
        .into_iter()
        .filter_map(|u| now_of.get(&u).map(|f| (u, f.clone())))
        .collect();
    let n = pass
        .ctx
        .store
        .messages_update_flags(pass.folder_id, &applied)
        .map_err(st("record flags"))?;
    pass.ctx
        .stats
        .flags_updated
        .fetch_add(n as u64, Ordering::Relaxed);
    tracing::info!(messages = n, "flags updated");
    Ok(())
}
