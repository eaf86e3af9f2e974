//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
//!
//! The `utf7-imap` crate was tried and rejected: it treats DEL (0x7f) as printable and
//! panics (`unwrap`) on a malformed shifted sequence, which a server's LIST reply must not
//! be able to cause. This codec is strict on decoding and total on encoding.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// Encodes a UTF-8 mailbox name to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&STANDARD_NO_PAD.encode(bytes).replace('/', ","));
    out.push('-');
    pending.clear();
}

/// Why a name is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid modified utf-7: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a modified UTF-7 mailbox name. Characters outside printable ASCII are passed
/// through unchanged (servers with `UTF8=ACCEPT` send UTF-8); malformed shifted sequences
/// are an error.
pub fn decode(raw: &str) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(dash) = after.find('-') else {
            return Err(DecodeError(format!("unterminated shift in {raw:?}")));
        };
        let b64 = &after[..dash];
        if b64.is_empty() {
            out.push('&');
        } else {
            let bytes = STANDARD_NO_PAD
                .decode(b64.replace(',', "/"))
                .map_err(|e| DecodeError(format!("{e} in {raw:?}")))?;
            if bytes.len() % 2 != 0 {
                return Err(DecodeError(format!("odd utf-16 length in {raw:?}")));
            }
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            for ch in char::decode_utf16(units) {
                let ch = ch.map_err(|_| DecodeError(format!("unpaired surrogate in {raw:?}")))?;
                if (' '..='~').contains(&ch) {
                    return Err(DecodeError(format!(
                        "printable ascii inside a shift in {raw:?}"
                    )));
                }
                out.push(ch);
            }
        }
        rest = &after[dash + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_round_trips() {
        let raw = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(decode(raw).unwrap(), "~peter/mail/台北/日本語");
        assert_eq!(encode("~peter/mail/台北/日本語"), raw);
    }

    #[test]
    fn ampersand_is_escaped() {
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(encode("&&"), "&-&-");
        assert_eq!(decode("&-&-").unwrap(), "&&");
    }

    #[test]
    fn non_bmp_uses_surrogate_pairs() {
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").unwrap(), "😀");
    }

    #[test]
    fn german_and_russian_round_trip() {
        for s in [
            "Entwürfe",
            "Gelöschte Elemente",
            "Отправленные",
            "a\u{7f}b",
            "Ä&Ö",
        ] {
            assert_eq!(decode(&encode(s)).unwrap(), s, "{s}");
        }
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode("Отправленные"), "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-");
        assert_eq!(encode("a\u{7f}b"), "a&AH8-b");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(decode("&A-").is_err());
        assert!(decode("&ZeVnLIqe").is_err());
        assert!(decode("&AGE-").is_err()); // "a" must not be shifted
        assert!(decode("&2D0-").is_err()); // lone surrogate
        assert!(decode("&Z!-").is_err());
    }

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(encode("INBOX/Sent Items"), "INBOX/Sent Items");
        assert_eq!(decode("INBOX/Sent Items").unwrap(), "INBOX/Sent Items");
    }
}
