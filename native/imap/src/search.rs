//! Search criteria of UID SEARCH (RFC 3501 §6.4.4) as values. No I/O here.

use crate::error::{Error, Result};
use crate::sequence::UidSet;
use crate::wire::Command;

/// One search key of `UID SEARCH`. Strings are encoded by this crate (quoted, or a literal with
/// `CHARSET UTF-8` when they carry 8-bit text), so a value can never end the command early.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchKey {
    /// `ALL`: every message.
    All,
    /// `UID set`: the messages with these UIDs.
    Uid(UidSet),
    /// `HEADER field value`: messages whose header `field` contains `value` (a case-insensitive
    /// substring match; an empty value matches every message that has the field).
    Header {
        /// The header field name, e.g. `Message-ID`.
        field: String,
        /// The text to look for.
        value: String,
    },
    /// `LARGER n`: RFC822.SIZE greater than `n`.
    Larger(u32),
    /// `SMALLER n`: RFC822.SIZE less than `n`.
    Smaller(u32),
    /// Every one of the keys matches (RFC 3501 ANDs keys given side by side).
    And(Vec<SearchKey>),
}

impl SearchKey {
    /// `HEADER field value`.
    pub fn header(field: impl Into<String>, value: impl Into<String>) -> Self {
        SearchKey::Header {
            field: field.into(),
            value: value.into(),
        }
    }

    /// Messages of exactly `size` bytes (RFC822.SIZE): `LARGER size-1 SMALLER size+1`, with the
    /// side that would leave the number range left out.
    pub fn size(size: u32) -> Self {
        let mut keys = Vec::with_capacity(2);
        if let Some(below) = size.checked_sub(1) {
            keys.push(SearchKey::Larger(below));
        }
        if let Some(above) = size.checked_add(1) {
            keys.push(SearchKey::Smaller(above));
        }
        SearchKey::And(keys)
    }

    /// Whether a string in the key carries 8-bit text, which needs `CHARSET UTF-8`.
    fn needs_utf8(&self) -> bool {
        match self {
            SearchKey::Header { field, value } => !field.is_ascii() || !value.is_ascii(),
            SearchKey::And(keys) => keys.iter().any(SearchKey::needs_utf8),
            _ => false,
        }
    }

    /// The command `UID SEARCH [CHARSET UTF-8] key`.
    pub(crate) fn command(&self) -> Result<Command> {
        let mut c = Command::new("UID SEARCH ");
        if self.needs_utf8() {
            c.push_text("CHARSET UTF-8 ");
        }
        self.encode(&mut c, true)?;
        Ok(c)
    }

    /// Writes the key; `top` keys of an `And` go side by side, nested ones in parentheses.
    fn encode(&self, c: &mut Command, top: bool) -> Result<()> {
        match self {
            SearchKey::All => c.push_text("ALL"),
            SearchKey::Uid(set) => {
                if set.is_empty() {
                    return Err(Error::InvalidInput(
                        "an empty uid set cannot be searched".into(),
                    ));
                }
                c.push_text(&format!("UID {set}"));
            }
            SearchKey::Header { field, value } => {
                c.push_text("HEADER ");
                c.push_astring(field)?;
                c.push_text(" ");
                c.push_string(value)?;
            }
            SearchKey::Larger(n) => c.push_text(&format!("LARGER {n}")),
            SearchKey::Smaller(n) => c.push_text(&format!("SMALLER {n}")),
            SearchKey::And(keys) => {
                let [first, rest @ ..] = keys.as_slice() else {
                    return Err(Error::InvalidInput(
                        "a search needs at least one key".into(),
                    ));
                };
                if rest.is_empty() {
                    return first.encode(c, top);
                }
                if !top {
                    c.push_text("(");
                }
                first.encode(c, false)?;
                for k in rest {
                    c.push_text(" ");
                    k.encode(c, false)?;
                }
                if !top {
                    c.push_text(")");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(k: &SearchKey, non_sync: bool) -> Vec<Vec<u8>> {
        k.command().unwrap().segments(|_| non_sync)
    }

    #[test]
    fn simple_keys() {
        assert_eq!(
            sent(&SearchKey::All, false),
            vec![b"UID SEARCH ALL\r\n".to_vec()]
        );
        let set: UidSet = [1, 2, 3, 9].into_iter().collect();
        assert_eq!(
            sent(&SearchKey::Uid(set), false),
            vec![b"UID SEARCH UID 1:3,9\r\n".to_vec()]
        );
        assert_eq!(
            sent(&SearchKey::Uid(UidSet::starting_at(7)), false),
            vec![b"UID SEARCH UID 7:*\r\n".to_vec()]
        );
    }

    #[test]
    fn header_values_are_quoted_and_escaped() {
        let k = SearchKey::header("Message-ID", "<a\"b\\c@x>");
        assert_eq!(
            sent(&k, false),
            vec![b"UID SEARCH HEADER Message-ID \"<a\\\"b\\\\c@x>\"\r\n".to_vec()]
        );
    }

    #[test]
    fn eight_bit_values_go_as_a_utf8_literal() {
        let k = SearchKey::header("Message-ID", "<ü@x>");
        assert_eq!(
            sent(&k, false),
            vec![
                b"UID SEARCH CHARSET UTF-8 HEADER Message-ID {6}\r\n".to_vec(),
                b"<\xc3\xbc@x>\r\n".to_vec()
            ]
        );
        assert_eq!(
            sent(&k, true),
            vec![b"UID SEARCH CHARSET UTF-8 HEADER Message-ID {6+}\r\n<\xc3\xbc@x>\r\n".to_vec()]
        );
    }

    #[test]
    fn sizes_and_nesting() {
        assert_eq!(
            sent(&SearchKey::size(100), false),
            vec![b"UID SEARCH LARGER 99 SMALLER 101\r\n".to_vec()]
        );
        assert_eq!(
            sent(&SearchKey::size(0), false),
            vec![b"UID SEARCH SMALLER 1\r\n".to_vec()]
        );
        assert_eq!(
            sent(&SearchKey::size(u32::MAX), false),
            vec![b"UID SEARCH LARGER 4294967294\r\n".to_vec()]
        );
        let k = SearchKey::And(vec![
            SearchKey::header("Message-ID", "<a@x>"),
            SearchKey::size(10),
        ]);
        assert_eq!(
            sent(&k, false),
            vec![b"UID SEARCH HEADER Message-ID \"<a@x>\" (LARGER 9 SMALLER 11)\r\n".to_vec()]
        );
    }

    #[test]
    fn unsendable_keys_are_refused() {
        assert!(SearchKey::Uid(UidSet::new()).command().is_err());
        assert!(SearchKey::And(vec![]).command().is_err());
        assert!(SearchKey::header("Message-ID", "a\0b").command().is_err());
    }
}
