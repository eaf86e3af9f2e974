//! Classifying one framed server response. imap-proto does the parsing; what it cannot
//! parse is kept as raw bytes (untagged) or parsed minimally (tagged status lines), so an
//! unknown response never kills the connection.

use imap_proto::{Capability, Response, ResponseCode, Status};

use crate::error::{Error, RefusalKind, ServerRefusal};

/// A tagged completion (RFC 3501 §7.1), normalised.
#[derive(Debug)]
pub(crate) struct Tagged {
    pub tag: String,
    pub status: Status,
    pub code: Option<String>,
    pub text: String,
    /// UIDPLUS `[APPENDUID uidvalidity uid-set]` (RFC 4315 §3): the validity and the set's
    /// members as inclusive ranges, in the order the server sent them. One UID for a plain
    /// APPEND, one per message (in order) for MULTIAPPEND (RFC 3502).
    pub append_uid: Option<(u32, Vec<(u32, u32)>)>,
    /// `[CAPABILITY ...]` (RFC 3501 §7.1).
    pub capabilities: Option<Vec<String>>,
}

impl Tagged {
    /// `Ok(self)` for OK, else the matching error for `command`.
    pub(crate) fn into_result(self, command: &str) -> Result<Tagged, Error> {
        match self.status {
            Status::Ok => Ok(self),
            Status::No => Err(Error::No {
                command: command.to_string(),
                code: self.code,
                text: self.text,
            }),
            Status::Bye => Err(Error::Bye {
                code: self.code,
                text: self.text,
            }),
            _ => Err(Error::Bad {
                command: command.to_string(),
                code: self.code,
                text: self.text,
            }),
        }
    }

    /// The UIDs APPENDUID assigned, expanded, when the set names exactly `count` of them
    /// (RFC 4315 §3: in the order the messages were appended). `None` without APPENDUID or
    /// when the set does not fit, so that no message is paired with a wrong UID.
    pub(crate) fn append_uids(&self, count: usize) -> Option<Vec<u32>> {
        let (_, ranges) = self.append_uid.as_ref()?;
        let mut total: u64 = 0;
        for &(lo, hi) in ranges {
            total += u64::from(hi.checked_sub(lo)?) + 1;
        }
        if total != count as u64 {
            return None;
        }
        Some(ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect())
    }

    pub(crate) fn refusal(&self) -> Option<ServerRefusal> {
        let kind = match self.status {
            Status::Ok => return None,
            Status::No => RefusalKind::No,
            _ => RefusalKind::Bad,
        };
        Some(ServerRefusal {
            kind,
            code: self.code.clone(),
            text: self.text.clone(),
        })
    }
}

/// One response, classified.
#[derive(Debug)]
pub(crate) enum Msg<'a> {
    Tagged(Tagged),
    /// Untagged `BYE`.
    Bye {
        code: Option<String>,
        text: String,
    },
    /// A continuation request (`+ text`).
    Continue(String),
    /// Untagged data imap-proto understood (FETCH, EXISTS, LIST, OK [UIDVALIDITY], ...).
    Data(Response<'a>),
    /// Untagged data imap-proto cannot parse (NAMESPACE, ESEARCH, ...).
    Unparsed(&'a [u8]),
}

pub(crate) fn classify(frame: &[u8]) -> Msg<'_> {
    match Response::parse(frame) {
        Ok((_, resp)) => match resp {
            Response::Done {
                tag,
                status,
                outcome,
            } => {
                let (code, text) =
                    code_and_text(outcome.code.as_ref(), outcome.information.as_deref());
                let append_uid = match &outcome.code {
                    Some(ResponseCode::AppendUid(validity, uids)) => {
                        use imap_proto::rfc4315::UidSetMember;
                        let ranges = uids
                            .iter()
                            .map(|m| match m {
                                UidSetMember::Uid(u) => (*u, *u),
                                UidSetMember::UidRange(r) => (*r.start(), *r.end()),
                            })
                            .collect();
                        Some((*validity, ranges))
                    }
                    _ => None,
                };
                let capabilities = match &outcome.code {
                    Some(ResponseCode::Capabilities(caps)) => {
                        Some(caps.iter().map(capability_name).collect())
                    }
                    _ => None,
                };
                Msg::Tagged(Tagged {
                    tag: tag.0,
                    status,
                    code,
                    text,
                    append_uid,
                    capabilities,
                })
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                let (code, text) =
                    code_and_text(outcome.code.as_ref(), outcome.information.as_deref());
                Msg::Bye { code, text }
            }
            Response::Continue(outcome) => Msg::Continue(
                outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_string(),
            ),
            other => Msg::Data(other),
        },
        Err(_) => fallback(frame),
    }
}

/// The name of an untagged response imap-proto could not parse (`FETCH` of `* 3 FETCH (...`,
/// `LIST` of `* LIST ...`), upper-cased: the commands whose answers must not lose a line ask
/// whether an unparsed one was theirs.
pub(crate) fn unparsed_name(frame: &[u8]) -> Option<String> {
    let line_end = frame
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(frame.len());
    let line = String::from_utf8_lossy(&frame[..line_end]);
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "*" {
        return None;
    }
    let mut name = words.next()?;
    if name.bytes().all(|b| b.is_ascii_digit()) {
        name = words.next()?;
    }
    let name: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Some(name.to_ascii_uppercase())
}

/// Minimal parse of what imap-proto rejected: `tag SP status SP text` or `+ text`.
fn fallback(frame: &[u8]) -> Msg<'_> {
    let line_end = frame
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(frame.len());
    let line = String::from_utf8_lossy(&frame[..line_end]);
    if let Some(text) = line.strip_prefix('+') {
        return Msg::Continue(text.trim_start().to_string());
    }
    let mut parts = line.splitn(3, ' ');
    let tag = parts.next().unwrap_or_default();
    let status_word = parts.next().unwrap_or_default().to_ascii_uppercase();
    let rest = parts.next().unwrap_or_default();
    let status = match status_word.as_str() {
        "OK" => Some(Status::Ok),
        "NO" => Some(Status::No),
        "BAD" => Some(Status::Bad),
        "BYE" => Some(Status::Bye),
        "PREAUTH" => Some(Status::PreAuth),
        _ => None,
    };
    match (tag, status) {
        ("*", Some(Status::Bye)) => {
            let (code, text) = split_code(rest);
            Msg::Bye { code, text }
        }
        ("*", _) | (_, None) => Msg::Unparsed(frame),
        (tag, Some(status)) => {
            let (code, text) = split_code(rest);
            Msg::Tagged(Tagged {
                tag: tag.to_string(),
                status,
                code,
                text,
                append_uid: None,
                capabilities: None,
            })
        }
    }
}

/// `[CODE args] text` -> (Some("CODE args"), "text").
pub(crate) fn split_code(text: &str) -> (Option<String>, String) {
    if let Some(inner) = text.strip_prefix('[')
        && let Some(end) = inner.find(']')
    {
        return (
            Some(inner[..end].to_string()),
            inner[end + 1..].trim_start().to_string(),
        );
    }
    (None, text.to_string())
}

/// The response code as text, whether imap-proto knew it or left it in the text.
pub(crate) fn code_and_text(
    code: Option<&ResponseCode<'_>>,
    information: Option<&str>,
) -> (Option<String>, String) {
    let info = information.unwrap_or_default();
    match code {
        Some(c) => (Some(code_name(c)), info.to_string()),
        None => split_code(info),
    }
}

fn code_name(code: &ResponseCode<'_>) -> String {
    match code {
        ResponseCode::Alert => "ALERT".into(),
        ResponseCode::BadCharset(_) => "BADCHARSET".into(),
        ResponseCode::Capabilities(_) => "CAPABILITY".into(),
        ResponseCode::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
        ResponseCode::Parse => "PARSE".into(),
        ResponseCode::PermanentFlags(_) => "PERMANENTFLAGS".into(),
        ResponseCode::ReadOnly => "READ-ONLY".into(),
        ResponseCode::ReadWrite => "READ-WRITE".into(),
        ResponseCode::TryCreate => "TRYCREATE".into(),
        ResponseCode::UidNext(n) => format!("UIDNEXT {n}"),
        ResponseCode::UidValidity(n) => format!("UIDVALIDITY {n}"),
        ResponseCode::Unseen(n) => format!("UNSEEN {n}"),
        ResponseCode::AppendUid(..) => "APPENDUID".into(),
        ResponseCode::CopyUid(..) => "COPYUID".into(),
        ResponseCode::UidNotSticky => "UIDNOTSTICKY".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

pub(crate) fn capability_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4REV1".into(),
        Capability::Auth(m) => format!("AUTH={}", m.to_ascii_uppercase()),
        Capability::Atom(a) => a.to_ascii_uppercase(),
    }
}

/// One namespace of a NAMESPACE reply (RFC 2342 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawNamespace {
    pub prefix: String,
    pub delimiter: Option<char>,
}

/// Parses `* NAMESPACE personal other shared`. imap-proto 0.17 has no parser for it.
pub(crate) fn parse_namespace(frame: &[u8]) -> Option<[Vec<RawNamespace>; 3]> {
    let line = std::str::from_utf8(frame).ok()?;
    let rest = line.strip_prefix("* ")?;
    if rest.len() < 10 || !rest[..10].eq_ignore_ascii_case("NAMESPACE ") {
        return None;
    }
    let mut c = Cursor {
        s: rest[10..].trim_end().as_bytes(),
        i: 0,
    };
    let personal = c.namespace_list()?;
    c.sp()?;
    let other = c.namespace_list()?;
    c.sp()?;
    let shared = c.namespace_list()?;
    Some([personal, other, shared])
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }
    fn sp(&mut self) -> Option<()> {
        self.eat(b' ')
    }
    fn nil(&mut self) -> bool {
        if self.s[self.i..].len() >= 3 && self.s[self.i..self.i + 3].eq_ignore_ascii_case(b"NIL") {
            self.i += 3;
            true
        } else {
            false
        }
    }
    fn quoted(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.i += 1;
                    out.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
    fn namespace_list(&mut self) -> Option<Vec<RawNamespace>> {
        if self.nil() {
            return Some(Vec::new());
        }
        self.eat(b'(')?;
        let mut out = Vec::new();
        while self.peek()? == b'(' {
            self.i += 1;
            let prefix = self.quoted()?;
            self.sp()?;
            let delimiter = if self.nil() {
                None
            } else {
                self.quoted()?.chars().next()
            };
            // Skip namespace response extensions (RFC 2342 §5) up to our closing paren.
            let mut depth = 0usize;
            loop {
                match self.peek()? {
                    b'"' => {
                        self.quoted()?;
                    }
                    b'(' => {
                        depth += 1;
                        self.i += 1;
                    }
                    b')' if depth == 0 => {
                        self.i += 1;
                        break;
                    }
                    b')' => {
                        depth -= 1;
                        self.i += 1;
                    }
                    _ => self.i += 1,
                }
            }
            out.push(RawNamespace { prefix, delimiter });
        }
        self.eat(b')')?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_no_with_unknown_code_keeps_code() {
        let Msg::Tagged(t) = classify(b"a1 NO [ALREADYEXISTS] Mailbox already exists\r\n") else {
            panic!()
        };
        assert_eq!(t.status, Status::No);
        assert_eq!(t.code.as_deref(), Some("ALREADYEXISTS"));
        assert_eq!(t.text, "Mailbox already exists");
    }

    #[test]
    fn tagged_ok_with_appenduid() {
        let Msg::Tagged(t) = classify(b"m7 OK [APPENDUID 1700000000 42] Append completed.\r\n")
        else {
            panic!()
        };
        assert_eq!(t.tag, "m7");
        assert_eq!(t.append_uid, Some((1_700_000_000, vec![(42, 42)])));
        assert_eq!(t.append_uids(1), Some(vec![42]));
        assert_eq!(t.append_uids(2), None);
    }

    #[test]
    fn appenduid_sets_expand_in_order() {
        let Msg::Tagged(t) = classify(b"m8 OK [APPENDUID 7 10:12,20,31:30] Append completed.\r\n")
        else {
            panic!()
        };
        assert_eq!(t.append_uids(6), Some(vec![10, 11, 12, 20, 30, 31]));
        assert_eq!(t.append_uids(5), None);
        let Msg::Tagged(t) = classify(b"m9 OK Append completed.\r\n") else {
            panic!()
        };
        assert_eq!(t.append_uids(1), None);
    }

    #[test]
    fn tagged_bad_is_classified() {
        let Msg::Tagged(t) =
            classify(b"a2 BAD Error in IMAP command UID FETCH: Invalid uidset\r\n")
        else {
            panic!()
        };
        assert_eq!(t.status, Status::Bad);
        let err = t.into_result("UID FETCH").unwrap_err();
        assert!(matches!(err, Error::Bad { .. }));
    }

    #[test]
    fn untagged_bye_is_recognised() {
        let Msg::Bye { code, text } = classify(b"* BYE [UNAVAILABLE] Server shutting down.\r\n")
        else {
            panic!()
        };
        assert_eq!(code.as_deref(), Some("UNAVAILABLE"));
        assert_eq!(text, "Server shutting down.");
    }

    #[test]
    fn continuation_and_capabilities() {
        assert!(matches!(classify(b"+ OK\r\n"), Msg::Continue(_)));
        assert!(matches!(classify(b"+ \r\n"), Msg::Continue(_)));
        let Msg::Tagged(t) =
            classify(b"a1 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Logged in\r\n")
        else {
            panic!()
        };
        let caps = t.capabilities.unwrap();
        assert!(caps.contains(&"LITERAL+".to_string()));
        assert!(caps.contains(&"AUTH=PLAIN".to_string()));
    }

    #[test]
    fn namespace_is_unparsed_by_imap_proto_but_parsed_here() {
        let frame: &[u8] = b"* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\" \"X-PARAM\" (\"a\" \"b\")))\r\n";
        assert!(matches!(classify(frame), Msg::Unparsed(_)));
        let [p, o, s] = parse_namespace(frame).unwrap();
        assert_eq!(
            p,
            vec![RawNamespace {
                prefix: String::new(),
                delimiter: Some('/')
            }]
        );
        assert_eq!(o[0].prefix, "~");
        assert_eq!(s[0].prefix, "#shared/");
        let [p, o, s] = parse_namespace(b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n").unwrap();
        assert_eq!(p[0].prefix, "INBOX.");
        assert_eq!(p[0].delimiter, Some('.'));
        assert!(o.is_empty() && s.is_empty());
        assert!(parse_namespace(b"* NAMESPACE (garbage\r\n").is_none());
    }

    #[test]
    fn unparsed_responses_are_named() {
        let frame: &[u8] = b"* 3 FETCH UID 3 BODY[] {2}\r\nab)\r\n";
        let m = classify(frame);
        assert!(matches!(m, Msg::Unparsed(_)), "{m:?}");
        assert_eq!(unparsed_name(frame).as_deref(), Some("FETCH"));
        let frame: &[u8] = b"* LIST (\\HasNoChildren \"/\" INBOX\r\n";
        assert!(matches!(classify(frame), Msg::Unparsed(_)));
        assert_eq!(unparsed_name(frame).as_deref(), Some("LIST"));
        assert_eq!(unparsed_name(b"a1 OK done\r\n"), None);
    }

    #[test]
    fn fetch_with_literal_parses() {
        let frame = b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {3}\r\nabc)\r\n";
        let Msg::Data(Response::Fetch(1, attrs)) = classify(frame) else {
            panic!()
        };
        assert_eq!(attrs.len(), 3);
    }
}
