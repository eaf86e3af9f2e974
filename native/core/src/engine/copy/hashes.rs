//! Body keys (`plan::body_key`) of messages without a Message-ID, read for a rebuild (both
//! sides) and for the in-flight check on an IMAP target, and of every message appended when
//! the content is verified (`imap_target::verify_content`). These bodies are fetched under the
//! same process memory budget as the copy (`engine::budget`): each fetch's declared bytes are
//! reserved before it is sent, and each body is dropped as soon as it is hashed, so four
//! folders rebuilt at once hold no more than the budget.

use std::collections::HashMap;

use futures::StreamExt;
use imapmigration_imap as imap;

use super::super::budget::memory_budget;
use super::super::error::{Error, Side};
use super::super::plan::body_key;
use super::context::Ctx;
use super::stream::{FETCH_BATCH, fetch_batches};

/// The body key of each message in `wanted` (UID, declared size), by UID, fetched from `s` on
/// `side`. A UID the server does not return is left out: the caller treats the message as
/// unmatched (copied, or looked for again), never as matched.
pub(super) async fn body_keys(
    ctx: &Ctx<'_>,
    s: &mut imap::Session,
    side: Side,
    wanted: &[(u32, u64)],
) -> Result<HashMap<u32, String>, Error> {
    let budget = memory_budget();
    let mut out = HashMap::with_capacity(wanted.len());
    for batch in fetch_batches(wanted, |m| m.1, FETCH_BATCH, budget.bytes()) {
        let declared: u64 = batch.iter().map(|m| m.1).sum();
        let _reserved = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
            r = budget.reserve(declared) => r?,
        };
        let largest = batch.iter().map(|m| m.1).max().unwrap_or_default();
        s.reserve_literals_up_to(largest.min(budget.bytes() as u64) as usize);
        let uids: Vec<u32> = batch.iter().map(|m| m.0).collect();
        let set = imap::UidSet::from_iter(&uids);
        let mut stream = std::pin::pin!(s.fetch_bodies(&set));
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| Error::imap(side, "fetch messages", e))?;
            out.insert(b.uid, body_key(&b.body));
        }
    }
    Ok(out)
}
