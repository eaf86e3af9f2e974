//! Planning one folder pass: which source messages are new, in which order, which are too
//! large, and how source messages pair with messages already on the target when UIDs can no
//! longer be trusted (UIDVALIDITY changed, RFC 3501 §2.3.1.1) or an APPEND's fate is unknown.
//!
//! Identity of a message across servers is (msg_key, size, INTERNALDATE), where msg_key is the
//! Message-ID (RFC 5322 §3.6.4) or, without one, `sha256:<hex of BODY[]>`. Matching respects
//! multiplicity: two identical messages on the source need two on the target.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

use super::filter::ReceivedFilter;

/// What identifies a message across servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    /// The msg_key ([`msg_key`]): the normalized Message-ID, else `sha256:<hex>` of the body.
    pub key: String,
    /// Size in bytes: RFC822.SIZE on a server, the file's length in a Maildir.
    pub size: u64,
    /// INTERNALDATE in Unix seconds (a Maildir file's mtime, which delivery sets to it).
    pub date: i64,
}

/// The msg_key of a body without a Message-ID: SHA-256 of its normalized form (line ends as
/// CRLF, see [`normalized_size`]), so that a target storing the message with CRLF gives the
/// same key as the source sending it with bare LF.
pub fn body_key(body: &[u8]) -> String {
    let mut k = BodyKeyHasher::default();
    k.update(body);
    k.finish()
}

/// [`body_key`] over a body read in pieces (a file), never held whole: a bare LF is one not
/// preceded by CR, also when the CR ended the previous piece.
#[derive(Default)]
pub struct BodyKeyHasher {
    h: Sha256,
    last_was_cr: bool,
}

impl BodyKeyHasher {
    /// Adds the next piece of the body.
    pub fn update(&mut self, piece: &[u8]) {
        let Some(&last) = piece.last() else {
            return;
        };
        let mut start = 0;
        for (i, b) in piece.iter().enumerate() {
            let after_cr = if i == 0 {
                self.last_was_cr
            } else {
                piece[i - 1] == b'\r'
            };
            if *b == b'\n' && !after_cr {
                self.h.update(&piece[start..i]);
                self.h.update(b"\r\n");
                start = i + 1;
            }
        }
        self.h.update(&piece[start..]);
        self.last_was_cr = last == b'\r';
    }

    /// The msg_key of everything added.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.h.finalize()))
    }
}

/// The size of a message once its line ends are CRLF (RFC 5322 §2.3): each bare LF counts as
/// CRLF. Servers that store messages with CRLF (Dovecot, Cyrus) report this as RFC822.SIZE
/// of a message sent with bare LF, so it is the size a copy is recognized by on the target:
/// in the rows (checked after an interrupted pass) and when rebuilding.
pub fn normalized_size(body: &[u8]) -> u64 {
    let mut n = 0u64;
    for_each_normalized(body, |part| n += part.len() as u64);
    n
}

/// `body` with CRLF line ends, when it has a bare LF: what is sent to an IMAP target, which
/// stores CRLF anyway (Dovecot) or refuses bare newlines (Cyrus). `None` when already CRLF.
pub fn crlf_body(body: &[u8]) -> Option<Vec<u8>> {
    let n = normalized_size(body);
    if n == body.len() as u64 {
        return None;
    }
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX));
    for_each_normalized(body, |part| out.extend_from_slice(part));
    Some(out)
}

/// Feeds `body` to `f` with every bare LF given as CRLF, in slices of the original.
fn for_each_normalized(body: &[u8], mut f: impl FnMut(&[u8])) {
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            f(&body[start..i]);
            f(b"\r\n");
            start = i + 1;
        }
    }
    f(&body[start..]);
}

/// The msg_key: the Message-ID as the server gave it (unfolded, trimmed), else the body hash.
pub fn msg_key(message_id: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    match message_id
        .map(normalize_message_id)
        .filter(|m| !m.is_empty())
    {
        Some(m) => Some(m),
        None => body.map(body_key),
    }
}

/// Unfolds and trims a Message-ID header value. The value is kept verbatim otherwise (the
/// local part is case-sensitive), so the same header always gives the same key.
pub fn normalize_message_id(v: &str) -> String {
    let unfolded: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let t = unfolded.trim();
    // Keep only the first msg-id when a broken header carries more than one.
    match (t.find('<'), t.find('>')) {
        (Some(a), Some(b)) if b > a => t[a..=b].to_string(),
        _ => t.to_string(),
    }
}

/// Reads the Message-ID out of a header block (e.g. the answer to
/// `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`, or the start of a message). Header names are
/// case-insensitive (RFC 5322 §1.2.2); folded lines are unfolded.
pub fn message_id_from_headers(headers: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut v = value.to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with(' ') || next.starts_with('\t') {
                v.push(' ');
                v.push_str(next.trim_end_matches('\r').trim());
                lines.next();
            } else {
                break;
            }
        }
        let v = normalize_message_id(&v);
        return (!v.is_empty()).then_some(v);
    }
    None
}

/// Pairs each `left` item with one `right` item of the same identity, each `right` item used at
/// most once, in the order given. Unpaired left items get `None`.
pub fn match_with_multiplicity<A: Clone, B: Clone>(
    left: &[(A, Ident)],
    right: &[(B, Ident)],
) -> Vec<(A, Option<B>)> {
    let mut pool: HashMap<&Ident, VecDeque<&B>> = HashMap::new();
    for (b, id) in right {
        pool.entry(id).or_default().push_back(b);
    }
    left.iter()
        .map(|(a, id)| {
            let got = pool.get_mut(id).and_then(|q| q.pop_front()).cloned();
            (a.clone(), got)
        })
        .collect()
}

/// A source message as listed (UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE Message-ID)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMeta {
    /// The message's UID in the source folder (valid under the UIDVALIDITY of this pass).
    pub uid: u32,
    /// RFC822.SIZE, in bytes: what `-MaxMessageSize` (`max_message_size`) is compared with.
    pub size: u64,
    /// INTERNALDATE, in Unix seconds: the sort key and what `-ContentFilter` compares.
    pub date: i64,
    /// The Message-ID header, normalized by [`normalize_message_id`]; `None` when the message
    /// has none (or an empty one), in which case its msg_key is the body hash.
    pub message_id: Option<String>,
    /// The flags and keywords as the source listed them.
    pub flags: Vec<String>,
}

/// The outcome of planning new messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NewPlan {
    /// To copy, newest first (INTERNALDATE, then UID, descending).
    pub copy: Vec<SourceMeta>,
    /// Over `max_message_size`: recorded as LargeItem, not copied.
    pub too_large: Vec<SourceMeta>,
    /// Left out by the content filter.
    pub filtered: u64,
}

/// Chooses the messages of a pass: those with no row yet, admitted by the filter.
pub fn plan_new<F: Fn(u32) -> bool>(
    listed: &[SourceMeta],
    has_row: F,
    filter: Option<&ReceivedFilter>,
    max_message_size: Option<u64>,
) -> NewPlan {
    let mut plan = NewPlan::default();
    for m in listed {
        if has_row(m.uid) {
            continue;
        }
        if let Some(f) = filter
            && !f.matches(m.date)
        {
            plan.filtered += 1;
            continue;
        }
        if let Some(max) = max_message_size
            && m.size > max
        {
            plan.too_large.push(m.clone());
            continue;
        }
        plan.copy.push(m.clone());
    }
    plan.copy
        .sort_by(|a, b| b.date.cmp(&a.date).then(b.uid.cmp(&a.uid)));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_key_in_pieces_is_the_body_key_whole() {
        let body = b"\nSubject: x\r\n\nline\r\r\none\nline two\r\n\n\r";
        for n in 1..body.len() {
            let mut k = BodyKeyHasher::default();
            for piece in body.chunks(n) {
                k.update(piece);
                k.update(b"");
            }
            assert_eq!(k.finish(), body_key(body), "pieces of {n}");
        }
        let mut by_hand = Sha256::new();
        for_each_normalized(body, |p| by_hand.update(p));
        assert_eq!(
            body_key(body),
            format!("sha256:{}", hex::encode(by_hand.finalize()))
        );
    }

    #[test]
    fn bare_lf_counts_as_crlf_in_the_size_and_the_body_key() {
        let lf = b"Subject: x\n\nline one\nline two\n";
        let crlf = b"Subject: x\r\n\r\nline one\r\nline two\r\n";
        assert_eq!(normalized_size(lf), crlf.len() as u64);
        assert_eq!(normalized_size(crlf), crlf.len() as u64);
        assert_eq!(body_key(lf), body_key(crlf));
        assert_eq!(crlf_body(lf).as_deref(), Some(&crlf[..]));
        assert_eq!(crlf_body(crlf), None);
        assert_ne!(
            body_key(lf),
            body_key(b"Subject: y\n\nline one\nline two\n")
        );
        assert_eq!(normalized_size(b"\n"), 2);
        assert_eq!(normalized_size(b""), 0);
        // A bare CR and 8-bit bytes are left as they are.
        assert_eq!(normalized_size("a\rb ü\r\n".as_bytes()), 8);
    }

    fn id(k: &str, s: u64, d: i64) -> Ident {
        Ident {
            key: k.into(),
            size: s,
            date: d,
        }
    }

    #[test]
    fn multiplicity_is_respected() {
        let left = vec![
            (1, id("<a@x>", 10, 5)),
            (2, id("<a@x>", 10, 5)),
            (3, id("<a@x>", 10, 5)),
        ];
        let right = vec![(100, id("<a@x>", 10, 5)), (101, id("<a@x>", 10, 5))];
        let m = match_with_multiplicity(&left, &right);
        assert_eq!(m, vec![(1, Some(100)), (2, Some(101)), (3, None)]);
        // Same key, other size or date: not the same message.
        let right = vec![(100, id("<a@x>", 11, 5)), (101, id("<a@x>", 10, 6))];
        assert!(
            match_with_multiplicity(&left, &right)
                .iter()
                .all(|(_, r)| r.is_none())
        );
    }

    #[test]
    fn message_ids() {
        let h = b"Subject: x\r\nmessage-ID:\r\n <abc@example.com>\r\nFrom: y\r\n\r\nbody";
        assert_eq!(
            message_id_from_headers(h).as_deref(),
            Some("<abc@example.com>")
        );
        assert_eq!(
            message_id_from_headers(b"Subject: x\n\nMessage-ID: <no@body>\n"),
            None
        );
        assert_eq!(
            message_id_from_headers(b"Message-Id: <q@r> (comment)\n").as_deref(),
            Some("<q@r>")
        );
        assert_eq!(
            msg_key(Some("  "), Some(b"abc")).as_deref(),
            Some("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(msg_key(None, None), None);
    }

    fn meta(uid: u32, date: i64, size: u64) -> SourceMeta {
        SourceMeta {
            uid,
            size,
            date,
            message_id: None,
            flags: vec![],
        }
    }

    #[test]
    fn new_messages_newest_first_with_limits() {
        let listed = vec![
            meta(1, 100, 10),
            meta(2, 300, 10),
            meta(3, 200, 5000),
            meta(4, 300, 10),
            meta(5, 50, 10),
        ];
        let f =
            super::super::filter::parse_content_filter("Received -gt '1/1/1970'").expect("valid");
        let p = plan_new(&listed, |u| u == 5, Some(&f), Some(1000));
        assert_eq!(
            p.copy.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![4, 2, 1]
        );
        assert_eq!(
            p.too_large.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![3]
        );
        let f = super::super::filter::parse_content_filter("Received -ge '1970-01-01T00:02:00Z'")
            .expect("valid");
        let p = plan_new(&listed, |_| false, Some(&f), None);
        assert_eq!(p.filtered, 2);
    }
}
