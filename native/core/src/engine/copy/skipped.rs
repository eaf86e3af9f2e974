//! Items not copied, for the skipped-items report: messages over the size limit (LargeItem,
//! found while planning), messages the target refused (BadItem, found while writing) and
//! messages the target stored changed (ChangedItem, found checking what landed). Each counts
//! against its limit (ChangedItem against -BadItemLimit), including those skipped in earlier
//! passes.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::Utc;
use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState, SkippedItem, SkippedKind};
use mailparse::MailHeaderMap;

use super::super::error::Error;
use super::super::plan::SourceMeta;
use super::context::{FolderPass, rfc3339, st};
use super::stream::FETCH_BATCH;

/// What a skipped-items report shows of a message's header: Subject and From with their
/// encoded words decoded, the To and Cc recipients, and the Date header as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Headers {
    pub subject: Option<String>,
    pub sender: Option<String>,
    pub recipients: Vec<String>,
    pub date_sent: Option<String>,
}

/// Records messages over `max_message_size` as LargeItem: rows in state 2, so they are not
/// reconsidered every pass, and a skipped item each with the headers the report shows.
pub(super) async fn record_large(
    pass: &FolderPass<'_>,
    src: &mut imap::Session,
    large: &[SourceMeta],
    max: u64,
) -> Result<(), Error> {
    if large.is_empty() {
        return Ok(());
    }
    let headers = large_item_headers(src, large).await;
    let ctx = pass.ctx;
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
        let h = headers.get(&m.uid).cloned().unwrap_or_default();
        let item = SkippedItem {
            id: 0,
            user_id: ctx.user_id,
            folder: pass.plan.display(),
            src_uid: Some(m.uid),
            kind: SkippedKind::LargeItem,
            subject: h.subject,
            sender: h.sender,
            recipients: h.recipients,
            date_sent: h.date_sent,
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
pub(super) async fn large_item_headers(
    src: &mut imap::Session,
    large: &[SourceMeta],
) -> HashMap<u32, Headers> {
    let mut out = HashMap::new();
    let uids: Vec<u32> = large.iter().map(|m| m.uid).collect();
    for c in uids.chunks(FETCH_BATCH) {
        match src
            .fetch_headers(
                &imap::UidSet::from_iter(c),
                &["SUBJECT", "FROM", "TO", "CC", "DATE"],
            )
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
    record_bad_because(
        pass,
        item,
        format!("the target refused the message: {refusal}"),
    )
}

/// Records a message that cannot be copied as a BadItem with `reason` and enforces
/// `-BadItemLimit`.
pub(super) fn record_bad_because(
    pass: &FolderPass<'_>,
    item: Refused,
    reason: String,
) -> Result<(), Error> {
    record_counted(pass, item, SkippedKind::BadItem, reason)
}

/// How a message the target stores differs from the bytes sent (the source's message with
/// CRLF line ends, so never by line-end normalization alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// Another `RFC822.SIZE` than the `sent` bytes.
    Size { sent: u64, stored: u64 },
    /// The same size, other bytes: the digests of what was sent and of what the target
    /// stores, in `algorithm`: SHA-256 (`plan::body_key`, `sha256:<hex>`) of what it returns
    /// for `BODY.PEEK[]` (content verification), or SHA-1 (hex) from its `DIGEST.SHA1`.
    Content {
        algorithm: &'static str,
        size: u64,
        sent: String,
        stored: String,
    },
}

/// The reason a ChangedItem gives: what differed, in bytes or in SHA-256.
fn change_reason(source: u64, change: &Change) -> String {
    let as_sent = |sent: u64| {
        if sent == source {
            String::new()
        } else {
            format!(" ({sent} with CRLF line ends, as sent)")
        }
    };
    match change {
        Change::Size { sent, stored } => format!(
            "changed by the target server: it stores {stored} bytes where the source's message has {source}{}",
            as_sent(*sent)
        ),
        Change::Content {
            algorithm,
            size,
            sent,
            stored,
        } => {
            let hex = |k: &str| k.strip_prefix("sha256:").unwrap_or(k).to_string();
            format!(
                "changed by the target server: the target stored different bytes ({algorithm} {}) than were sent ({algorithm} {}), at the same size of {size} bytes",
                hex(stored),
                hex(sent)
            )
        }
    }
}

/// Records a message the target stored changed (ChangedItem): it is on the target, other than
/// the bytes sent as `change` says. Counts against `-BadItemLimit`.
pub(super) fn record_changed(
    pass: &FolderPass<'_>,
    item: Refused,
    change: Change,
) -> Result<(), Error> {
    let reason = change_reason(item.size, &change);
    tracing::warn!(
        uid = item.uid,
        ?change,
        "the target changed a message on APPEND"
    );
    record_counted(pass, item, SkippedKind::ChangedItem, reason)
}

/// Records a skipped item of `kind` that counts against `-BadItemLimit`, and enforces it.
fn record_counted(
    pass: &FolderPass<'_>,
    item: Refused,
    kind: SkippedKind,
    reason: String,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let h = item.headers;
    let inserted = ctx
        .store
        .insert_skipped_item(&SkippedItem {
            id: 0,
            user_id: ctx.user_id,
            folder: pass.plan.display(),
            src_uid: Some(item.uid),
            kind,
            subject: h.subject,
            sender: h.sender,
            recipients: h.recipients,
            date_sent: h.date_sent,
            date_received: Some(rfc3339(item.date)),
            size: Some(item.size),
            reason,
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

/// The header summary of a message for skipped-item reports, read with a mail parser: folded
/// lines joined, RFC 2047 encoded words decoded (`=?UTF-8?B?...?=`), To and Cc split into their
/// addresses. Only the first 64 KiB are looked at; a header that cannot be parsed leaves the
/// summary empty rather than failing the report.
pub(super) fn summary_headers(body: &[u8]) -> Headers {
    let head = &body[..body.len().min(64 * 1024)];
    let Ok((headers, _)) = mailparse::parse_headers(head) else {
        return Headers::default();
    };
    let first = |name: &str| {
        headers
            .get_first_value(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut recipients = Vec::new();
    for h in headers
        .get_all_headers("To")
        .into_iter()
        .chain(headers.get_all_headers("Cc"))
    {
        match mailparse::addrparse_header(h) {
            Ok(list) => {
                for addr in list.iter() {
                    match addr {
                        mailparse::MailAddr::Single(one) => recipients.push(one.to_string()),
                        mailparse::MailAddr::Group(g) => {
                            recipients.extend(g.addrs.iter().map(ToString::to_string));
                        }
                    }
                }
            }
            // Not an address list a parser accepts: the text as it decodes.
            Err(_) => recipients.push(h.get_value().trim().to_string()),
        }
    }
    recipients.retain(|r| !r.is_empty());
    Headers {
        subject: first("Subject"),
        sender: first("From"),
        recipients,
        date_sent: first("Date"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_headers_unfold() {
        let h = summary_headers(
            b"From: A <a@x>\r\nSubject: hello\r\n world\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nSubject: no",
        );
        assert_eq!(h.subject.as_deref(), Some("hello world"));
        assert_eq!(h.sender.as_deref(), Some("A <a@x>"));
        assert_eq!(
            h.date_sent.as_deref(),
            Some("Mon, 1 Jan 2024 00:00:00 +0000")
        );
        assert!(h.recipients.is_empty());
    }

    #[test]
    fn summary_headers_decode_encoded_words_and_list_recipients() {
        let h = summary_headers(
            b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.com>\r\n\
              To: Ann <ann@example.com>, bob@example.com\r\n\
              Cc: team: carl@example.com, dora@example.com;\r\n\
              Subject: =?UTF-8?B?UXVhcnRhbHN6YWhsZW4gw5xiZXJzaWNodA==?=\r\n\
              \r\nbody",
        );
        assert_eq!(h.subject.as_deref(), Some("Quartalszahlen \u{dc}bersicht"));
        assert!(
            h.sender
                .as_deref()
                .is_some_and(|s| s.contains("J\u{fc}rgen M\u{fc}ller")),
            "{h:?}"
        );
        assert_eq!(h.recipients.len(), 4, "{h:?}");
        assert!(h.recipients[0].contains("ann@example.com"), "{h:?}");
        assert_eq!(h.recipients[1], "bob@example.com");
        assert!(h.recipients[3].contains("dora@example.com"), "{h:?}");
    }

    #[test]
    fn a_changed_item_names_what_differed() {
        let size = change_reason(
            100,
            &Change::Size {
                sent: 102,
                stored: 130,
            },
        );
        assert_eq!(
            size,
            "changed by the target server: it stores 130 bytes where the source's message has 100 (102 with CRLF line ends, as sent)"
        );
        let content = change_reason(
            102,
            &Change::Content {
                algorithm: "SHA-256",
                size: 102,
                sent: "sha256:aa".into(),
                stored: "sha256:bb".into(),
            },
        );
        assert_eq!(
            content,
            "changed by the target server: the target stored different bytes (SHA-256 bb) than were sent (SHA-256 aa), at the same size of 102 bytes"
        );
        let digest = change_reason(
            52,
            &Change::Content {
                algorithm: "SHA-1",
                size: 52,
                sent: "b608".into(),
                stored: "5d35".into(),
            },
        );
        assert_eq!(
            digest,
            "changed by the target server: the target stored different bytes (SHA-1 5d35) than were sent (SHA-1 b608), at the same size of 52 bytes"
        );
    }

    #[test]
    fn summary_headers_of_bare_lf_messages() {
        let h = summary_headers(b"Subject: plain\nTo: x@y.z\n\nbody");
        assert_eq!(h.subject.as_deref(), Some("plain"));
        assert_eq!(h.recipients, vec!["x@y.z".to_string()]);
    }
}
