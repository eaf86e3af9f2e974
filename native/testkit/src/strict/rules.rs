//! What a command needs the server to have advertised, as data and small pure functions.

use std::collections::BTreeSet;

/// LITERAL- allows non-synchronizing literals up to this size (RFC 7888 §4).
pub(crate) const LITERAL_MINUS_MAX: u64 = 4096;

/// A literal announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Literal {
    pub size: u64,
    pub non_sync: bool,
    /// `~{n}` (RFC 3516).
    pub binary: bool,
}

/// Commands of IMAP4rev1 itself (RFC 3501 §6), after `UID` where it applies.
const BASE: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID FETCH",
    "UID SEARCH",
    "UID STORE",
    "UID COPY",
];

/// Commands of extensions: (command, capability it needs).
const EXTENSION_COMMANDS: &[(&str, &str)] = &[
    ("UNSELECT", "UNSELECT"),
    ("MOVE", "MOVE"),
    ("UID MOVE", "MOVE"),
    ("ENABLE", "ENABLE"),
    ("ID", "ID"),
    ("NAMESPACE", "NAMESPACE"),
    ("IDLE", "IDLE"),
    ("UID EXPUNGE", "UIDPLUS"),
    ("GETQUOTA", "QUOTA"),
    ("GETQUOTAROOT", "QUOTA"),
    ("SETQUOTA", "QUOTA"),
    ("GETACL", "ACL"),
    ("SETACL", "ACL"),
    ("DELETEACL", "ACL"),
    ("LISTRIGHTS", "ACL"),
    ("MYRIGHTS", "ACL"),
    ("GETMETADATA", "METADATA"),
    ("SETMETADATA", "METADATA"),
    ("SORT", "SORT"),
    ("UID SORT", "SORT"),
    ("XLIST", "XLIST"),
    ("UNAUTHENTICATE", "UNAUTHENTICATE"),
    ("REPLACE", "REPLACE"),
    ("UID REPLACE", "REPLACE"),
];

/// Words in the arguments of a command that need a capability: (commands, word, capability).
const ARGUMENT_WORDS: &[(&[&str], &str, &str)] = &[
    (&["SELECT", "EXAMINE"], "CONDSTORE", "CONDSTORE"),
    (&["SELECT", "EXAMINE"], "QRESYNC", "QRESYNC"),
    (&["FETCH", "UID FETCH"], "MODSEQ", "CONDSTORE"),
    (&["FETCH", "UID FETCH"], "CHANGEDSINCE", "CONDSTORE"),
    (&["FETCH", "UID FETCH"], "VANISHED", "QRESYNC"),
    (&["FETCH", "UID FETCH"], "PREVIEW", "PREVIEW"),
    (&["FETCH", "UID FETCH"], "EMAILID", "OBJECTID"),
    (&["STORE", "UID STORE"], "UNCHANGEDSINCE", "CONDSTORE"),
    (&["SEARCH", "UID SEARCH"], "MODSEQ", "CONDSTORE"),
    (&["SEARCH", "UID SEARCH"], "RETURN", "ESEARCH"),
    (&["SEARCH", "UID SEARCH"], "OLDER", "WITHIN"),
    (&["SEARCH", "UID SEARCH"], "YOUNGER", "WITHIN"),
    (&["STATUS"], "HIGHESTMODSEQ", "CONDSTORE"),
    (&["STATUS"], "SIZE", "STATUS=SIZE"),
    (&["STATUS"], "APPENDLIMIT", "APPENDLIMIT"),
    (&["APPEND"], "UTF8", "UTF8=ACCEPT"),
    (&["APPEND"], "CATENATE", "CATENATE"),
    (&["CREATE"], "USE", "CREATE-SPECIAL-USE"),
];

/// Splits a command into tokens: atoms, `(`, `)`, and quoted strings (kept with their quotes,
/// so that their contents are never taken for keywords).
pub(crate) fn tokens(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = command.chars().peekable();
    let mut depth_bracket = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '"' if depth_bracket == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let mut q = String::from('"');
                while let Some(d) = chars.next() {
                    q.push(d);
                    match d {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                q.push(e);
                            }
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push(q);
            }
            '[' => {
                depth_bracket += 1;
                cur.push(c);
            }
            ']' => {
                depth_bracket = depth_bracket.saturating_sub(1);
                cur.push(c);
            }
            '(' | ')' if depth_bracket == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            ' ' if depth_bracket == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The command name, upper-cased, with `UID` joined to what follows (`UID FETCH`).
pub(crate) fn verb(tokens: &[String]) -> String {
    let first = tokens
        .get(1)
        .map(|t| t.to_ascii_uppercase())
        .unwrap_or_default();
    if first == "UID" {
        let second = tokens
            .get(2)
            .map(|t| t.to_ascii_uppercase())
            .unwrap_or_default();
        format!("UID {second}")
    } else {
        first
    }
}

/// The command for a violation report: shortened; no arguments of LOGIN or AUTHENTICATE.
pub(crate) fn excerpt(command: &str) -> String {
    let t = tokens(command);
    let v = verb(&t);
    if matches!(v.as_str(), "LOGIN" | "AUTHENTICATE") {
        return format!("{} {v} …", t.first().map(String::as_str).unwrap_or(""));
    }
    let mut s: String = command.chars().take(120).collect();
    if command.chars().count() > 120 {
        s.push('…');
    }
    s
}

fn has(caps: &BTreeSet<String>, cap: &str) -> bool {
    caps.contains(&cap.to_ascii_uppercase())
}

fn append_limit(caps: &BTreeSet<String>) -> Option<u64> {
    caps.iter()
        .find_map(|c| c.strip_prefix("APPENDLIMIT=")?.parse().ok())
}

/// What is wrong with a literal announced under `caps`; `message` is the 1-based index of
/// the message it carries in an APPEND, if it carries one.
pub(crate) fn literal_rules(
    caps: &BTreeSet<String>,
    lit: &Literal,
    message: Option<u64>,
) -> Vec<String> {
    let mut out = Vec::new();
    if lit.non_sync && !has(caps, "LITERAL+") {
        if !has(caps, "LITERAL-") {
            out.push(format!(
                "non-synchronizing literal {{{}+}} without LITERAL+ or LITERAL-",
                lit.size
            ));
        } else if lit.size > LITERAL_MINUS_MAX {
            out.push(format!(
                "non-synchronizing literal of {} bytes over LITERAL-'s limit of {LITERAL_MINUS_MAX}",
                lit.size
            ));
        }
    }
    if lit.binary && !has(caps, "BINARY") {
        out.push("literal8 (~{n}) without BINARY".into());
    }
    if message == Some(2) && !has(caps, "MULTIAPPEND") {
        out.push("a second message in one APPEND without MULTIAPPEND".into());
    }
    if message.is_some()
        && let Some(limit) = append_limit(caps)
        && lit.size > limit
    {
        out.push(format!(
            "message of {} bytes sent over APPENDLIMIT={limit}",
            lit.size
        ));
    }
    out
}

/// What is wrong with a complete command under `caps`.
pub(crate) fn command_rules(caps: &BTreeSet<String>, verb: &str, tokens: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let args: Vec<String> = tokens
        .iter()
        .skip(if verb.starts_with("UID ") { 3 } else { 2 })
        .filter(|t| !t.starts_with('"'))
        .map(|t| t.to_ascii_uppercase())
        .collect();
    if let Some((_, cap)) = EXTENSION_COMMANDS.iter().find(|(c, _)| *c == verb) {
        if !has(caps, cap) {
            out.push(format!("{verb} without {cap}"));
        }
    } else if verb == "COMPRESS" {
        let cap = format!(
            "COMPRESS={}",
            args.first().map(String::as_str).unwrap_or("")
        );
        if !has(caps, &cap) {
            out.push(format!("COMPRESS without {cap}"));
        }
    } else if verb == "THREAD" || verb == "UID THREAD" {
        let cap = format!("THREAD={}", args.first().map(String::as_str).unwrap_or(""));
        if !has(caps, &cap) {
            out.push(format!("{verb} without {cap}"));
        }
    } else if !BASE.contains(&verb) {
        out.push(format!(
            "{verb} is not an IMAP4rev1 command and names no extension"
        ));
    }
    if matches!(verb, "STARTTLS" | "COMPRESS") {
        out.push(format!(
            "{verb} through the strict proxy: the rest of this connection is not checked"
        ));
    }
    for (verbs, word, cap) in ARGUMENT_WORDS {
        if verbs.contains(&verb) && args.iter().any(|a| a == word) && !has(caps, cap) {
            out.push(format!("{word} in {verb} without {cap}"));
        }
    }
    match verb {
        "LOGIN" if has(caps, "LOGINDISABLED") => {
            out.push("LOGIN while the server advertises LOGINDISABLED".into());
        }
        "AUTHENTICATE" => {
            let mech = args.first().cloned().unwrap_or_default();
            if !has(caps, &format!("AUTH={mech}")) {
                out.push(format!("AUTHENTICATE {mech} without AUTH={mech}"));
            }
            if args.len() > 1 && !has(caps, "SASL-IR") {
                out.push("AUTHENTICATE with an initial response without SASL-IR".into());
            }
        }
        "LIST" => {
            // LIST ( selection ) ref pattern RETURN ( options ), RFC 5258.
            let rest = &tokens[2.min(tokens.len())..];
            let extended = rest.first().is_some_and(|t| t == "(")
                || args.iter().any(|a| a == "RETURN")
                || rest.iter().skip(1).any(|t| t == "(");
            if extended && !has(caps, "LIST-EXTENDED") {
                out.push("LIST with selection or return options without LIST-EXTENDED".into());
            }
            if let Some(at) = args.iter().position(|a| a == "RETURN") {
                let opts = &args[at..];
                if opts.iter().any(|a| a == "SPECIAL-USE") && !has(caps, "SPECIAL-USE") {
                    out.push("LIST RETURN (SPECIAL-USE) without SPECIAL-USE".into());
                }
                if opts.iter().any(|a| a == "STATUS") && !has(caps, "LIST-STATUS") {
                    out.push("LIST RETURN (STATUS ...) without LIST-STATUS".into());
                }
            }
        }
        _ => {}
    }
    out
}

/// The capability list a server line advertises: `* CAPABILITY ...` or a `[CAPABILITY ...]`
/// code of a status response.
pub(crate) fn advertised(line: &str) -> Option<BTreeSet<String>> {
    let list = if let Some(rest) = strip_prefix_ci(line, "* CAPABILITY ") {
        rest
    } else {
        let at = line.to_ascii_uppercase().find("[CAPABILITY ")?;
        let rest = &line[at + "[CAPABILITY ".len()..];
        &rest[..rest.find(']')?]
    };
    Some(
        list.split_ascii_whitespace()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Response codes of extensions: (code, capabilities of which one must be advertised).
const CODES: &[(&str, &[&str])] = &[
    ("APPENDUID", &["UIDPLUS"]),
    ("COPYUID", &["UIDPLUS"]),
    ("HIGHESTMODSEQ", &["CONDSTORE", "QRESYNC"]),
    ("NOMODSEQ", &["CONDSTORE", "QRESYNC"]),
    ("MODIFIED", &["CONDSTORE", "QRESYNC"]),
];

/// A status response without a code of an extension not in `caps` (`None`: unchanged).
pub(crate) fn strip_unadvertised_codes(caps: &BTreeSet<String>, line: &str) -> Option<String> {
    let mut parts = line.splitn(3, ' ');
    let (tag, status, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if !matches!(
        status.to_ascii_uppercase().as_str(),
        "OK" | "NO" | "BAD" | "PREAUTH" | "BYE"
    ) {
        return None;
    }
    let inner = rest.strip_prefix('[')?;
    let close = inner.find(']')?;
    let name = inner[..close]
        .split(' ')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let (_, needs) = CODES.iter().find(|(c, _)| *c == name)?;
    if needs.iter().any(|c| has(caps, c)) {
        return None;
    }
    let after = inner[close + 1..].trim_start();
    Some(format!("{tag} {status} {after}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &str) -> BTreeSet<String> {
        list.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn literal_minus_allows_small_non_sync_only() {
        let c = caps("IMAP4REV1 LITERAL-");
        let small = Literal {
            size: 4096,
            non_sync: true,
            binary: false,
        };
        assert!(literal_rules(&c, &small, None).is_empty());
        let big = Literal {
            size: 4097,
            ..small
        };
        assert_eq!(literal_rules(&c, &big, None).len(), 1);
        assert_eq!(literal_rules(&caps("IMAP4REV1"), &small, None).len(), 1);
        assert!(literal_rules(&caps("LITERAL+"), &big, None).is_empty());
        let sync = Literal {
            non_sync: false,
            ..big
        };
        assert!(literal_rules(&c, &sync, Some(1)).is_empty());
        assert_eq!(literal_rules(&c, &sync, Some(2)).len(), 1, "MULTIAPPEND");
        let limited = caps("APPENDLIMIT=100");
        assert_eq!(literal_rules(&limited, &sync, Some(1)).len(), 1);
    }

    #[test]
    fn commands_need_their_extensions() {
        let rev1 = caps("IMAP4REV1");
        let check = |cmd: &str| {
            let t = tokens(cmd);
            command_rules(&rev1, &verb(&t), &t)
        };
        assert!(
            check("a1 UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])").is_empty()
        );
        assert!(
            check("a2 SELECT \"CONDSTORE\"").is_empty(),
            "a quoted name is no keyword"
        );
        assert_eq!(check("a3 SELECT INBOX (CONDSTORE)").len(), 1);
        assert_eq!(check("a4 UNSELECT").len(), 1);
        assert_eq!(check("a5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)").len(), 1);
        assert_eq!(check("a6 LIST \"\" \"*\" RETURN (SPECIAL-USE)").len(), 2);
        assert_eq!(check("a7 UID EXPUNGE 1:3").len(), 1);
        assert_eq!(check("a8 NAMESPACE").len(), 1);
        assert_eq!(check("a9 XYZZY").len(), 1);
        assert!(check("b1 LIST \"\" \"*\"").is_empty());
        assert_eq!(check("b2 CREATE Sent (USE (\\Sent))").len(), 1);
    }

    #[test]
    fn codes_of_unadvertised_extensions_are_removed() {
        let rev1 = caps("IMAP4REV1");
        assert_eq!(
            strip_unadvertised_codes(&rev1, "a1 OK [APPENDUID 5 7] Append completed."),
            Some("a1 OK Append completed.".into())
        );
        assert_eq!(
            strip_unadvertised_codes(&caps("UIDPLUS"), "a1 OK [APPENDUID 5 7] done"),
            None
        );
        assert_eq!(
            strip_unadvertised_codes(&rev1, "* OK [HIGHESTMODSEQ 9] Highest"),
            Some("* OK Highest".into())
        );
        assert_eq!(strip_unadvertised_codes(&rev1, "* OK [UIDNEXT 4] x"), None);
        assert_eq!(
            advertised("a OK [CAPABILITY IMAP4rev1 LITERAL-] Logged in"),
            Some(caps("IMAP4REV1 LITERAL-"))
        );
    }
}
