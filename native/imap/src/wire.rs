//! Formatting of command arguments (RFC 3501 §4, §9). No I/O here.

use chrono::{DateTime, FixedOffset};

use crate::error::{Error, Result};
use crate::mutf7;

/// A quoted string (RFC 3501 §4.3): `"` and `\` escaped; CR, LF, NUL and 8-bit refused.
pub(crate) fn quote(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b'\r' | b'\n' | 0 => {
                return Err(Error::InvalidInput(
                    "cr, lf and nul cannot be sent in a quoted string".into(),
                ));
            }
            0x80.. => {
                return Err(Error::InvalidInput(
                    "8-bit characters cannot be sent in a quoted string".into(),
                ));
            }
            _ => out.push(b as char),
        }
    }
    out.push('"');
    Ok(out)
}

/// Whether `s` can be sent as a quoted string.
pub(crate) fn is_quotable(s: &str) -> bool {
    s.bytes()
        .all(|b| (1..0x80).contains(&b) && b != b'\r' && b != b'\n')
}

/// A mailbox argument: modified UTF-7 encoded (RFC 3501 §5.1.3), then quoted.
/// `INBOX` is case-insensitive and always sent as `INBOX` (§5.1).
pub(crate) fn mailbox_arg(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::InvalidInput("mailbox name is empty".into()));
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".into());
    }
    quote(&mutf7::encode(name))
}

/// `date-time` of RFC 3501 §9, quoted: `"05-Nov-2023 22:13:20 +0100"`.
pub(crate) fn format_internal_date(dt: &DateTime<FixedOffset>) -> String {
    format!("\"{}\"", dt.format("%d-%b-%Y %H:%M:%S %z"))
}

/// Parses INTERNALDATE as sent in FETCH (`" 5-Nov-2023 22:13:20 +0100"`, day space-padded).
pub(crate) fn parse_internal_date(s: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z")
        .map_err(|e| Error::Protocol(format!("cannot parse internal date {s:?}: {e}")))
}

/// Atom characters (RFC 3501 §9: any CHAR except atom-specials).
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// Whether `flag` is a system flag (`\Seen`) or a keyword atom that can be sent as is.
pub fn is_valid_flag(flag: &str) -> bool {
    let body = flag.strip_prefix('\\').unwrap_or(flag);
    !body.is_empty() && body.bytes().all(is_atom_char)
}

/// `\Recent` is session state, never settable (RFC 3501 §2.3.2).
pub(crate) fn is_recent(flag: &str) -> bool {
    flag.eq_ignore_ascii_case("\\Recent")
}

/// A parenthesised flag list without `\Recent`. Invalid flags are an error.
pub(crate) fn flag_list(flags: &[String]) -> Result<String> {
    let mut out = String::from("(");
    for f in flags.iter().filter(|f| !is_recent(f)) {
        if !is_valid_flag(f) {
            return Err(Error::InvalidInput(format!("{f:?} is not a valid flag")));
        }
        if out.len() > 1 {
            out.push(' ');
        }
        out.push_str(f);
    }
    out.push(')');
    Ok(out)
}

/// Whether `s` goes out as an atom (RFC 3501 §9 `astring`: ASTRING-CHAR, which adds `]`).
fn is_astring_atom(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| is_atom_char(b) || b == b']')
}

/// One part of a command: text, or a literal whose bytes follow its `{n}` announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// A command line after its tag, built from typed arguments (RFC 3501 §4, §9). Strings become
/// atoms, quoted strings or literals here and nowhere else; literals are kept apart because
/// each one waits for the server's continuation request unless non-synchronizing literals
/// (RFC 7888) are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Command {
    pieces: Vec<Piece>,
}

impl Command {
    /// A command starting with `text` (a verb, or fixed syntax of this crate).
    pub(crate) fn new(text: &str) -> Self {
        let mut c = Command::default();
        c.push_text(text);
        c
    }

    /// Appends syntax written by this crate (verbs, keywords, numbers, UID sets).
    pub(crate) fn push_text(&mut self, text: &str) {
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => t.extend_from_slice(text.as_bytes()),
            _ => self.pieces.push(Piece::Text(text.as_bytes().to_vec())),
        }
    }

    /// Appends a `string` (RFC 3501 §4.3): quoted when it can be, else a literal (CR, LF or
    /// 8-bit). NUL fits neither and is refused.
    pub(crate) fn push_string(&mut self, s: &str) -> Result<()> {
        if is_quotable(s) {
            let q = quote(s)?;
            self.push_text(&q);
            return Ok(());
        }
        if s.bytes().any(|b| b == 0) {
            return Err(Error::InvalidInput(
                "nul cannot be sent in a string (RFC 3501 §4.3)".into(),
            ));
        }
        self.pieces.push(Piece::Literal(s.as_bytes().to_vec()));
        Ok(())
    }

    /// Appends an `astring`: an atom when it is one, else as [`push_string`](Self::push_string).
    pub(crate) fn push_astring(&mut self, s: &str) -> Result<()> {
        if is_astring_atom(s) {
            self.push_text(s);
            Ok(())
        } else {
            self.push_string(s)
        }
    }

    /// The bytes to send after `tag SP`, in segments: after each segment but the last the client
    /// waits for the server's `+`. `non_sync(len)` says whether a literal of `len` bytes may be
    /// sent without waiting (`{len+}`). The last segment ends with the command's CRLF.
    pub(crate) fn segments(&self, non_sync: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => cur.extend_from_slice(t),
                Piece::Literal(l) => {
                    let plus = non_sync(l.len());
                    cur.extend_from_slice(
                        format!("{{{}{}}}\r\n", l.len(), if plus { "+" } else { "" }).as_bytes(),
                    );
                    if !plus {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.extend_from_slice(l);
                }
            }
        }
        cur.extend_from_slice(b"\r\n");
        out.push(cur);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses() {
        assert_eq!(quote(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert!(quote("a\r\nb").is_err());
        assert!(quote("ä").is_err());
    }

    #[test]
    fn mailbox_arg_encodes_and_quotes() {
        assert_eq!(mailbox_arg("inbox").unwrap(), "INBOX");
        assert_eq!(mailbox_arg("Entwürfe").unwrap(), "\"Entw&APw-rfe\"");
        assert_eq!(mailbox_arg("A \"q\"").unwrap(), r#""A \"q\"""#);
        assert!(mailbox_arg("").is_err());
    }

    #[test]
    fn internal_date_round_trip() {
        let dt = DateTime::parse_from_rfc3339("2023-11-05T22:13:20+01:00").unwrap();
        assert_eq!(format_internal_date(&dt), "\"05-Nov-2023 22:13:20 +0100\"");
        assert_eq!(
            parse_internal_date(" 5-Nov-2023 22:13:20 +0100").unwrap(),
            dt
        );
        assert_eq!(
            parse_internal_date("05-Nov-2023 22:13:20 +0100").unwrap(),
            dt
        );
        assert!(parse_internal_date("yesterday").is_err());
    }

    #[test]
    fn flag_list_drops_recent_and_rejects_garbage() {
        let flags = vec!["\\Seen".to_string(), "\\Recent".into(), "$Label1".into()];
        assert_eq!(flag_list(&flags).unwrap(), "(\\Seen $Label1)");
        assert!(flag_list(&["a b".to_string()]).is_err());
        assert!(flag_list(&["x)".to_string()]).is_err());
        assert_eq!(flag_list(&[]).unwrap(), "()");
    }

    fn sent(c: &Command, non_sync: bool) -> Vec<Vec<u8>> {
        c.segments(|_| non_sync)
    }

    #[test]
    fn strings_are_quoted_escaped_or_literal() {
        let mut c = Command::new("X ");
        c.push_string(r#"<a"b\c@x>"#).unwrap();
        assert_eq!(sent(&c, false), vec![b"X \"<a\\\"b\\\\c@x>\"\r\n".to_vec()]);
        let mut c = Command::new("X ");
        c.push_string("").unwrap();
        assert_eq!(sent(&c, false), vec![b"X \"\"\r\n".to_vec()]);
    }

    #[test]
    fn eight_bit_and_line_breaks_need_a_literal() {
        let mut c = Command::new("X ");
        c.push_string("<ü@x>").unwrap();
        c.push_text(" Y");
        // Synchronizing: the client stops after the announcement and waits for `+`.
        assert_eq!(
            sent(&c, false),
            vec![b"X {6}\r\n".to_vec(), b"<\xc3\xbc@x> Y\r\n".to_vec()]
        );
        assert_eq!(
            sent(&c, true),
            vec![b"X {6+}\r\n<\xc3\xbc@x> Y\r\n".to_vec()]
        );
        // A CRLF inside a value is data, never the end of the command.
        let mut c = Command::new("X ");
        c.push_string("ALL\r\nA LOGOUT").unwrap();
        assert_eq!(
            sent(&c, true),
            vec![b"X {13+}\r\nALL\r\nA LOGOUT\r\n".to_vec()]
        );
        let mut c = Command::new("X ");
        assert!(c.push_string("a\0b").is_err());
    }

    #[test]
    fn astrings_prefer_atoms() {
        let mut c = Command::new("X ");
        c.push_astring("Message-ID").unwrap();
        c.push_text(" ");
        c.push_astring("a]b").unwrap();
        c.push_text(" ");
        c.push_astring("a b").unwrap();
        c.push_text(" ");
        c.push_astring("").unwrap();
        c.push_text(" ");
        c.push_astring("x*").unwrap();
        assert_eq!(
            sent(&c, false),
            vec![b"X Message-ID a]b \"a b\" \"\" \"x*\"\r\n".to_vec()]
        );
    }
}
