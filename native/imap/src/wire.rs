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

/// A `sequence-set` of UIDs (RFC 3501 §9): digits, `:`, `,`, `*`.
pub(crate) fn check_uid_set(set: &str) -> Result<()> {
    if set.is_empty()
        || !set
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'))
    {
        return Err(Error::InvalidInput(format!("{set:?} is not a uid set")));
    }
    Ok(())
}

/// Free text spliced into a command line (search criteria): no CR, LF or NUL.
pub(crate) fn check_line(text: &str) -> Result<()> {
    if text.is_empty() || text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::InvalidInput(format!(
            "{text:?} cannot be sent on a command line"
        )));
    }
    Ok(())
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

    #[test]
    fn uid_sets_are_checked() {
        assert!(check_uid_set("1:*").is_ok());
        assert!(check_uid_set("1,3,5:7").is_ok());
        assert!(check_uid_set("1 BODY[]").is_err());
        assert!(check_uid_set("").is_err());
        assert!(check_line("ALL\r\nA LOGOUT").is_err());
    }
}
