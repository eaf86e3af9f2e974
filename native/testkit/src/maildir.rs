//! Writing Maildir++ trees straight to disk, the way Dovecot lays them out.
//!
//! Layout (Dovecot `maildir:` with the default Maildir++ layout, namespace separator `/`):
//! - INBOX is the Maildir root itself (`cur/`, `new/`, `tmp/`).
//! - Folder `A/B` is the directory `.A.B` under the root, with a `maildirfolder` marker file.
//! - Each name component is stored in modified UTF-7 (RFC 3501 §5.1.3), and with Dovecot's
//!   `listescape` plugin a `.`, `/` or `\` inside a component is stored as `\2e`, `\2f`, `\5c`.
//! - One file per message: `cur/<ts>.M<seq>P<pid>.seed,S=<size>:2,<flags>`; the flag letters
//!   are `D F R S T` for `\Draft \Flagged \Answered \Seen \Deleted`, lowercase letters are
//!   keywords numbered by the folder's `dovecot-keywords` file; the file's mtime is the
//!   INTERNALDATE Dovecot reports.
//!
//! Dovecot picks up new or renamed files on the next access to the folder, so these helpers are
//! safe to use while the server runs. Files go through `tmp/` and a rename so Dovecot never sees
//! half a message.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A message to write: raw RFC 5322 bytes, IMAP flags, INTERNALDATE (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedMessage {
    /// The message exactly as it is stored (CRLF or bare LF line ends).
    pub bytes: Vec<u8>,
    /// IMAP flags, e.g. `["\\Seen", "\\Flagged"]` or keywords like `$Forwarded`. `\Recent` is ignored.
    pub flags: Vec<String>,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
}

impl SeedMessage {
    /// A message with the given flags and date.
    pub fn new(bytes: impl Into<Vec<u8>>, flags: &[&str], internal_date: i64) -> SeedMessage {
        SeedMessage {
            bytes: bytes.into(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            internal_date,
        }
    }
}

/// A folder (UTF-8 name, `/`-separated, `INBOX` for the inbox) and the messages to put in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedFolder {
    /// UTF-8 name, `/`-separated; `INBOX` for the inbox.
    pub name: String,
    /// The messages to write into it; may be empty (the folder is still created).
    pub messages: Vec<SeedMessage>,
}

impl SeedFolder {
    /// A folder with messages.
    pub fn new(name: impl Into<String>, messages: Vec<SeedMessage>) -> SeedFolder {
        SeedFolder {
            name: name.into(),
            messages,
        }
    }

    /// An empty folder (still created on disk).
    pub fn empty(name: impl Into<String>) -> SeedFolder {
        SeedFolder {
            name: name.into(),
            messages: Vec::new(),
        }
    }
}

/// Which message of a folder to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Position (0-based) in UID order; from `dovecot-uidlist` when Dovecot has indexed the
    /// folder, else file-name order (which is seeding order for files written here).
    Index(usize),
    /// The IMAP UID, resolved through `dovecot-uidlist` (Dovecot must have seen the folder).
    Uid(u32),
    /// The file's base name (the part before `:2,`) or its full name.
    File(String),
}

// ---------------------------------------------------------------------------------------------
// Folder names

/// Files in the `cur/` directories under `root`: the messages that landed in a Maildir++
/// mailbox (what a copy delivered; `new/` and `tmp/` are not counted). 0 for a missing root.
pub fn landed_in_maildir(root: &Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if d.file_name().is_some_and(|f| f == "cur") {
                n += 1;
            }
        }
    }
    n
}

/// Encodes a name in modified UTF-7 (RFC 3501 §5.1.3).
pub fn encode_mutf7(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(bytes)
            .replace('/', ",");
        out.push('&');
        out.push_str(&b64);
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes modified UTF-7; invalid sequences are kept as they are.
pub fn decode_mutf7(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(end) = after.find('-') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let chunk = &after[..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(chunk.replace(',', "/"))
                .ok()
                .filter(|b| b.len() % 2 == 0)
                .and_then(|b| {
                    let units: Vec<u16> = b
                        .chunks(2)
                        .map(|p| u16::from_be_bytes([p[0], p[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                });
            match decoded {
                Some(s) => out.push_str(&s),
                None => {
                    out.push('&');
                    out.push_str(chunk);
                    out.push('-');
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Escapes one name component the way Dovecot's listescape plugin stores it.
pub fn listescape(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for c in component.chars() {
        match c {
            '.' => out.push_str("\\2e"),
            '/' => out.push_str("\\2f"),
            '\\' => out.push_str("\\5c"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`listescape`]: every `\xx` (two hex digits) becomes that byte.
pub fn listunescape(component: &str) -> String {
    let b = component.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The on-disk directory name for a folder (`None` for INBOX, which is the root itself).
pub fn folder_dir_name(name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("INBOX") {
        return None;
    }
    let parts: Vec<String> = name
        .split('/')
        .enumerate()
        .map(|(i, p)| {
            if i == 0 && p.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                p.to_string()
            }
        })
        .map(|p| listescape(&encode_mutf7(&p)))
        .collect();
    Some(format!(".{}", parts.join(".")))
}

/// The folder name for an on-disk directory name (`.A.B` → `A/B`).
pub fn folder_name_from_dir(dir_name: &str) -> String {
    let inner = dir_name.strip_prefix('.').unwrap_or(dir_name);
    inner
        .split('.')
        .map(|p| decode_mutf7(&listunescape(p)))
        .collect::<Vec<_>>()
        .join("/")
}

/// The directory of a folder inside a Maildir root.
pub fn folder_path(maildir_root: &Path, name: &str) -> PathBuf {
    match folder_dir_name(name) {
        None => maildir_root.to_path_buf(),
        Some(d) => maildir_root.join(d),
    }
}

// ---------------------------------------------------------------------------------------------
// Flags

/// Keyword letters of one folder (`dovecot-keywords`: lines `<index> <name>`, `a` = 0).
#[derive(Debug, Default, Clone)]
pub(crate) struct Keywords {
    names: BTreeMap<usize, String>,
}

impl Keywords {
    pub(crate) fn load(folder_dir: &Path) -> Keywords {
        let mut names = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(folder_dir.join("dovecot-keywords")) {
            for line in text.lines() {
                if let Some((i, n)) = line.split_once(' ')
                    && let Ok(i) = i.parse::<usize>()
                {
                    names.insert(i, n.to_string());
                }
            }
        }
        Keywords { names }
    }

    fn letter_for(&mut self, keyword: &str) -> Result<char> {
        if let Some((i, _)) = self.names.iter().find(|(_, n)| n.as_str() == keyword) {
            return Ok((b'a' + *i as u8) as char);
        }
        let i = (0..26)
            .find(|i| !self.names.contains_key(i))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "more than 26 keywords in one folder (adding {keyword})"
                ))
            })?;
        self.names.insert(i, keyword.to_string());
        Ok((b'a' + i as u8) as char)
    }

    pub(crate) fn name_of(&self, letter: char) -> Option<&str> {
        let i = (letter as u8).checked_sub(b'a')? as usize;
        self.names.get(&i).map(|s| s.as_str())
    }

    fn save(&self, folder_dir: &Path) -> Result<()> {
        if self.names.is_empty() {
            return Ok(());
        }
        let text: String = self
            .names
            .iter()
            .map(|(i, n)| format!("{i} {n}\n"))
            .collect();
        crate::util::write_atomic(&folder_dir.join("dovecot-keywords"), text.as_bytes())
    }
}

/// Maildir info letters for IMAP flags, sorted as the Maildir spec wants.
pub(crate) fn flag_letters(flags: &[String], keywords: &mut Keywords) -> Result<String> {
    let mut letters = Vec::new();
    for f in flags {
        let l = match f.to_ascii_lowercase().as_str() {
            "\\draft" => 'D',
            "\\flagged" => 'F',
            "\\answered" => 'R',
            "\\seen" => 'S',
            "\\deleted" => 'T',
            "\\recent" => continue,
            _ if f.starts_with('\\') => {
                return Err(Error::InvalidArgument(format!("unknown system flag {f}")));
            }
            _ => keywords.letter_for(f)?,
        };
        letters.push(l);
    }
    letters.sort_unstable();
    letters.dedup();
    Ok(letters.into_iter().collect())
}

/// IMAP flags for Maildir info letters (unknown letters are dropped, as Dovecot does).
pub(crate) fn letters_to_flags(letters: &str, keywords: &Keywords) -> Vec<String> {
    let mut flags: Vec<String> = letters
        .chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft".to_string()),
            'F' => Some("\\Flagged".to_string()),
            'R' => Some("\\Answered".to_string()),
            'S' => Some("\\Seen".to_string()),
            'T' => Some("\\Deleted".to_string()),
            'a'..='z' => keywords.name_of(c).map(str::to_string),
            _ => None,
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

// ---------------------------------------------------------------------------------------------
// Writing

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Creates a folder's `cur/ new/ tmp/` (and `maildirfolder` for subfolders); returns its path.
pub fn create_folder(maildir_root: &Path, name: &str) -> Result<PathBuf> {
    let dir = folder_path(maildir_root, name);
    for sub in ["cur", "new", "tmp"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(Error::io("create directory", &p))?;
    }
    if dir != maildir_root {
        let marker = dir.join("maildirfolder");
        if !marker.exists() {
            fs::write(&marker, b"").map_err(Error::io("write", &marker))?;
        }
    }
    Ok(dir)
}

/// Writes folders and messages under `maildir_root` (created if missing). Files are not
/// chowned here; the callers in [`crate::Dovecot`] hand the tree to the mail uid.
/// Returns the number of messages written.
pub fn write_folders(maildir_root: &Path, folders: &[SeedFolder]) -> Result<usize> {
    let mut count = 0;
    create_folder(maildir_root, "INBOX")?;
    for folder in folders {
        let dir = create_folder(maildir_root, &folder.name)?;
        let mut keywords = Keywords::load(&dir);
        for msg in &folder.messages {
            write_message_in(&dir, msg, &mut keywords)?;
            count += 1;
        }
        keywords.save(&dir)?;
    }
    Ok(count)
}

/// Writes one message into a folder (created if missing); returns the file's path.
pub fn write_message(maildir_root: &Path, folder: &str, msg: &SeedMessage) -> Result<PathBuf> {
    let dir = create_folder(maildir_root, folder)?;
    let mut keywords = Keywords::load(&dir);
    let path = write_message_in(&dir, msg, &mut keywords)?;
    keywords.save(&dir)?;
    Ok(path)
}

fn write_message_in(dir: &Path, msg: &SeedMessage, keywords: &mut Keywords) -> Result<PathBuf> {
    let letters = flag_letters(&msg.flags, keywords)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::SeqCst);
    // Zero-padded sequence: Dovecot gives new files UIDs in name order, so UIDs follow seeding order.
    let base = format!(
        "{now}.M{seq:09}P{}.seed,S={}",
        std::process::id(),
        msg.bytes.len()
    );
    let tmp = dir.join("tmp").join(&base);
    fs::write(&tmp, &msg.bytes).map_err(Error::io("write", &tmp))?;
    set_mtime(&tmp, msg.internal_date)?;
    let dest = dir.join("cur").join(format!("{base}:2,{letters}"));
    fs::rename(&tmp, &dest).map_err(Error::io("rename", &dest))?;
    Ok(dest)
}

pub(crate) fn set_mtime(path: &Path, unix_secs: i64) -> Result<()> {
    let t = if unix_secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix_secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(unix_secs.unsigned_abs())
    };
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
        .map_err(Error::io("set times of", path))
}

// ---------------------------------------------------------------------------------------------
// Reading files of a folder

/// One message file of a folder.
#[derive(Debug, Clone)]
pub(crate) struct MessageFile {
    pub path: PathBuf,
    /// Name up to the `:2,` info (what `dovecot-uidlist` records).
    pub base: String,
    pub letters: String,
}

/// Message files of a folder (`new/` and `cur/`), in UID order when `dovecot-uidlist` knows
/// them, file-name order otherwise (unknown files after known ones).
pub(crate) fn message_files(folder_dir: &Path) -> Result<Vec<MessageFile>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let d = folder_dir.join(sub);
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Io {
                    action: "read directory",
                    path: d,
                    source: e,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("read directory", &d))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let (base, letters) = match name.split_once(":2,") {
                Some((b, l)) => (b.to_string(), l.to_string()),
                None => (name.clone(), String::new()),
            };
            files.push(MessageFile {
                path: entry.path(),
                base,
                letters,
            });
        }
    }
    let uids = read_uidlist(folder_dir);
    files.sort_by(|a, b| {
        let ua = uids.get(&a.base).copied().unwrap_or(u32::MAX);
        let ub = uids.get(&b.base).copied().unwrap_or(u32::MAX);
        ua.cmp(&ub).then_with(|| a.base.cmp(&b.base))
    });
    Ok(files)
}

/// `dovecot-uidlist`: base file name → UID.
pub(crate) fn read_uidlist(folder_dir: &Path) -> BTreeMap<String, u32> {
    let mut map = BTreeMap::new();
    let Ok(text) = fs::read_to_string(folder_dir.join("dovecot-uidlist")) else {
        return map;
    };
    for line in text.lines().skip(1) {
        let Some((uid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        // Extension fields come first; the file name follows the last ':' that starts a field.
        if let Some(i) = rest.find(':') {
            let name = &rest[i + 1..];
            let base = name.split_once(":2,").map(|(b, _)| b).unwrap_or(name);
            map.insert(base.to_string(), uid);
        }
    }
    map
}

/// Replaces the flags of one message by renaming its file (the Maildir way; Dovecot notices on
/// the next sync of the folder and keeps the UID, which is bound to the base name).
pub fn replace_flags(
    maildir_root: &Path,
    folder: &str,
    which: &MessageRef,
    flags: &[String],
) -> Result<PathBuf> {
    let dir = folder_path(maildir_root, folder);
    let files = message_files(&dir)?;
    let file = match which {
        MessageRef::Index(i) => files.get(*i).cloned(),
        MessageRef::File(name) => {
            let base = name.split_once(":2,").map(|(b, _)| b).unwrap_or(name);
            files.iter().find(|f| f.base == base).cloned()
        }
        MessageRef::Uid(uid) => {
            let uids = read_uidlist(&dir);
            files
                .iter()
                .find(|f| uids.get(&f.base) == Some(uid))
                .cloned()
        }
    }
    .ok_or_else(|| Error::InvalidArgument(format!("no message {which:?} in folder {folder}")))?;
    let mut keywords = Keywords::load(&dir);
    let letters = flag_letters(flags, &mut keywords)?;
    keywords.save(&dir)?;
    let dest = dir.join("cur").join(format!("{}:2,{letters}", file.base));
    fs::rename(&file.path, &dest).map_err(Error::io("rename", &file.path))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_round_trips() {
        assert_eq!(encode_mutf7("Résumé"), "R&AOk-sum&AOk-");
        assert_eq!(encode_mutf7("Ünter"), "&ANw-nter");
        assert_eq!(encode_mutf7("a&b"), "a&-b");
        assert_eq!(encode_mutf7("日本語"), "&ZeVnLIqe-");
        for s in ["Résumé", "a&b", "日本語", "plain", "😀 x", "Entwürfe"] {
            assert_eq!(decode_mutf7(&encode_mutf7(s)), s);
        }
    }

    #[test]
    fn folder_dirs_use_dots_and_listescape() {
        assert_eq!(folder_dir_name("INBOX"), None);
        assert_eq!(
            folder_dir_name("Projects/2024").as_deref(),
            Some(".Projects.2024")
        );
        assert_eq!(folder_dir_name("a.b").as_deref(), Some(".a\\2eb"));
        assert_eq!(
            folder_dir_name("Résumé/Ünter").as_deref(),
            Some(".R&AOk-sum&AOk-.&ANw-nter")
        );
        for n in [
            "Projects/2024",
            "a.b",
            "Résumé/Ünter",
            "back\\slash",
            "Sent Items",
        ] {
            let d = folder_dir_name(n).unwrap_or_default();
            assert_eq!(folder_name_from_dir(&d), n);
        }
    }

    #[test]
    fn flags_map_to_sorted_letters() {
        let mut kw = Keywords::default();
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            flag_letters(&f(&["\\Seen", "\\Flagged", "\\Recent"]), &mut kw).unwrap_or_default(),
            "FS"
        );
        assert_eq!(
            flag_letters(&f(&["$Forwarded", "\\Answered"]), &mut kw).unwrap_or_default(),
            "Ra"
        );
        assert_eq!(
            letters_to_flags("FRSa", &kw),
            f(&["$Forwarded", "\\Answered", "\\Flagged", "\\Seen"])
        );
    }
}
