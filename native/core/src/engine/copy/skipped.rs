//! Items not copied, for the skipped-items report: messages over the size limit (LargeItem,
//! found while planning) and messages the target refused (BadItem, found while writing). Each
//! counts against its limit, including those skipped in earlier passes.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::Utc;
use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState, SkippedItem, SkippedKind};

use super::super::error::Error;
use super::super::plan::SourceMeta;
use super::context::{FolderPass, rfc3339, st};
use super::stream::FETCH_BATCH;

/// Subject, sender and Date header of a message.
pub(super) type Headers = (Option<String>, Option<String>, Option<String>);

/// Records messages over `max_message_size` as LargeItem: rows in state 2, so they are not
/// reconsidered every pass, and a skipped item each with the headers the report shows.
pub(super) async fn record_large(
    pass: &FolderPass<'_>,
    src: &mut imap::Session,
    large: &[SourceMeta],
) -> Result<(), Error> {
    if large.is_empty() {
        return Ok(());
    }
    let headers = large_item_headers(src, large).await;
    let ctx = pass.ctx;
    let max = ctx.opts.max_message_size.unwrap_or_default();
    let rows: Vec<MessageRow> = large
        .iter()
        .map(|m| MessageRow {
            src_uid: m.uid,
            state: MessageState::Skipped,
            dst_uid: None,
            size: m.size,
            internal_date: m.date,
            msg_key: m
                .message_id
                .clone()
                .unwrap_or_else(|| format!("large:{}", m.uid)),
            flags: String::new(),
        })
        .collect();
    ctx.store
        .messages_insert(pass.folder_id, &rows)
        .map_err(st("record skipped messages"))?;
    for m in large {
        let (subject, sender, date_sent) = headers.get(&m.uid).cloned().unwrap_or_default();
        let item = SkippedItem {
            id: 0,
            user_id: ctx.user_id,
            folder: pass.plan.display(),
            src_uid: Some(m.uid),
            kind: SkippedKind::LargeItem,
            subject,
            sender,
            date_sent,
            date_received: Some(rfc3339(m.date)),
            size: Some(m.size),
            reason: format!(
                "the message is {} bytes, larger than the maximum message size of {max} bytes",
                m.size
            ),
            created_at: Utc::now(),
        };
        ctx.store
            .insert_skipped_item(&item)
            .map_err(st("record skipped item"))?;
    }
    let n = large.len() as u64;
    ctx.stats.skipped.fetch_add(n, Ordering::Relaxed);
    ctx.progress.skipped(n);
    let count = ctx.stats.large_items.fetch_add(n, Ordering::Relaxed) + n;
    if let Some(limit) = ctx.opts.large_item_limit
        && count > limit
    {
        return Err(Error::LargeItemLimitExceeded { limit, count });
    }
    Ok(())
}

/// Subject, sender and sent date of messages too large to copy, for the skipped-items report
/// (Exchange's SkippedItems show them). A failure here only leaves the report thinner.
async fn large_item_headers(
    src: &mut imap::Session,
    large: &[SourceMeta],
) -> HashMap<u32, Headers> {
    let mut out = HashMap::new();
    let uids: Vec<u32> = large.iter().map(|m| m.uid).collect();
    for c in uids.chunks(FETCH_BATCH) {
        match src
            .fetch_headers(&imap::UidSet::from_iter(c), &["SUBJECT", "FROM", "DATE"])
            .await
        {
            Ok(v) => {
                for (uid, raw) in v {
                    out.insert(uid, summary_headers(&raw));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the headers of large messages");
                break;
            }
        }
    }
    out
}

/// A message the target refused for good, as the writer knew it.
pub(super) struct Refused {
    pub uid: u32,
    pub size: u64,
    pub date: i64,
    pub headers: Headers,
}

/// Records a message the target refused as a BadItem and enforces `-BadItemLimit`.
pub(super) fn record_bad(
    pass: &FolderPass<'_>,
    item: Refused,
    refusal: &imap::ServerRefusal,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let (subject, sender, date_sent) = item.headers;
    let inserted = ctx
        .store
        .insert_skipped_item(&SkippedItem {
            id: 0,
            user_id: ctx.user_id,
            folder: pass.plan.display(),
            src_uid: Some(item.uid),
            kind: SkippedKind::BadItem,
            subject,
            sender,
            date_sent,
            date_received: Some(rfc3339(item.date)),
            size: Some(item.size),
            reason: format!("the target refused the message: {refusal}"),
            created_at: Utc::now(),
        })
        .map_err(st("record skipped item"))?;
    if inserted.is_none() {
        // Refused again on a retried or resumed pass: reported and counted the first time.
        return Ok(());
    }
    ctx.stats.skipped.fetch_add(1, Ordering::Relaxed);
    ctx.progress.skipped(1);
    let count = ctx.stats.bad_items.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(limit) = ctx.opts.bad_item_limit
        && count > limit
    {
        return Err(Error::BadItemLimitExceeded { limit, count });
    }
    Ok(())
}

/// Subject, sender and Date header of a message, for skipped-item reports.
pub(super) fn summary_headers(body: &[u8]) -> Headers {
    let head_end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| body.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(body.len().min(64 * 1024));
    let text = String::from_utf8_lossy(&body[..head_end.min(64 * 1024)]);
    let (mut subject, mut from, mut date) = (None, None, None);
    let mut current: Option<(String, String)> = None;
    let mut flush = |c: Option<(String, String)>| {
        if let Some((name, value)) = c {
            let v = Some(value.trim().to_string());
            match name.as_str() {
                "subject" if subject.is_none() => subject = v,
                "from" if from.is_none() => from = v,
                "date" if date.is_none() => date = v,
                _ => {}
            }
        }
    };
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        flush(current.take());
        if let Some((n, v)) = line.split_once(':') {
            current = Some((n.trim().to_ascii_lowercase(), v.to_string()));
        }
    }
    flush(current.take());
    (subject, from, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_headers_unfold() {
        let (s, f, d) = summary_headers(
            b"From: A <a@x>\r\nSubject: hello\r\n world\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nSubject: no",
        );
        assert_eq!(s.as_deref(), Some("hello world"));
        assert_eq!(f.as_deref(), Some("A <a@x>"));
        assert_eq!(d.as_deref(), Some("Mon, 1 Jan 2024 00:00:00 +0000"));
    }
}
