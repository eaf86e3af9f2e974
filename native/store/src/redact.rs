//! The one redaction step for text that came from a server, a CSV file or an error, applied
//! before it is stored, shown or logged: every secret this process knows is replaced by `***`
//! and control characters are escaped.
//!
//! Which secrets: every one this process has sealed or unsealed ([`crate::Sealer`] registers
//! each), plus those a caller registers with [`remember`] because they never pass through the
//! sealer (credentials of a one-off check). The set is process-wide on purpose: the log writer,
//! the state store, the CLI and the C ABI all apply the same step without threading a set of
//! secrets through every layer, and a secret of one user that a server echoes in another
//! user's error is removed too. Secrets stay [`SecretString`]s (zeroized on drop) and are held
//! until the process ends; the worker unseals them for every pass anyway.
//!
//! How: a secret of [`MIN_SUBSTRING`] characters or more is removed wherever it occurs; a
//! shorter one only where it stands alone (no letter or digit right before or after it), so a
//! password such as `x` does not blank out every word containing an x. Each secret is also
//! looked for in its IMAP quoted-string form (`\"` and `\\`, RFC 3501 §4.3), which is what a
//! server echoing a `LOGIN` command sends back.
//!
//! Control characters (C0, DEL, C1) and the Unicode bidirectional overrides and isolates are
//! written as `\u{..}`: a server's `ESC [2J` or a CSV cell with a line break cannot reach a
//! terminal, forge a log line or reorder what an admin reads. The step is idempotent.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

use secrecy::{ExposeSecret, SecretString};

/// Secrets this long (in characters) or longer are removed wherever they occur.
pub const MIN_SUBSTRING: usize = 4;

/// What a removed secret is replaced by.
pub const MASK: &str = "***";

static KNOWN: RwLock<Vec<SecretString>> = RwLock::new(Vec::new());

/// Registers a secret so that [`clean`] removes it from every text from now on. Empty secrets
/// are ignored; registering one twice keeps one copy.
pub fn remember(secret: &SecretString) {
    let value = secret.expose_secret();
    if value.is_empty() {
        return;
    }
    let mut forms = vec![value.to_owned()];
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    if quoted != value {
        forms.push(quoted);
    }
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    for form in forms {
        if !known.iter().any(|k| k.expose_secret() == form) {
            known.push(SecretString::from(form));
        }
    }
    // Longest first: a secret that contains another is masked whole.
    known.sort_by_key(|k| std::cmp::Reverse(k.expose_secret().len()));
}

/// `text` with every known secret replaced by [`MASK`] and control characters escaped.
pub fn clean(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for secret in known.iter() {
        out = mask(&out, secret.expose_secret());
    }
    drop(known);
    escape_controls(&out).into_owned()
}

/// [`clean`] for an optional text.
pub fn clean_opt(text: Option<&str>) -> Option<String> {
    text.map(clean)
}

fn mask(text: &str, secret: &str) -> String {
    if !text.contains(secret) {
        return text.to_owned();
    }
    let standalone_only = secret.chars().count() < MIN_SUBSTRING;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let end = at + secret.len();
        let before = rest[..at].chars().next_back();
        let after = rest[end..].chars().next();
        let alone =
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..at]);
        if alone || !standalone_only {
            out.push_str(MASK);
        } else {
            out.push_str(secret);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `c` is escaped by [`escape_controls`].
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters (and bidirectional overrides) written as `\u{..}`.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that passes each write through [`clean`]: the worker's log file is written with it.
/// A line's final `\n` is kept; a line break inside a message is escaped, so one log line is
/// one event. Each `write` must carry whole lines, which the `tracing` formatter guarantees (it
/// writes one event per call).
#[derive(Debug, Clone)]
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, newline) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut line = clean(body);
        line.push_str(newline);
        self.0.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_and_controls_escaped() {
        remember(&SecretString::from("Redact-Me-9f3a"));
        remember(&SecretString::from("q\"uo\\te-77x"));
        let text = "NO [AUTHENTICATIONFAILED] bad password Redact-Me-9f3a\x1b[2J\r\nA1 OK forged";
        let out = clean(text);
        assert_eq!(
            out,
            "NO [AUTHENTICATIONFAILED] bad password ***\\u{1b}[2J\\u{d}\\u{a}A1 OK forged"
        );
        assert_eq!(clean(&out), out, "the step is idempotent");
        // The quoted-string form a server echoes from a LOGIN command.
        assert_eq!(
            clean(r#"LOGIN "ann" "q\"uo\\te-77x""#),
            r#"LOGIN "ann" "***""#
        );
        assert_eq!(
            clean("tab\there \u{202e}txt.exe"),
            "tab\\u{9}here \\u{202e}txt.exe"
        );
        assert_eq!(clean("Grüße, 日本語"), "Grüße, 日本語");
    }

    #[test]
    fn the_log_writer_keeps_one_line_per_write() {
        use std::io::Write;
        remember(&SecretString::from("Log-Secret-55"));
        let mut w = RedactingWriter(Vec::new());
        w.write_all(b"folder failed: Log-Secret-55\nforged line\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "folder failed: ***\\u{a}forged line\n"
        );
    }

    #[test]
    fn short_secrets_are_masked_only_where_they_stand_alone() {
        remember(&SecretString::from("zq"));
        assert_eq!(clean("password \"zq\" refused"), "password \"***\" refused");
        assert_eq!(clean("zq"), "***");
        assert_eq!(clean("the zqx mailbox"), "the zqx mailbox");
    }
}
