//! Mailbox commands: NAMESPACE (RFC 2342), LIST with SPECIAL-USE (RFC 6154), EXAMINE and
//! SELECT with CONDSTORE (RFC 7162 §3.1), CREATE and SUBSCRIBE.

use std::collections::HashSet;

use imap_proto::{MailboxDatum, NameAttribute, Response, ResponseCode};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::mutf7;
use crate::response::{Msg, Tagged, parse_namespace, unparsed_name};
use crate::session::Session;
use crate::wire::{is_recent, is_valid_flag, mailbox_arg};

/// One namespace (RFC 2342 §5): names start with `prefix` and use `delimiter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Decoded (UTF-8) prefix, e.g. `""` or `"INBOX."`.
    pub prefix: String,
    /// The hierarchy separator inside this namespace; `None` when the server sent NIL (a
    /// flat namespace).
    pub delimiter: Option<char>,
}

/// The three namespace classes of RFC 2342.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// The logged-in user's own mailboxes: usually one, with prefix `""` or `"INBOX."`.
    pub personal: Vec<Namespace>,
    /// Other users' mailboxes visible to this one (often `"Other Users/"`).
    pub other: Vec<Namespace>,
    /// Mailboxes shared between users (public folders).
    pub shared: Vec<Namespace>,
}

/// Special-use attributes (RFC 6154 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    /// `\All`: a virtual mailbox of every message (Gmail's "All Mail"); also `\AllMail`.
    All,
    /// `\Archive`: where messages are archived.
    Archive,
    /// `\Drafts`: unfinished messages.
    Drafts,
    /// `\Flagged`: a virtual mailbox of the flagged messages; also `\Starred`.
    Flagged,
    /// `\Junk`: messages judged spam; also `\Spam`.
    Junk,
    /// `\Sent`: copies of sent messages.
    Sent,
    /// `\Trash`: deleted messages.
    Trash,
}

impl SpecialUse {
    /// The attribute as sent on the wire (`\Sent`).
    pub fn as_attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    fn from_attribute(attr: &str) -> Option<Self> {
        let a = attr.to_ascii_lowercase();
        Some(match a.as_str() {
            "\\all" | "\\allmail" => SpecialUse::All,
            "\\archive" => SpecialUse::Archive,
            "\\drafts" => SpecialUse::Drafts,
            "\\flagged" | "\\starred" => SpecialUse::Flagged,
            "\\junk" | "\\spam" => SpecialUse::Junk,
            "\\sent" => SpecialUse::Sent,
            "\\trash" => SpecialUse::Trash,
            _ => return None,
        })
    }

    /// A guess from a well-known folder name (last hierarchy level), for servers without
    /// SPECIAL-USE. English and a few common localisations.
    pub fn guess_from_name(leaf: &str) -> Option<Self> {
        let l = leaf.to_lowercase();
        Some(match l.as_str() {
            "sent"
            | "sent items"
            | "sent messages"
            | "sent mail"
            | "gesendet"
            | "gesendete elemente"
            | "gesendete objekte"
            | "envoyés"
            | "éléments envoyés" => SpecialUse::Sent,
            "drafts" | "draft" | "entwürfe" | "brouillons" => SpecialUse::Drafts,
            "trash"
            | "deleted items"
            | "deleted messages"
            | "bin"
            | "papierkorb"
            | "gelöschte elemente"
            | "corbeille" => SpecialUse::Trash,
            "junk" | "spam" | "junk e-mail" | "junk email" | "bulk mail" | "junk-e-mail" => {
                SpecialUse::Junk
            }
            "archive" | "archives" | "archiv" => SpecialUse::Archive,
            _ => return None,
        })
    }
}

/// One mailbox from LIST (RFC 3501 §7.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Decoded UTF-8 name (the raw name when it is not valid modified UTF-7).
    pub name: String,
    /// The name as on the wire (modified UTF-7).
    pub raw: String,
    /// The hierarchy separator LIST reported for this name; `None` for NIL (no hierarchy).
    pub delimiter: Option<char>,
    /// All attributes as sent, e.g. `\HasNoChildren`, `\Sent`.
    pub attributes: Vec<String>,
    /// From the server's attributes, or guessed from the name when the server does not
    /// advertise SPECIAL-USE.
    pub special_use: Option<SpecialUse>,
    /// `\Noselect` or `\NonExistent`: a hierarchy node holding no messages.
    pub noselect: bool,
}

/// The state of a selected or examined mailbox (RFC 3501 §6.3.1, §7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxInfo {
    /// UIDVALIDITY (RFC 3501 §2.3.1.1): UIDs stored under another value are stale. A server
    /// that sends none is a protocol error, so this is never a made-up default.
    pub uid_validity: u32,
    /// UIDNEXT; when the server omits it, one more than the highest UID (1 if empty).
    pub uid_next: u32,
    /// EXISTS: the number of messages in the mailbox when it was opened.
    pub exists: u32,
    /// HIGHESTMODSEQ when CONDSTORE is on (RFC 7162 §3.1.2.1); `None` with NOMODSEQ.
    pub highest_modseq: Option<u64>,
    /// PERMANENTFLAGS (or FLAGS when the server sent no PERMANENTFLAGS).
    pub permanent_flags: Vec<String>,
    /// `\*` in PERMANENTFLAGS: new keywords may be stored.
    pub allows_keywords: bool,
    /// Opened with EXAMINE, or the server answered SELECT with `[READ-ONLY]`.
    pub read_only: bool,
}

/// The flags worth sending to a target mailbox: never `\Recent`, never anything that is not
/// a valid flag atom, and keywords only where the target keeps them (`\*` or listed).
pub fn filter_flags_for_target(flags: &[String], target: &MailboxInfo) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !is_recent(f) && is_valid_flag(f))
        .filter(|f| {
            f.starts_with('\\')
                || target.allows_keywords
                || target
                    .permanent_flags
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(f))
        })
        .cloned()
        .collect()
}

fn attribute_name(a: &NameAttribute<'_>) -> String {
    match a {
        NameAttribute::NoInferiors => "\\Noinferiors".into(),
        NameAttribute::NoSelect => "\\Noselect".into(),
        NameAttribute::Marked => "\\Marked".into(),
        NameAttribute::Unmarked => "\\Unmarked".into(),
        NameAttribute::All => "\\All".into(),
        NameAttribute::Archive => "\\Archive".into(),
        NameAttribute::Drafts => "\\Drafts".into(),
        NameAttribute::Flagged => "\\Flagged".into(),
        NameAttribute::Junk => "\\Junk".into(),
        NameAttribute::Sent => "\\Sent".into(),
        NameAttribute::Trash => "\\Trash".into(),
        NameAttribute::Extension(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// imap-proto returns quoted strings without undoing `\\` and `\"` (RFC 3501 §4.3). The
/// mailbox is the last item of a LIST line: quoted when the line ends in `"` and carries no
/// literal.
fn name_was_quoted(frame: &[u8]) -> bool {
    let first_line = frame.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    !first_line.ends_with(b"}") && frame.ends_with(b"\"\r\n")
}

fn unescape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn decode_name(raw: &str) -> String {
    match mutf7::decode(raw) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(mailbox = raw, error = %e, "using undecodable mailbox name as is");
            raw.to_string()
        }
    }
}

fn namespaces_of([p, o, s]: [Vec<crate::response::RawNamespace>; 3]) -> Namespaces {
    let conv = |v: Vec<crate::response::RawNamespace>| {
        v.into_iter()
            .map(|n| Namespace {
                prefix: decode_name(&n.prefix),
                delimiter: n.delimiter,
            })
            .collect()
    };
    Namespaces {
        personal: conv(p),
        other: conv(o),
        shared: conv(s),
    }
}

/// The folder of one LIST response, or None for other data. `special`: the server has
/// SPECIAL-USE (else roles are guessed from top-level names).
fn list_entry(m: &Msg<'_>, frame: &[u8], special: bool) -> Result<Option<Folder>> {
    // A LIST line that cannot be parsed is a folder we would silently not copy.
    if let Msg::Unparsed(raw) = m
        && unparsed_name(raw).is_some_and(|n| n == "LIST" || n == "XLIST")
    {
        return Err(Error::malformed("LIST", raw));
    }
    let Msg::Data(Response::MailboxData(MailboxDatum::List(l))) = m else {
        return Ok(None);
    };
    let raw = if name_was_quoted(frame) {
        unescape_quoted(&l.name)
    } else {
        l.name.to_string()
    };
    let attributes: Vec<String> = l.name_attributes.iter().map(attribute_name).collect();
    let delimiter = l.delimiter.as_ref().and_then(|d| d.chars().next());
    let name = decode_name(&raw);
    let mut special_use = attributes
        .iter()
        .find_map(|a| SpecialUse::from_attribute(a));
    if special_use.is_none() && !special {
        let leaf = match delimiter {
            Some(d) => name.rsplit(d).next().unwrap_or(&name),
            None => &name,
        };
        special_use = SpecialUse::guess_from_name(leaf);
    }
    let noselect = attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent"));
    Ok(Some(Folder {
        name,
        raw,
        delimiter,
        attributes,
        special_use,
        noselect,
    }))
}

impl Session {
    /// NAMESPACE (RFC 2342). Without the capability: one personal namespace with an empty
    /// prefix and the delimiter from `LIST "" ""`.
    pub async fn namespaces(&mut self) -> Result<Namespaces> {
        let span = self.span.clone();
        async move {
            if self.capabilities().has("NAMESPACE") {
                let mut found = None;
                self.run("NAMESPACE", "NAMESPACE", |m, _| {
                    if let Msg::Unparsed(raw) = m
                        && let Some(ns) = parse_namespace(raw)
                    {
                        found = Some(ns);
                    }
                    Ok(())
                })
                .await?;
                if let Some(ns) = found {
                    return Ok(namespaces_of(ns));
                }
                tracing::warn!("server advertised NAMESPACE but sent no parseable reply");
            }
            self.namespace_from_list().await
        }
        .instrument(span)
        .await
    }

    /// [`Session::namespaces`] and [`Session::list_folders`] sent together: one round trip for
    /// both where the server has NAMESPACE. Either refused fails both.
    pub async fn namespaces_and_folders(&mut self) -> Result<(Namespaces, Vec<Folder>)> {
        if !self.capabilities().has("NAMESPACE") {
            let ns = self.namespaces().await?;
            return Ok((ns, self.list_folders().await?));
        }
        let span = self.span.clone();
        async move {
            let special = self.capabilities().has("SPECIAL-USE");
            let tags = [
                self.send("NAMESPACE").await?,
                self.send_behind(self.list_line()).await?,
            ];
            let mut found = None;
            let mut folders = Vec::new();
            let done = self
                .finish_each(&tags, |m, frame| {
                    if let Msg::Unparsed(raw) = m
                        && let Some(ns) = parse_namespace(raw)
                    {
                        found = Some(ns);
                        return Ok(());
                    }
                    if let Some(f) = list_entry(m, frame, special)? {
                        folders.push(f);
                    }
                    Ok(())
                })
                .await?;
            let [ns_done, list_done] = <[Tagged; 2]>::try_from(done).map_err(|_| {
                Error::Protocol("NAMESPACE and LIST: a completion is missing".into())
            })?;
            ns_done.into_result("NAMESPACE")?;
            list_done.into_result("LIST")?;
            let ns = match found {
                Some(ns) => namespaces_of(ns),
                None => {
                    tracing::warn!("server advertised NAMESPACE but sent no parseable reply");
                    self.namespace_from_list().await?
                }
            };
            Ok((ns, folders))
        }
        .instrument(span)
        .await
    }

    /// One personal namespace with an empty prefix and the delimiter from `LIST "" ""`.
    async fn namespace_from_list(&mut self) -> Result<Namespaces> {
        let mut delimiter = None;
        self.run("LIST \"\" \"\"", "LIST", |m, _| {
            if let Msg::Data(Response::MailboxData(MailboxDatum::List(l))) = m {
                delimiter = l.delimiter.as_ref().and_then(|d| d.chars().next());
            }
            Ok(())
        })
        .await?;
        Ok(Namespaces {
            personal: vec![Namespace {
                prefix: String::new(),
                delimiter,
            }],
            ..Namespaces::default()
        })
    }

    fn list_line(&self) -> &'static str {
        if self.capabilities().has("SPECIAL-USE") && self.capabilities().has("LIST-EXTENDED") {
            "LIST \"\" \"*\" RETURN (SPECIAL-USE CHILDREN)"
        } else {
            "LIST \"\" \"*\""
        }
    }

    /// All mailboxes (`LIST "" "*"`, with `RETURN (SPECIAL-USE CHILDREN)` when the server has both
    /// SPECIAL-USE and LIST-EXTENDED, RFC 6154 §5.1, RFC 5258 §4). `LIST (SPECIAL-USE)` as a
    /// selection option would return only the special-use mailboxes. Names are decoded from
    /// modified UTF-7.
    pub async fn list_folders(&mut self) -> Result<Vec<Folder>> {
        let span = self.span.clone();
        async move {
            let special = self.capabilities().has("SPECIAL-USE");
            let line = self.list_line();
            let mut folders = Vec::new();
            self.run(line, "LIST", |m, frame| {
                if let Some(f) = list_entry(m, frame, special)? {
                    folders.push(f);
                }
                Ok(())
            })
            .await?;
            Ok(folders)
        }
        .instrument(span)
        .await
    }

    /// EXAMINE: read-only open (RFC 3501 §6.3.2). CONDSTORE is enabled when offered.
    pub async fn examine(&mut self, folder: &str) -> Result<MailboxInfo> {
        self.open("EXAMINE", folder).await
    }

    /// SELECT: read-write open (RFC 3501 §6.3.1). CONDSTORE is enabled when offered.
    pub async fn select(&mut self, folder: &str) -> Result<MailboxInfo> {
        self.open("SELECT", folder).await
    }

    /// UNSELECT (RFC 3691): leaves the selected mailbox without expunging anything. Returns
    /// false (and does nothing) when the server does not offer it or nothing is selected.
    /// Appending to a mailbox that is not selected spares the server from bringing the
    /// session's view of it up to date after every command.
    pub async fn unselect(&mut self) -> Result<bool> {
        if self.selected.is_none() || !self.capabilities().has("UNSELECT") {
            return Ok(false);
        }
        let span = self.span.clone();
        async move {
            self.run("UNSELECT", "UNSELECT", |_, _| Ok(())).await?;
            self.selected = None;
            Ok(true)
        }
        .instrument(span)
        .await
    }

    /// Sends EXAMINE `folder` ahead ([`Session::prefetch`]), so that commands for the folder
    /// can be sent right behind it; [`Session::examine`] then reads its answer.
    pub async fn prefetch_examine(&mut self, folder: &str) -> Result<()> {
        let line = self.open_line("EXAMINE", folder)?;
        // What the server has selected is unknown until the answer is read.
        self.selected = None;
        self.prefetch(line).await
    }

    /// Sends SELECT `folder` ahead ([`Session::prefetch`]): behind the last commands for the
    /// folder selected now, so that the next folder opens without a round trip of its own;
    /// [`Session::select`] then reads its answer. Nothing else may be sent for the folder
    /// selected now.
    pub async fn prefetch_select(&mut self, folder: &str) -> Result<()> {
        let line = self.open_line("SELECT", folder)?;
        self.prefetch(line).await
    }

    fn open_line(&self, verb: &str, folder: &str) -> Result<String> {
        let mut line = format!("{verb} {}", mailbox_arg(folder)?);
        if self.capabilities().has("CONDSTORE") {
            line.push_str(" (CONDSTORE)");
        }
        Ok(line)
    }

    async fn open(&mut self, verb: &str, folder: &str) -> Result<MailboxInfo> {
        let span = tracing::info_span!(parent: &self.span, "mailbox", folder = %folder);
        async move {
            let line = self.open_line(verb, folder)?;
            let what = format!("{verb} {folder}");
            self.selected = None;
            let mut info = MailboxInfo::default();
            let mut uid_validity = None;
            let mut uid_next = None;
            let mut flags = Vec::new();
            let mut permanent = None;
            let done = self
                .run(&line, &what, |m, _| {
                    match m {
                        Msg::Data(Response::MailboxData(MailboxDatum::Exists(n))) => {
                            info.exists = *n
                        }
                        Msg::Data(Response::MailboxData(MailboxDatum::Flags(f))) => {
                            flags = f.iter().map(|s| s.to_string()).collect()
                        }
                        Msg::Data(Response::Data { outcome, .. }) => match &outcome.code {
                            Some(ResponseCode::UidValidity(v)) => uid_validity = Some(*v),
                            Some(ResponseCode::UidNext(v)) => uid_next = Some(*v),
                            Some(ResponseCode::HighestModSeq(v)) => info.highest_modseq = Some(*v),
                            Some(ResponseCode::PermanentFlags(f)) => {
                                permanent = Some(f.iter().map(|s| s.to_string()).collect())
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                    Ok(())
                })
                .await?;
            info.read_only = done
                .code
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("READ-ONLY"))
                || verb == "EXAMINE";
            info.uid_validity = uid_validity.ok_or_else(|| {
                Error::Protocol(format!("server sent no UIDVALIDITY for {folder}"))
            })?;
            // RFC 3501 §6.3.1: without PERMANENTFLAGS, all FLAGS can be changed permanently.
            let permanent: Vec<String> = permanent.unwrap_or_else(|| {
                let mut f = flags.clone();
                f.push("\\*".into());
                f
            });
            info.allows_keywords = permanent.iter().any(|f| f == "\\*");
            info.permanent_flags = permanent;
            info.uid_next = match uid_next {
                Some(n) => n,
                None => self.highest_uid(info.exists).await? + 1,
            };
            self.selected = Some(folder.to_string());
            Ok(info)
        }
        .instrument(span)
        .await
    }

    async fn highest_uid(&mut self, exists: u32) -> Result<u32> {
        if exists == 0 {
            return Ok(0);
        }
        let mut max = 0;
        self.run("FETCH * (UID)", "FETCH * (UID)", |m, _| {
            if let Msg::Data(Response::Fetch(_, attrs)) = m {
                for a in attrs {
                    if let imap_proto::AttributeValue::Uid(u) = a {
                        max = max.max(*u);
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(max)
    }

    /// CREATE (RFC 3501 §6.3.3) then SUBSCRIBE. An existing mailbox (`[ALREADYEXISTS]`,
    /// RFC 5530) is success; a failing SUBSCRIBE is only logged.
    pub async fn create_folder(&mut self, folder: &str) -> Result<()> {
        self.create_special_folder(folder, None).await
    }

    /// Like [`create_folder`](Session::create_folder), giving the new mailbox the special-use
    /// attribute `special` (`CREATE name (USE (\Sent))`, RFC 6154 §3) when the server
    /// advertises CREATE-SPECIAL-USE; without it, or when the server will not set that
    /// attribute (`[USEATTR]`), a plain CREATE.
    pub async fn create_special_folder(
        &mut self,
        folder: &str,
        special: Option<SpecialUse>,
    ) -> Result<()> {
        let mut results = self.create_folders(&[(folder.to_owned(), special)]).await?;
        results.pop().unwrap_or(Ok(()))
    }

    /// [`Self::create_special_folder`] for many folders at once, pipelined: every CREATE with
    /// its SUBSCRIBE in one round trip; then, only where needed, the plain CREATEs of those
    /// whose attribute the server would not set, and one more round for their subscriptions
    /// and to unsubscribe the names the server refused to create. One round trip however many
    /// folders there are, instead of two per folder. Parents go before their children in `folders`, and the server runs
    /// pipelined commands in order. One result per folder (its refusal, in the server's words);
    /// the outer error is the connection's.
    pub async fn create_folders(
        &mut self,
        folders: &[(String, Option<SpecialUse>)],
    ) -> Result<Vec<Result<()>>> {
        let span = self.span.clone();
        async move {
            let can_use = self.capabilities().has("CREATE-SPECIAL-USE");
            let mut results: Vec<Result<()>> = Vec::with_capacity(folders.len());
            let mut args = Vec::with_capacity(folders.len());
            for (folder, _) in folders {
                match mailbox_arg(folder) {
                    Ok(a) => {
                        args.push(Some(a));
                        results.push(Ok(()));
                    }
                    Err(e) => {
                        args.push(None);
                        results.push(Err(e));
                    }
                }
            }
            let named: Vec<usize> = (0..folders.len()).filter(|&i| args[i].is_some()).collect();
            let arg = |i: usize| args[i].as_deref().unwrap_or_default();
            let special = |i: usize| folders[i].1.filter(|_| can_use);
            // Round 1: CREATE, with the attribute where the server takes one, each followed by
            // its SUBSCRIBE (a refused subscription is only a warning): one round trip.
            let mut lines = Vec::with_capacity(named.len() * 2);
            let mut what = Vec::with_capacity(named.len() * 2);
            for &i in &named {
                lines.push(match special(i) {
                    Some(u) => format!("CREATE {} (USE ({}))", arg(i), u.as_attribute()),
                    None => format!("CREATE {}", arg(i)),
                });
                what.push(format!("CREATE {}", folders[i].0));
                lines.push(format!("SUBSCRIBE {}", arg(i)));
                what.push(format!("SUBSCRIBE {}", folders[i].0));
            }
            let mut answers = self.run_pipelined(&lines, &what).await?.into_iter();
            let mut plain = Vec::new();
            // Folders whose SUBSCRIBE failed (subscribed again once created without the
            // attribute), and folders subscribed although their CREATE was refused.
            let mut unsubscribed = HashSet::new();
            let mut undo = Vec::new();
            for &i in &named {
                let (Some(created), Some(subscribed)) = (answers.next(), answers.next()) else {
                    break;
                };
                let subscribed = match subscribed {
                    Err(e) if !e.is_refusal() => {
                        results[i] = Err(e);
                        continue;
                    }
                    Err(e) => {
                        unsubscribed.insert(i);
                        Err(e)
                    }
                    Ok(t) => Ok(t),
                };
                match created {
                    Ok(_) => {}
                    Err(Error::No { code, text, .. })
                        if special(i).is_some()
                            && code
                                .as_deref()
                                .is_some_and(|c| c.eq_ignore_ascii_case("USEATTR")) =>
                    {
                        tracing::info!(
                            folder = %folders[i].0,
                            attribute = special(i).map(SpecialUse::as_attribute).unwrap_or_default(),
                            reason = %text,
                            "the target will not set this special-use attribute; creating the folder without it"
                        );
                        plain.push(i);
                        continue;
                    }
                    Err(e) if already_exists(&e) => {
                        tracing::debug!(folder = %folders[i].0, "mailbox already exists");
                    }
                    Err(e) => {
                        results[i] = Err(e);
                        if !unsubscribed.contains(&i) {
                            undo.push(i);
                        }
                        continue;
                    }
                }
                if let Err(e) = subscribed {
                    tracing::warn!(folder = %folders[i].0, error = %e, "cannot subscribe mailbox");
                }
            }
            // Round 2, only where needed: a plain CREATE where the attribute was refused.
            let lines: Vec<String> = plain.iter().map(|&i| format!("CREATE {}", arg(i))).collect();
            let what: Vec<String> = plain
                .iter()
                .map(|&i| format!("CREATE {}", folders[i].0))
                .collect();
            let mut resubscribe = Vec::new();
            for (&i, r) in plain.iter().zip(self.run_pipelined(&lines, &what).await?) {
                match r {
                    Ok(_) => {}
                    Err(e) if already_exists(&e) => {
                        tracing::debug!(folder = %folders[i].0, "mailbox already exists");
                    }
                    Err(e) => {
                        results[i] = Err(e);
                        if !unsubscribed.contains(&i) {
                            undo.push(i);
                        }
                        continue;
                    }
                }
                if unsubscribed.contains(&i) {
                    resubscribe.push(i);
                }
            }
            // Round 3, only where needed: SUBSCRIBE what exists only now, UNSUBSCRIBE what
            // the target refused to create (a server that lets one subscribe a name that
            // does not exist, as Dovecot does, would keep it).
            let mut lines: Vec<String> = Vec::new();
            let mut what: Vec<String> = Vec::new();
            for &i in &resubscribe {
                lines.push(format!("SUBSCRIBE {}", arg(i)));
                what.push(format!("SUBSCRIBE {}", folders[i].0));
            }
            for &i in &undo {
                lines.push(format!("UNSUBSCRIBE {}", arg(i)));
                what.push(format!("UNSUBSCRIBE {}", folders[i].0));
            }
            let order = resubscribe.iter().chain(&undo);
            for (&i, r) in order.zip(self.run_pipelined(&lines, &what).await?) {
                match r {
                    Ok(_) => {}
                    Err(e) if e.is_refusal() => {
                        tracing::warn!(folder = %folders[i].0, error = %e, "cannot change the subscription of mailbox");
                    }
                    Err(e) => results[i] = Err(e),
                }
            }
            Ok(results)
        }
        .instrument(span)
        .await
    }
}

/// A refusal that says the folder is there already (`[ALREADYEXISTS]`, RFC 5530; or the
/// words, from servers without the code).
fn already_exists(e: &Error) -> bool {
    matches!(e, Error::No { code, text, .. }
        if code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("ALREADYEXISTS"))
            || (code.is_none() && text.to_ascii_lowercase().contains("already exists")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_flags_respects_keywords_and_recent() {
        let flags: Vec<String> = ["\\Seen", "\\Recent", "$Label1", "Junk", "bad flag"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut target = MailboxInfo {
            permanent_flags: vec!["\\Seen".into(), "Junk".into()],
            ..MailboxInfo::default()
        };
        assert_eq!(
            filter_flags_for_target(&flags, &target),
            vec!["\\Seen", "Junk"]
        );
        target.allows_keywords = true;
        assert_eq!(
            filter_flags_for_target(&flags, &target),
            vec!["\\Seen", "$Label1", "Junk"]
        );
    }

    #[test]
    fn quoted_names_are_unescaped() {
        assert!(name_was_quoted(b"* LIST () \"/\" \"a \\\"b\\\"\"\r\n"));
        assert!(!name_was_quoted(b"* LIST () \"/\" {3}\r\na\"b\r\n"));
        assert!(!name_was_quoted(b"* LIST () \"/\" INBOX\r\n"));
        assert_eq!(unescape_quoted(r#"a \"q\" \\ b"#), r#"a "q" \ b"#);
    }

    #[test]
    fn special_use_guesses() {
        assert_eq!(
            SpecialUse::guess_from_name("Sent Items"),
            Some(SpecialUse::Sent)
        );
        assert_eq!(
            SpecialUse::guess_from_name("Entwürfe"),
            Some(SpecialUse::Drafts)
        );
        assert_eq!(SpecialUse::guess_from_name("Projects"), None);
        assert_eq!(SpecialUse::from_attribute("\\Junk"), Some(SpecialUse::Junk));
    }
}
