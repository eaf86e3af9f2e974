//! Folder planning: which source folders are copied, and under which target names.
//!
//! Input is the source's LIST (RFC 3501 §6.3.8, with RFC 6154 SPECIAL-USE attributes), its
//! NAMESPACE (RFC 2342) and the target's layout. Output is one [`FolderPlan`] per source folder
//! to copy, with its path relative to the mailbox root (the personal namespace prefix, or the
//! `UserRoot`, stripped) and its target path as a list of name segments, so that no separator
//! ever has to be re-parsed out of a joined string.
//!
//! Rules (see docs/design.md "Engine"):
//! - INBOX is INBOX on any server, whatever its case on the source.
//! - A folder with a special-use attribute (`\Sent \Trash \Junk \Drafts \Archive`) goes to the
//!   target's folder with the same attribute. A source without any special-use attribute is
//!   matched by well-known top-level names instead ("Sent Items", "Deleted Items", "Spam", ...).
//!   Children of a mapped folder follow it ("Sent Items/2019" -> "Sent/2019").
//! - Other users' and shared namespaces are skipped unless asked for.
//! - `-IncludeFolders` / `-ExcludeFolders` follow Exchange: names relative to the IMAP root,
//!   case-insensitive, `Folder/*` for a folder and its subtree, `#WellKnown#` names matched by
//!   role, `\#Name\#` for a real folder whose name looks like a well-known one.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Error;

/// A mailbox role, from RFC 6154 special-use attributes or a well-known name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// INBOX, whatever its case on the source; always INBOX on the target.
    Inbox,
    /// `\Sent`, or a top-level "Sent Items", "Sent Messages", ...; Exchange's `#SentItems#`.
    Sent,
    /// `\Trash`, or "Deleted Items", ...; `#DeletedItems#`.
    Trash,
    /// `\Junk`, or "Junk Email", "Spam", ...; `#JunkEmail#`.
    Junk,
    /// `\Drafts`, or "Drafts"; `#Drafts#`.
    Drafts,
    /// `\Archive`, or "Archive(s)"; `#Archive#`.
    Archive,
    /// `\All` (a virtual folder of every message, Gmail's "All Mail"); `#AllItems#`. Not
    /// mapped onto a target folder: copied like an ordinary folder unless the selection
    /// leaves it out.
    All,
    /// `\Flagged` (a virtual folder of the flagged messages). Not mapped, like [`Role::All`].
    Flagged,
}

impl Role {
    /// The roles whose folders are mapped onto the target's own folder of the same role.
    pub const MAPPED: [Role; 5] = [
        Role::Sent,
        Role::Trash,
        Role::Junk,
        Role::Drafts,
        Role::Archive,
    ];

    /// Parses an RFC 6154 attribute such as `\Sent` (case-insensitive).
    pub fn from_attribute(attr: &str) -> Option<Role> {
        let a = attr.trim_start_matches('\\').to_ascii_lowercase();
        Some(match a.as_str() {
            "sent" => Role::Sent,
            "trash" => Role::Trash,
            "junk" => Role::Junk,
            "drafts" => Role::Drafts,
            "archive" => Role::Archive,
            "all" => Role::All,
            "flagged" => Role::Flagged,
            _ => return None,
        })
    }

    /// The role a top-level folder of this name has on a server without SPECIAL-USE.
    pub fn from_well_known_name(name: &str) -> Option<Role> {
        let n = name.to_lowercase();
        Some(match n.as_str() {
            "sent" | "sent items" | "sent messages" | "sent mail" => Role::Sent,
            "trash" | "deleted items" | "deleted messages" => Role::Trash,
            "junk" | "junk email" | "junk e-mail" | "spam" => Role::Junk,
            "drafts" => Role::Drafts,
            "archive" | "archives" => Role::Archive,
            _ => return None,
        })
    }

    /// The folder name a target without a folder of this role gets (and the Maildir target's).
    pub fn default_name(self) -> &'static str {
        match self {
            Role::Inbox => "INBOX",
            Role::Sent => "Sent",
            Role::Trash => "Trash",
            Role::Junk => "Junk",
            Role::Drafts => "Drafts",
            Role::Archive => "Archive",
            Role::All => "All",
            Role::Flagged => "Flagged",
        }
    }
}

/// One LIST entry of the source or the target, name decoded from modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The full name as the server lists it (namespace prefix included), decoded.
    pub name: String,
    /// The hierarchy separator LIST gave for this name; `None` for NIL (a flat name).
    pub delimiter: Option<char>,
    /// `\Noselect` or `\NonExistent`: a container that holds no messages.
    pub noselect: bool,
    /// The role of its RFC 6154 attribute, if it has one; never guessed from the name here
    /// (the planner does that, for top-level names, when the server has no special-use).
    pub role: Option<Role>,
}

/// A namespace (RFC 2342): prefix and hierarchy delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ns {
    /// What names in the namespace start with (`""`, `"INBOX."`, `"Other Users/"`).
    pub prefix: String,
    /// The namespace's hierarchy separator; `None` for NIL (a flat namespace).
    pub delimiter: Option<char>,
}

/// The source's namespaces; a server without NAMESPACE has one personal namespace `""`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// The login's own mailboxes; their prefix is stripped from the relative paths.
    pub personal: Vec<Ns>,
    /// Other users' mailboxes the login can see; skipped unless `include_other_namespaces`.
    pub other_users: Vec<Ns>,
    /// Shared (public) folders; skipped unless `include_other_namespaces`.
    pub shared: Vec<Ns>,
}

/// What the planner needs to know about the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLayout {
    /// The target's hierarchy separator (`/` for the Maildir target).
    pub delimiter: char,
    /// Path prefix of the target's personal namespace (e.g. `["INBOX"]` on a Courier-style
    /// target whose personal prefix is `INBOX.`), prepended to every folder but INBOX.
    pub prefix: Vec<String>,
    /// The target's own folder for each role (path segments, prefix included).
    pub special: HashMap<Role, Vec<String>>,
    /// Whether a name segment may hold the separator (the Maildir target escapes it on disk);
    /// on an IMAP target it cannot.
    pub separator_in_names: bool,
}

impl TargetLayout {
    /// The layout of our Maildir++ target: `/`, no prefix, fixed special folder names.
    pub fn maildir() -> Self {
        let special = Role::MAPPED
            .iter()
            .map(|r| (*r, vec![r.default_name().to_string()]))
            .collect();
        TargetLayout {
            delimiter: '/',
            prefix: Vec::new(),
            special,
            separator_in_names: true,
        }
    }

    /// Builds the layout of an IMAP target from its LIST and personal namespace.
    pub fn from_imap(listed: &[Listed], personal: Option<&Ns>) -> Self {
        let (prefix_str, ns_delim) = match personal {
            Some(ns) => (ns.prefix.clone(), ns.delimiter),
            None => (String::new(), None),
        };
        let delimiter = ns_delim
            .or_else(|| listed.iter().find_map(|l| l.delimiter))
            .unwrap_or('/');
        let prefix: Vec<String> = prefix_str
            .trim_end_matches(delimiter)
            .split(delimiter)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut special = HashMap::new();
        for l in listed {
            if let Some(role) = l.role
                && Role::MAPPED.contains(&role)
            {
                let segs = split_name(&l.name, l.delimiter.or(Some(delimiter)));
                special.entry(role).or_insert(segs);
            }
        }
        TargetLayout {
            delimiter,
            prefix,
            special,
            separator_in_names: false,
        }
    }

    /// A source name segment as the target can take it: an empty segment (from `a//b` or `/` on
    /// a source whose separator is `/`) becomes `_`, and on an IMAP target the target's
    /// separator inside a segment (`a/b` from a source whose separator is `.`, `..` onto a
    /// target whose separator is `.`) becomes `_`, as it would split the name. `None` when the
    /// segment is taken as it is.
    pub fn safe_segment(&self, seg: &str) -> Option<String> {
        if seg.is_empty() {
            return Some("_".to_string());
        }
        if !self.separator_in_names && seg.contains(self.delimiter) {
            return Some(seg.replace(self.delimiter, "_"));
        }
        None
    }

    /// Joins target path segments into the name sent to the target. A segment holding the
    /// target's separator cannot be represented on an IMAP target: the separator becomes `_`.
    pub fn join(&self, segs: &[String]) -> String {
        let d = self.delimiter.to_string();
        segs.iter()
            .map(|s| s.replace(self.delimiter, "_"))
            .collect::<Vec<_>>()
            .join(&d)
    }
}

/// One source folder to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPlan {
    /// Full source name (decoded), as LISTed; what EXAMINE is sent for.
    pub source_name: String,
    /// Path relative to the mailbox root; INBOX is `["INBOX"]`.
    pub rel: Vec<String>,
    /// The role the planner gave it: [`Role::Inbox`] for INBOX, a mapped role for the one
    /// source folder that holds it (from its attribute, or its top-level name on a server
    /// without special-use), else its unmapped attribute role; `None` for ordinary folders.
    /// `#WellKnown#` names in the folder selection match on it.
    pub role: Option<Role>,
    /// Target path segments.
    pub target: Vec<String>,
    /// `\Noselect` on the source: created, never examined.
    pub noselect: bool,
    /// A segment of the source path could not be a target name as it is and was changed
    /// ([`TargetLayout::safe_segment`]; a `~` and 8 hex digits of its SHA-256 added where the
    /// change alone would meet another folder's name). The pass reports it, naming both.
    pub renamed: bool,
}

impl FolderPlan {
    /// The relative source path joined with `/`, as reports and selections show it.
    pub fn display(&self) -> String {
        self.rel.join("/")
    }
}

/// The segments of a name. Empty segments are kept (`a//b` is three, `/` two): dropping them
/// would merge `a//b` into `a/b` and lose `/` altogether; the target side makes them safe.
fn split_name(name: &str, delim: Option<char>) -> Vec<String> {
    match delim {
        Some(d) => name.split(d).map(str::to_string).collect(),
        None => vec![name.to_string()],
    }
}

/// Plans the folders of one user: which source folders, under which relative paths and target
/// names. `listed` is the source's full LIST.
pub fn plan_folders(
    listed: &[Listed],
    ns: &Namespaces,
    user_root: Option<&str>,
    include_other_namespaces: bool,
    target: &TargetLayout,
) -> Vec<FolderPlan> {
    let mut rows: Vec<(String, Vec<String>, Option<Role>, bool)> = Vec::new();
    let others: Vec<&Ns> = ns
        .other_users
        .iter()
        .chain(ns.shared.iter())
        .filter(|n| !n.prefix.is_empty())
        .collect();
    let personal: Vec<&Ns> = ns.personal.iter().collect();
    let root = user_root.map(|r| r.trim()).filter(|r| !r.is_empty());

    for l in listed {
        let delim = l.delimiter;
        let rel: Vec<String> = if let Some(root) = root {
            let d = delim.unwrap_or('/');
            let root = root.trim_end_matches(d);
            match l
                .name
                .strip_prefix(root)
                .and_then(|rest| rest.strip_prefix(d))
            {
                Some(rest) if !rest.is_empty() => split_name(rest, delim),
                _ => continue,
            }
        } else if l.name.eq_ignore_ascii_case("INBOX") {
            vec!["INBOX".to_string()]
        } else if let Some(o) = others.iter().find(|o| {
            l.name.starts_with(o.prefix.as_str())
                || l.name == o.prefix.trim_end_matches(|c| Some(c) == o.delimiter)
        }) {
            if !include_other_namespaces {
                continue;
            }
            let _ = o;
            split_name(&l.name, delim)
        } else {
            // The longest personal prefix that fits; "" when the server has no NAMESPACE.
            let p = personal
                .iter()
                .filter(|p| l.name.starts_with(p.prefix.as_str()))
                .max_by_key(|p| p.prefix.len());
            let rest = match p {
                Some(p) => &l.name[p.prefix.len()..],
                None if personal.is_empty() => l.name.as_str(),
                // Outside every namespace we know: treat as personal, unprefixed.
                None => l.name.as_str(),
            };
            if rest.is_empty() {
                // The namespace root itself (e.g. Courier's `INBOX.` listed as a container).
                continue;
            }
            split_name(rest, delim)
        };
        if rel.is_empty() {
            continue;
        }
        let mut rel = rel;
        if rel[0].eq_ignore_ascii_case("INBOX") {
            rel[0] = "INBOX".to_string();
        }
        rows.push((l.name.clone(), rel, l.role, l.noselect));
    }

    // Roles: from attributes when the source has any, else from well-known names; each role
    // goes to one source folder only (the first), so two source folders never merge silently
    // into the target's special folder.
    let has_special_use = rows
        .iter()
        .any(|r| r.2.is_some_and(|x| Role::MAPPED.contains(&x)));
    let mut taken: HashSet<Role> = HashSet::new();
    let mut roles: Vec<Option<Role>> = Vec::with_capacity(rows.len());
    for (_, rel, role, _) in &rows {
        let r = if rel == &["INBOX"] {
            Some(Role::Inbox)
        } else if has_special_use {
            *role
        } else if rel.len() == 1 {
            Role::from_well_known_name(&rel[0]).or(*role)
        } else {
            *role
        };
        let r = match r {
            Some(x) if Role::MAPPED.contains(&x) && !taken.insert(x) => None,
            other => other,
        };
        roles.push(r);
    }

    // Target paths, parents before children so a child follows a mapped parent.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].1.len());
    let mut mapped: HashMap<Vec<String>, Vec<String>> = HashMap::new();
    let mut plans: Vec<Option<FolderPlan>> = vec![None; rows.len()];
    for i in order {
        let (name, rel, _, noselect) = &rows[i];
        let role = roles[i];
        let target_path: Vec<String> = match role {
            Some(Role::Inbox) => vec!["INBOX".to_string()],
            Some(r) if Role::MAPPED.contains(&r) => match target.special.get(&r) {
                Some(p) => p.clone(),
                None => with_prefix(&target.prefix, rel),
            },
            _ => {
                let parent = &rel[..rel.len() - 1];
                match mapped.get(parent) {
                    Some(pt) if !parent.is_empty() => {
                        let mut t = pt.clone();
                        t.push(rel[rel.len() - 1].clone());
                        t
                    }
                    _ if rel[0] == "INBOX" => rel.clone(),
                    _ => with_prefix(&target.prefix, rel),
                }
            }
        };
        mapped.insert(rel.clone(), target_path.clone());
        plans[i] = Some(FolderPlan {
            source_name: name.clone(),
            rel: rel.clone(),
            role,
            target: target_path,
            noselect: *noselect,
            renamed: false,
        });
    }
    let mut plans: Vec<FolderPlan> = plans.into_iter().flatten().collect();
    make_safe(&mut plans, target);
    plans
}

/// Gives every segment the target cannot take its safe form ([`TargetLayout::safe_segment`]),
/// the same for every pass. Where the safe form of a path is another source folder's path
/// (`a.b` made `a_b` beside a real `a_b`), the changed segment also gets `~` and 8 hex digits
/// of the SHA-256 of the source segment, so the two stay two folders.
fn make_safe(plans: &mut [FolderPlan], target: &TargetLayout) {
    let taken: HashSet<Vec<String>> = plans
        .iter()
        .filter(|p| p.target.iter().all(|s| target.safe_segment(s).is_none()))
        .map(|p| p.target.clone())
        .collect();
    for p in plans.iter_mut() {
        let mut out = Vec::with_capacity(p.target.len());
        let mut renamed = false;
        for seg in &p.target {
            match target.safe_segment(seg) {
                Some(safe) => {
                    out.push(safe);
                    renamed = true;
                    let here = out.len();
                    // The path so far would be a real folder's: tag the changed segment.
                    let clash = taken
                        .iter()
                        .any(|t| t.len() >= here && t[..here] == out[..]);
                    if clash {
                        out[here - 1] = format!("{}~{}", out[here - 1], short_hash(seg));
                    }
                }
                None => out.push(seg.clone()),
            }
        }
        if renamed {
            p.target = out;
            p.renamed = true;
        }
    }
}

/// 8 hex digits of the SHA-256 of a name.
fn short_hash(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(name.as_bytes()))[..8].to_string()
}

fn with_prefix(prefix: &[String], rel: &[String]) -> Vec<String> {
    let mut v = prefix.to_vec();
    v.extend(rel.iter().cloned());
    v
}

/// An Exchange well-known folder name (`#Inbox#`), as `-IncludeFolders`/`-ExcludeFolders` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WellKnown {
    Root,
    Role(Role),
    /// Matched by these top-level names (no IMAP attribute exists for them).
    Named(&'static [&'static str]),
}

fn well_known(token: &str) -> Option<WellKnown> {
    Some(match token.to_ascii_lowercase().as_str() {
        "root" => WellKnown::Root,
        "inbox" => WellKnown::Role(Role::Inbox),
        "sentitems" => WellKnown::Role(Role::Sent),
        "deleteditems" => WellKnown::Role(Role::Trash),
        "junkemail" => WellKnown::Role(Role::Junk),
        "drafts" => WellKnown::Role(Role::Drafts),
        "archive" => WellKnown::Role(Role::Archive),
        "allitems" => WellKnown::Role(Role::All),
        "outbox" => WellKnown::Named(&["outbox"]),
        "calendar" => WellKnown::Named(&["calendar"]),
        "contacts" => WellKnown::Named(&["contacts"]),
        "journal" => WellKnown::Named(&["journal"]),
        "tasks" => WellKnown::Named(&["tasks"]),
        "notes" => WellKnown::Named(&["notes"]),
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    head: Option<WellKnown>,
    /// Lower-cased literal segments after the head.
    segs: Vec<String>,
    subtree: bool,
    text: String,
}

fn parse_pattern(p: &str, source_delim: Option<char>) -> Result<Pattern, Error> {
    let text = p.to_string();
    let mut s = p.trim();
    let mut subtree = false;
    if let Some(rest) = s.strip_suffix("/*") {
        subtree = true;
        s = rest;
    } else if let Some(d) = source_delim
        && let Some(rest) = s.strip_suffix(&format!("{d}*"))
    {
        subtree = true;
        s = rest;
    }
    if s.is_empty() || s == "*" {
        return Err(Error::InvalidFolderSelection(format!(
            "folder name '{text}' is empty; wildcards are not supported except a trailing '/*'"
        )));
    }
    let mut parts: Vec<String> = Vec::new();
    for piece in s.split('/') {
        match source_delim {
            Some(d) if d != '/' => parts.extend(piece.split(d).map(str::to_string)),
            _ => parts.push(piece.to_string()),
        }
    }
    let mut head = None;
    if let Some(first) = parts.first() {
        if let Some(inner) = first
            .strip_prefix("\\#")
            .and_then(|r| r.strip_suffix("\\#"))
        {
            parts[0] = format!("#{inner}#");
        } else if let Some(inner) = first
            .strip_prefix('#')
            .and_then(|r| r.strip_suffix('#'))
            .filter(|r| !r.is_empty())
        {
            match well_known(inner) {
                Some(w) => {
                    head = Some(w);
                    parts.remove(0);
                }
                None => {
                    return Err(Error::InvalidFolderSelection(format!(
                        "unknown well-known folder '{first}' in '{text}'; escape a real folder \
                         of that name as \\{}\\#",
                        &first[..first.len() - 1]
                    )));
                }
            }
        }
    }
    let segs = parts.iter().map(|p| p.to_lowercase()).collect();
    Ok(Pattern {
        head,
        segs,
        subtree,
        text,
    })
}

/// `-IncludeFolders` / `-ExcludeFolders`, parsed once per user.
#[derive(Debug, Clone, Default)]
pub struct FolderSelection {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl FolderSelection {
    /// Parses the two lists. `source_delim` lets a name use the source's own separator
    /// (`Inbox.Sub` on a Courier server) besides `/`.
    pub fn parse(
        include: &[String],
        exclude: &[String],
        source_delim: Option<char>,
    ) -> Result<Self, Error> {
        let p = |v: &[String]| -> Result<Vec<Pattern>, Error> {
            v.iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_pattern(s, source_delim))
                .collect()
        };
        Ok(FolderSelection {
            include: p(include)?,
            exclude: p(exclude)?,
        })
    }

    /// Keeps the planned folders the selection admits. Exclusion wins over inclusion.
    pub fn apply(&self, plans: Vec<FolderPlan>) -> Vec<FolderPlan> {
        let lower: Vec<Vec<String>> = plans
            .iter()
            .map(|p| p.rel.iter().map(|s| s.to_lowercase()).collect())
            .collect();
        let bases = |pat: &Pattern| -> Vec<Vec<String>> {
            let heads: Vec<Vec<String>> = match pat.head {
                None => vec![Vec::new()],
                Some(WellKnown::Root) => vec![Vec::new()],
                Some(WellKnown::Role(r)) => plans
                    .iter()
                    .zip(&lower)
                    .filter(|(p, _)| p.role == Some(r))
                    .map(|(_, l)| l.clone())
                    .collect(),
                Some(WellKnown::Named(names)) => lower
                    .iter()
                    .filter(|l| l.len() == 1 && names.contains(&l[0].as_str()))
                    .cloned()
                    .collect(),
            };
            heads
                .into_iter()
                .map(|mut h| {
                    h.extend(pat.segs.iter().cloned());
                    h
                })
                .collect()
        };
        let matches = |pats: &[Pattern], l: &[String]| {
            pats.iter().any(|pat| {
                bases(pat).iter().any(|b| {
                    if b.is_empty() {
                        // `#Root#`: the root holds no mail; `#Root#/*` is everything.
                        pat.subtree
                    } else {
                        l == b.as_slice() || (pat.subtree && l.starts_with(b))
                    }
                })
            })
        };
        let keep: Vec<bool> = lower
            .iter()
            .map(|l| {
                (self.include.is_empty() || matches(&self.include, l)) && !matches(&self.exclude, l)
            })
            .collect();
        plans
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(p, _)| p)
            .collect()
    }

    /// The patterns as given, for reports.
    pub fn describe(&self) -> (Vec<String>, Vec<String>) {
        (
            self.include.iter().map(|p| p.text.clone()).collect(),
            self.exclude.iter().map(|p| p.text.clone()).collect(),
        )
    }
}

/// Groups plans by target folder. Folders that land in the same target folder are copied by one
/// task, one after the other, so that checks against the target's contents never race.
pub fn group_by_target(plans: &[FolderPlan]) -> Vec<Vec<FolderPlan>> {
    let mut groups: BTreeMap<Vec<String>, Vec<FolderPlan>> = BTreeMap::new();
    for p in plans {
        let key = if p.target.len() == 1 && p.target[0].eq_ignore_ascii_case("INBOX") {
            vec!["INBOX".to_string()]
        } else {
            p.target.clone()
        };
        groups.entry(key).or_default().push(p.clone());
    }
    groups.into_values().collect()
}

/// All target folders to create, parents before children, each once (INBOX excluded: it
/// always exists).
pub fn folders_to_create(plans: &[FolderPlan]) -> Vec<Vec<String>> {
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut out = Vec::new();
    let mut targets: Vec<&Vec<String>> = plans.iter().map(|p| &p.target).collect();
    targets.sort_by_key(|t| t.len());
    for t in targets {
        for n in 1..=t.len() {
            let p = t[..n].to_vec();
            if p.len() == 1 && p[0].eq_ignore_ascii_case("INBOX") {
                continue;
            }
            if seen.insert(p.clone()) {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
