//! The Maildir++ target: one user's tree, laid out so that Dovecot serves it unchanged
//! (`mail_location = maildir:<root>`, `listescape` plugin, namespace separator `/`).
//!
//! Layout (docs/design.md "Targets"):
//! - INBOX is the root's `cur/ new/ tmp/`; folder `A/B` is the directory `.A.B` with an empty
//!   `maildirfolder` marker.
//! - Each name segment is stored in modified UTF-7 (RFC 3501 §5.1.3), then escaped as Dovecot's
//!   listescape does: `\` -> `\5c`, `.` -> `\2e`, `/` -> `\2f`, and a leading `~` -> `\7e`
//!   (checked against Dovecot 2.3.19 creating such folders itself).
//! - A message is delivered the Maildir way: written under `tmp/`, its mtime set to the
//!   INTERNALDATE, then renamed into `cur/` as
//!   `<date>.<folder_id>_<src_uidvalidity>_<src_uid>.imapmig,S=<size>:2,<flags>`. The rename is
//!   atomic, so a crash leaves either no message or a whole one, and the name carries a stable
//!   key: whether an interrupted delivery landed is answered exactly by looking for the key.
//! - Flags are the `:2,` info letters (`D F R S T`, sorted); keywords use Dovecot's scheme, the
//!   per-folder `dovecot-keywords` file mapping index n to the letter `a + n` (26 at most per
//!   folder; further keywords are dropped and counted).
//! - fsync is off by default (the rename is still atomic); with `fsync` each file is synced
//!   before its rename and the `cur/` directory once per delivered group.
//!
//! Everything here is blocking file I/O; the engine calls it from `spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::flags::{FlagSet, from_maildir_letters, maildir_letters};

/// Marker in our file names; files without it were not delivered by us.
const MARK: &str = ".imapmig";

/// The stable identity of a message file we delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// The id of the source folder's row in the state store (`folders.id`): unique per user
    /// and source folder, so source folders merged into one target folder never collide.
    pub folder_id: i64,
    /// The source folder's UIDVALIDITY when the message was delivered (rewritten by
    /// [`MaildirTarget::rekey`] after it changed).
    pub uidvalidity: u32,
    /// The message's UID in the source folder.
    pub uid: u32,
}

impl FileKey {
    fn render(self) -> String {
        format!("{}_{}_{}", self.folder_id, self.uidvalidity, self.uid)
    }

    /// Parses the key out of a base name `<date>.<fid>_<validity>_<uid>.imapmig,S=...`.
    fn parse(base: &str) -> Option<Self> {
        let end = base.find(MARK)?;
        let start = base[..end].find('.')? + 1;
        let mut it = base[start..end].split('_');
        let folder_id = it.next()?.parse().ok()?;
        let uidvalidity = it.next()?.parse().ok()?;
        let uid = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(FileKey {
            folder_id,
            uidvalidity,
            uid,
        })
    }
}

/// The on-disk name of one segment.
pub fn escape_segment(seg: &str) -> String {
    let enc = imapmigration_imap::mutf7::encode(seg);
    let mut out = String::with_capacity(enc.len());
    for (i, c) in enc.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\5c"),
            '.' => out.push_str("\\2e"),
            '/' => out.push_str("\\2f"),
            '~' if i == 0 => out.push_str("\\7e"),
            c => out.push(c),
        }
    }
    out
}

/// The longest file name ext4, XFS, btrfs and tmpfs take, in bytes: a Maildir++ folder is one
/// directory entry, `.` and every segment of its path, so a deep or non-Latin path (modified
/// UTF-7 makes about 2.7 bytes of each such character) reaches it soon.
pub const NAME_MAX: usize = 255;

/// The directory name (under the root) of a folder path; `None` for INBOX. A name longer than
/// [`NAME_MAX`] is shortened ([`shortened_dir_name`]).
pub fn dir_name(segs: &[String]) -> Option<String> {
    let parts = escaped_parts(segs)?;
    let full = join_parts(&parts);
    if full.len() <= NAME_MAX {
        return Some(full);
    }
    Some(shortened_dir_name(segs, parts, &full))
}

/// Whether [`dir_name`] had to shorten the folder's name to fit [`NAME_MAX`].
pub fn is_shortened(segs: &[String]) -> bool {
    escaped_parts(segs).is_some_and(|p| join_parts(&p).len() > NAME_MAX)
}

fn escaped_parts(segs: &[String]) -> Option<Vec<String>> {
    if segs.is_empty() || (segs.len() == 1 && segs[0].eq_ignore_ascii_case("INBOX")) {
        return None;
    }
    Some(
        segs.iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 && s.eq_ignore_ascii_case("INBOX") {
                    "INBOX".to_string()
                } else {
                    escape_segment(s)
                }
            })
            .collect(),
    )
}

fn join_parts(parts: &[String]) -> String {
    format!(".{}", parts.join("."))
}

/// A stable on-disk name for a folder whose Maildir++ name is too long: as many leading
/// segments as fit are kept whole, and the rest of the path becomes one last segment, its
/// segments joined by ` - `, cut to the characters that fit and followed by `~` and 8 hex digits
/// of the SHA-256 of the full name (so two long names that share a prefix stay two folders, and
/// every pass finds the same directory). A long leaf under short parents keeps its place in the
/// tree; only a path whose parents alone are too long is flattened. Cutting happens on
/// characters, before encoding, so the name stays valid modified UTF-7 that Dovecot lists.
pub fn shortened_dir_name(segs: &[String], parts: Vec<String>, full: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(full.as_bytes());
    let tag = format!("~{}", &hex::encode(digest)[..8]);
    let inbox_first = segs[0].eq_ignore_ascii_case("INBOX");
    let lowest = usize::from(inbox_first && segs.len() > 1);
    // Parents kept whole: as many as leave the leaf a few characters, all of them at best.
    for parents in (lowest..segs.len()).rev() {
        let leaf: Vec<char> = segs[parents..].join(" - ").chars().collect();
        let at_least = if parents == lowest {
            0
        } else {
            leaf.len().min(8)
        };
        for keep in (at_least..=leaf.len()).rev() {
            let mut seg: String = leaf[..keep].iter().collect();
            seg.push_str(&tag);
            let mut candidate = parts[..parents].to_vec();
            candidate.push(escape_segment(&seg));
            let name = join_parts(&candidate);
            if name.len() <= NAME_MAX {
                return name;
            }
        }
    }
    // Nothing fits (an INBOX child whose tag alone is too long cannot happen): keep the name,
    // the file system refuses it and that folder alone fails, naming itself.
    join_parts(&parts)
}

/// One user's Maildir++ tree.
#[derive(Debug, Clone)]
pub struct MaildirTarget {
    root: PathBuf,
    fsync: bool,
}

/// A message file found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// `cur` or `new`.
    pub sub: &'static str,
    /// The whole file name: `base`, then `:2,` and the info letters if it has any.
    pub name: String,
    /// The name before `:2,` (the whole name when there is no info suffix); renames that
    /// change flags keep it, so Dovecot keeps the message's UID.
    pub base: String,
    /// The info letters after `:2,`: system flags upper case, keywords `a`-`z`; empty when
    /// there are none or no suffix.
    pub letters: String,
}

impl FileEntry {
    /// The file's path in the folder directory `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(self.sub).join(&self.name)
    }

    /// Size from `,S=` in the name, if present.
    pub fn size_hint(&self) -> Option<u64> {
        let i = self.base.find(",S=")?;
        let rest = &self.base[i + 3..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}

/// A folder's contents, by our key; files we did not deliver are listed apart.
#[derive(Debug, Default, Clone)]
pub struct FolderScan {
    /// Files we delivered (their name carries `.imapmig` and a [`FileKey`]), by that key.
    pub ours: HashMap<FileKey, FileEntry>,
    /// Every other message file: delivered by Dovecot, another tool or the user.
    pub foreign: Vec<FileEntry>,
}

/// What a file holds, for matching after a UIDVALIDITY change.
#[derive(Debug, Clone)]
pub struct Inventoried {
    /// The file.
    pub entry: FileEntry,
    /// The key its name carries; `None` for a file we did not deliver.
    pub key: Option<FileKey>,
    /// The file's length, in bytes.
    pub size: u64,
    /// The file's mtime in Unix seconds: the INTERNALDATE for a file we delivered.
    pub date: i64,
    /// The msg_key: the normalized Message-ID, or with `hash_without_id` the `sha256:` body
    /// key of a message without one; `None` for such a message when the hash was not asked for.
    pub message_id: Option<String>,
    /// The flags its info letters stand for (keywords through `dovecot-keywords`).
    pub flags: FlagSet,
}

/// A message to deliver.
#[derive(Debug)]
pub struct Delivery {
    /// The row the file belongs to; carried in its name.
    pub key: FileKey,
    /// The message exactly as fetched from the source (`BODY[]`), written unchanged.
    pub body: bytes::Bytes,
    /// Flags and keywords to give it; keywords that find no letter are returned, not stored.
    pub flags: FlagSet,
    /// INTERNALDATE in Unix seconds: the file's mtime and atime, and its name's prefix
    /// (clamped at 0).
    pub date: i64,
}

/// Keywords of one folder: Dovecot's `dovecot-keywords` (`<index> <name>` per line).
#[derive(Debug, Default, Clone)]
pub struct Keywords {
    names: BTreeMap<u8, String>,
    dirty: bool,
}

impl Keywords {
    /// Reads the folder's `dovecot-keywords`; a missing or unreadable file is no keywords,
    /// and lines that are not `<0..25> <name>` are ignored.
    pub fn load(dir: &Path) -> Self {
        let mut names = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(dir.join("dovecot-keywords")) {
            for line in text.lines() {
                if let Some((i, n)) = line.split_once(' ')
                    && let Ok(i) = i.parse::<u8>()
                    && i < 26
                {
                    names.insert(i, n.to_string());
                }
            }
        }
        Keywords {
            names,
            dirty: false,
        }
    }

    /// The letter of a keyword, assigning the next free one; `None` when all 26 are taken.
    pub fn letter_for(&mut self, kw: &str) -> Option<char> {
        if let Some((i, _)) = self.names.iter().find(|(_, n)| n.as_str() == kw) {
            return Some((b'a' + *i) as char);
        }
        let i = (0..26u8).find(|i| !self.names.contains_key(i))?;
        self.names.insert(i, kw.to_string());
        self.dirty = true;
        Some((b'a' + i) as char)
    }

    /// The keyword a letter stands for; `None` for a letter outside `a`-`z` or not assigned.
    pub fn name_of(&self, letter: char) -> Option<&str> {
        let i = (letter as u32).checked_sub('a' as u32)?;
        self.names.get(&u8::try_from(i).ok()?).map(String::as_str)
    }

    /// Writes the file if keywords were added (tmp + rename).
    pub fn save(&mut self, dir: &Path) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let text: String = self
            .names
            .iter()
            .map(|(i, n)| format!("{i} {n}\n"))
            .collect();
        let tmp = dir.join("tmp").join("dovecot-keywords.imapmig");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, dir.join("dovecot-keywords"))?;
        self.dirty = false;
        Ok(())
    }

    /// Info letters for a flag set, system letters first, then keyword letters, each sorted.
    /// Returns the letters and the keywords that found no letter.
    pub fn letters(&mut self, flags: &FlagSet) -> (String, Vec<String>) {
        let mut s = maildir_letters(flags);
        let mut kw_letters = Vec::new();
        let mut dropped = Vec::new();
        for k in flags.keywords() {
            match self.letter_for(k) {
                Some(c) => kw_letters.push(c),
                None => dropped.push(k.to_string()),
            }
        }
        kw_letters.sort_unstable();
        s.extend(kw_letters);
        (s, dropped)
    }

    /// The flags an info suffix stands for.
    pub fn flags(&self, letters: &str) -> FlagSet {
        let (mut set, other) = from_maildir_letters(letters);
        for c in other {
            if let Some(n) = self.name_of(c) {
                set.insert(n);
            }
        }
        set
    }
}

fn system_time(unix: i64) -> std::time::SystemTime {
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

impl MaildirTarget {
    /// The tree at `root` (INBOX's directory); nothing is created until
    /// [`MaildirTarget::create_folder`]. `fsync` as in `SyncOptions::fsync`.
    pub fn new(root: impl Into<PathBuf>, fsync: bool) -> Self {
        MaildirTarget {
            root: root.into(),
            fsync,
        }
    }

    /// The root directory: INBOX's, and the parent of every other folder's.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a folder.
    pub fn folder_dir(&self, segs: &[String]) -> PathBuf {
        match dir_name(segs) {
            None => self.root.clone(),
            Some(d) => self.root.join(d),
        }
    }

    /// Subscribes folders (RFC 3501 §6.3.6) the way Dovecot keeps subscriptions for Maildir++:
    /// the root's `subscriptions` file, `V<TAB>2`, an empty line, then one folder per line with
    /// its segments in their on-disk form joined by a TAB. Existing entries are kept.
    pub fn subscribe(&self, folders: &[Vec<String>]) -> io::Result<()> {
        let path = self.root.join("subscriptions");
        let existing = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut lines: Vec<String> = existing
            .lines()
            .skip_while(|l| l.starts_with("V\t"))
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let before = lines.len();
        for segs in folders {
            // The on-disk name, shortened or not, is the name Dovecot lists; escaping turned
            // every `.` inside a segment into `\2e`, so the dots left separate segments.
            let line = match dir_name(segs) {
                None => "INBOX".to_string(),
                Some(d) => d.strip_prefix('.').unwrap_or(&d).replace('.', "\t"),
            };
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        if lines.len() == before && !existing.is_empty() {
            return Ok(());
        }
        let mut text = String::from("V\t2\n\n");
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        fs::create_dir_all(self.root.join("tmp"))?;
        let tmp = self.root.join("tmp").join("subscriptions.imapmig");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)
    }

    /// Creates a folder (idempotent): `cur/ new/ tmp/`, and `maildirfolder` below the root. The
    /// INBOX (the root) is always created with it.
    pub fn create_folder(&self, segs: &[String]) -> io::Result<PathBuf> {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(self.root.join(sub))?;
        }
        let dir = self.folder_dir(segs);
        if dir != self.root {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(dir.join(sub))?;
            }
            let marker = dir.join("maildirfolder");
            if !marker.exists() {
                fs::File::create(&marker)?;
            }
        }
        Ok(dir)
    }

    /// Lists a folder's message files (`cur/` and `new/`).
    pub fn scan(&self, dir: &Path) -> io::Result<FolderScan> {
        let mut scan = FolderScan::default();
        for sub in ["cur", "new"] {
            let d = dir.join(sub);
            let rd = match fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for ent in rd {
                let ent = ent?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let (base, letters) = match name.split_once(":2,") {
                    Some((b, l)) => (b.to_string(), l.to_string()),
                    None => (name.clone(), String::new()),
                };
                let entry = FileEntry {
                    sub,
                    name,
                    base,
                    letters,
                };
                match FileKey::parse(&entry.base) {
                    Some(k) => {
                        scan.ours.insert(k, entry);
                    }
                    None => scan.foreign.push(entry),
                }
            }
        }
        Ok(scan)
    }

    /// Removes our own half-written files from `tmp/` (left by a crash; never visible as mail).
    pub fn clean_tmp(&self, dir: &Path) -> io::Result<()> {
        let d = dir.join("tmp");
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for ent in rd {
            let ent = ent?;
            if ent.file_name().to_string_lossy().contains(MARK) {
                let _ = fs::remove_file(ent.path());
            }
        }
        Ok(())
    }

    /// Delivers messages into a folder; returns, per message in order, the keywords that could
    /// not be stored. Stops at the first I/O error (earlier deliveries
    /// stay: they are complete files).
    pub fn deliver(
        &self,
        dir: &Path,
        keywords: &mut Keywords,
        msgs: &[Delivery],
    ) -> io::Result<Vec<Vec<String>>> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            let (letters, dropped) = keywords.letters(&m.flags);
            if keywords.dirty {
                // The keywords file must name a letter before a file uses it.
                keywords.save(dir)?;
            }
            let base = format!(
                "{}.{}{MARK},S={}",
                m.date.max(0),
                m.key.render(),
                m.body.len()
            );
            let tmp = dir.join("tmp").join(&base);
            {
                let mut f = fs::File::create(&tmp)?;
                f.write_all(&m.body)?;
                let t = system_time(m.date);
                f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))?;
                if self.fsync {
                    f.sync_all()?;
                }
            }
            fs::rename(&tmp, dir.join("cur").join(format!("{base}:2,{letters}")))?;
            out.push(dropped);
        }
        if self.fsync && !msgs.is_empty() {
            fs::File::open(dir.join("cur"))?.sync_all()?;
        }
        Ok(out)
    }

    /// Rewrites a file's flags (rename within the folder; the base name, and so Dovecot's UID,
    /// stays). Returns the new entry.
    pub fn set_flags(
        &self,
        dir: &Path,
        keywords: &mut Keywords,
        entry: &FileEntry,
        flags: &FlagSet,
    ) -> io::Result<FileEntry> {
        let (letters, _) = keywords.letters(flags);
        keywords.save(dir)?;
        if letters == entry.letters && entry.sub == "cur" {
            return Ok(entry.clone());
        }
        let name = format!("{}:2,{letters}", entry.base);
        fs::rename(entry.path(dir), dir.join("cur").join(&name))?;
        Ok(FileEntry {
            sub: "cur",
            name,
            base: entry.base.clone(),
            letters,
        })
    }

    /// Gives a file a new key (after the source's UIDVALIDITY changed, so that the key again
    /// names the row's source UID). Atomic; the date prefix and the rest of the name stay.
    pub fn rekey(&self, dir: &Path, entry: &FileEntry, key: FileKey) -> io::Result<FileEntry> {
        let Some(end) = entry.base.find(MARK) else {
            return Ok(entry.clone());
        };
        let start = entry.base[..end].find('.').map_or(0, |i| i + 1);
        let base = format!(
            "{}{}{}",
            &entry.base[..start],
            key.render(),
            &entry.base[end..]
        );
        let name = if entry.name.contains(":2,") {
            format!("{base}:2,{}", entry.letters)
        } else {
            base.clone()
        };
        fs::rename(entry.path(dir), dir.join(entry.sub).join(&name))?;
        Ok(FileEntry {
            sub: entry.sub,
            name,
            base,
            letters: entry.letters.clone(),
        })
    }

    /// Reads what identifies each file (size, date, Message-ID, flags); the body is read only up
    /// to the end of the header unless `hash_without_id` asks for the hash of bodies without a
    /// Message-ID.
    pub fn inventory(
        &self,
        dir: &Path,
        keywords: &Keywords,
        hash_without_id: bool,
    ) -> io::Result<Vec<Inventoried>> {
        let scan = self.scan(dir)?;
        let mut out = Vec::new();
        let all = scan
            .ours
            .into_iter()
            .map(|(k, e)| (Some(k), e))
            .chain(scan.foreign.into_iter().map(|e| (None, e)));
        for (key, entry) in all {
            let path = entry.path(dir);
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let date = match meta.modified()?.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            };
            let size = meta.len();
            let head = read_head(&path)?;
            let mut message_id = super::plan::message_id_from_headers(&head);
            if message_id.is_none() && hash_without_id {
                message_id = Some(file_body_key(&path)?);
            }
            let flags = keywords.flags(&entry.letters);
            out.push(Inventoried {
                entry,
                key,
                size,
                date,
                message_id,
                flags,
            });
        }
        Ok(out)
    }
}

/// The body key (`plan::body_key`) of a message file, read in pieces: a file as large as the
/// memory budget is hashed in 64 KiB, never held whole.
fn file_body_key(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut k = super::plan::BodyKeyHasher::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(k.finish());
        }
        k.update(&buf[..n]);
    }
}

/// The header block of a file (up to the first empty line, at most 256 KiB).
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = f.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(2).any(|w| w == b"\n\n") || buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > 256 * 1024 {
            break;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests;
