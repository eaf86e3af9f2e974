//! Comparable views of a mailbox, read straight from a Maildir++ tree.
//!
//! A message is identified by the SHA-256 of the bytes Dovecot serves as `BODY[]`: Dovecot
//! turns bare LF into CRLF on output, so the hash is taken over the file with every lone `\n`
//! replaced by `\r\n`. Two snapshots are equal when every folder holds the same multiset of
//! (hash, flags, INTERNALDATE); message order and UIDs do not matter.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::maildir::{Keywords, folder_name_from_dir, letters_to_flags, message_files};

/// One message as a test compares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// SHA-256 (lowercase hex) of the message with bare LF turned into CRLF.
    pub sha256: String,
    /// Sorted; system flags spelled `\Seen` etc.; `\Recent` never appears.
    pub flags: Vec<String>,
    /// INTERNALDATE, unix seconds (the file's mtime).
    pub internal_date: i64,
}

/// Folder name (UTF-8, `/`-separated, `INBOX`) → its messages, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot {
    /// Folder name → its messages, sorted.
    pub folders: BTreeMap<String, Vec<MessageView>>,
}

impl std::ops::Deref for Snapshot {
    type Target = BTreeMap<String, Vec<MessageView>>;
    fn deref(&self) -> &Self::Target {
        &self.folders
    }
}

impl Snapshot {
    /// Messages in all folders.
    pub fn message_count(&self) -> usize {
        self.folders.values().map(Vec::len).sum()
    }

    /// The same snapshot without folders that hold no message (auto-created special-use
    /// folders appear on disk as soon as a user logs in).
    pub fn without_empty_folders(&self) -> Snapshot {
        Snapshot {
            folders: self
                .folders
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The same snapshot with flags and dates cleared: compares content only.
    pub fn content_only(&self) -> Snapshot {
        Snapshot {
            folders: self
                .folders
                .iter()
                .map(|(k, v)| {
                    let mut v: Vec<MessageView> = v
                        .iter()
                        .map(|m| MessageView {
                            sha256: m.sha256.clone(),
                            flags: Vec::new(),
                            internal_date: 0,
                        })
                        .collect();
                    v.sort();
                    (k.clone(), v)
                })
                .collect(),
        }
    }

    /// Renames folders (e.g. source `Sent` → target `Sent Items`); unmapped names stay.
    pub fn rename_folders(&self, map: &[(&str, &str)]) -> Snapshot {
        let mut out: BTreeMap<String, Vec<MessageView>> = BTreeMap::new();
        for (k, v) in &self.folders {
            let name = map
                .iter()
                .find(|(from, _)| *from == k)
                .map(|(_, to)| to.to_string())
                .unwrap_or_else(|| k.clone());
            let e = out.entry(name).or_default();
            e.extend(v.iter().cloned());
            e.sort();
        }
        Snapshot { folders: out }
    }

    /// A readable account of how `other` (actual) differs from `self` (expected): folder by
    /// folder counts, then missing and extra messages. Empty when they are equal.
    pub fn diff(&self, other: &Snapshot) -> String {
        let mut out = String::new();
        let names: std::collections::BTreeSet<&String> =
            self.folders.keys().chain(other.folders.keys()).collect();
        for name in names {
            let empty = Vec::new();
            let exp = self.folders.get(name);
            let act = other.folders.get(name);
            let (e, a) = (exp.unwrap_or(&empty), act.unwrap_or(&empty));
            if e == a && exp.is_some() == act.is_some() {
                continue;
            }
            let _ = writeln!(
                out,
                "folder {name:?}: expected {} ({}), actual {} ({})",
                e.len(),
                if exp.is_some() { "present" } else { "absent" },
                a.len(),
                if act.is_some() { "present" } else { "absent" }
            );
            let (missing, extra) = multiset_difference(e, a);
            for m in missing.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  missing {} flags={:?} date={}",
                    short(&m.sha256),
                    m.flags,
                    m.internal_date
                );
            }
            if missing.len() > 10 {
                let _ = writeln!(out, "  ... and {} more missing", missing.len() - 10);
            }
            for m in extra.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  extra   {} flags={:?} date={}",
                    short(&m.sha256),
                    m.flags,
                    m.internal_date
                );
            }
            if extra.len() > 10 {
                let _ = writeln!(out, "  ... and {} more extra", extra.len() - 10);
            }
        }
        if !out.is_empty() {
            out.insert_str(
                0,
                &format!(
                    "snapshots differ: expected {} messages, actual {}\n",
                    self.message_count(),
                    other.message_count()
                ),
            );
        }
        out
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

fn multiset_difference<'a>(
    expected: &'a [MessageView],
    actual: &'a [MessageView],
) -> (Vec<&'a MessageView>, Vec<&'a MessageView>) {
    let mut counts: BTreeMap<&MessageView, i64> = BTreeMap::new();
    for m in expected {
        *counts.entry(m).or_default() += 1;
    }
    for m in actual {
        *counts.entry(m).or_default() -= 1;
    }
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for (m, c) in counts {
        for _ in 0..c.max(0) {
            missing.push(m);
        }
        for _ in 0..(-c).max(0) {
            extra.push(m);
        }
    }
    (missing, extra)
}

/// SHA-256 hex of a message as Dovecot serves it (lone LF → CRLF).
pub fn served_sha256(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            h.update(&bytes[start..i]);
            h.update(b"\r\n");
            start = i + 1;
        }
    }
    h.update(&bytes[start..]);
    hex::encode(h.finalize())
}

/// Reads one user's Maildir++ tree (the directory holding `cur/`, `new/`, `tmp/` of INBOX and
/// the `.Folder` directories). Dovecot's own files (indexes, uidlist) are ignored.
pub fn maildir_snapshot(root: &Path) -> Result<Snapshot> {
    let mut folders = BTreeMap::new();
    if !root.exists() {
        return Ok(Snapshot { folders });
    }
    if root.join("cur").is_dir() {
        folders.insert("INBOX".to_string(), read_folder(root)?);
    }
    for entry in fs::read_dir(root).map_err(Error::io("read directory", root))? {
        let entry = entry.map_err(Error::io("read directory", root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.')
            || name == "."
            || name == ".."
            || !entry.path().join("cur").is_dir()
        {
            continue;
        }
        folders.insert(folder_name_from_dir(&name), read_folder(&entry.path())?);
    }
    Ok(Snapshot { folders })
}

fn read_folder(dir: &Path) -> Result<Vec<MessageView>> {
    // Dovecot may rename a file (flag change, new/ to cur/) between listing and reading it;
    // such a race is retried with a fresh listing.
    let mut attempt = 0;
    loop {
        match read_folder_once(dir) {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && attempt < 5 =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn read_folder_once(dir: &Path) -> Result<Vec<MessageView>> {
    let keywords = Keywords::load(dir);
    let mut out = Vec::new();
    for f in message_files(dir)? {
        let bytes = fs::read(&f.path).map_err(Error::io("read", &f.path))?;
        let mtime = fs::metadata(&f.path)
            .and_then(|m| m.modified())
            .map_err(Error::io("stat", &f.path))?;
        let internal_date = match mtime.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        out.push(MessageView {
            sha256: served_sha256(&bytes),
            flags: letters_to_flags(&f.letters, &keywords),
            internal_date,
        });
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_normalises_bare_lf_only() {
        assert_eq!(
            served_sha256(b"a\nb\r\nc\n"),
            served_sha256(b"a\r\nb\r\nc\r\n")
        );
        assert_ne!(served_sha256(b"a\n"), served_sha256(b"a"));
    }

    #[test]
    fn diff_names_missing_and_extra() {
        let m = |h: &str| MessageView {
            sha256: h.into(),
            flags: vec![],
            internal_date: 1,
        };
        let a = Snapshot {
            folders: [("INBOX".to_string(), vec![m("aa"), m("bb")])].into(),
        };
        let b = Snapshot {
            folders: [("INBOX".to_string(), vec![m("aa"), m("cc")])].into(),
        };
        assert!(a.diff(&a).is_empty());
        let d = a.diff(&b);
        assert!(d.contains("missing bb") && d.contains("extra   cc"), "{d}");
    }
}
